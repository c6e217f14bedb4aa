using System.Text;

namespace SpikeSharp.Text;

/// <summary>
/// A character-level corpus: the text, its vocabulary, and a contiguous train/validation split of the
/// token ids (the first part trains, the tail validates, so no window straddles both).
/// </summary>
public sealed class TextCorpus
{
    /// <summary>Where the Debian <c>fortunes</c> package installs its text files.</summary>
    public const string FortunesDirectory = "/usr/share/games/fortunes";

    private TextCorpus(string text, string source, CharVocabulary vocab, double trainFraction, string encodingName)
    {
        Text = text;
        Source = source;
        EncodingName = encodingName;
        Vocabulary = vocab;
        var ids = vocab.Encode(text);
        int split = (int)Math.Round(ids.Length * trainFraction);
        Train = ids[..split];
        Validation = ids[split..];
    }

    /// <summary>The whole text.</summary>
    public string Text { get; }
    /// <summary>Where the text came from (a path).</summary>
    public string Source { get; }
    /// <summary>How the text was read: "ASCII", "UTF-8", "UTF-8 with byte-order mark", or "string" (given as text).
    /// </summary>
    public string EncodingName { get; }
    /// <summary>The vocabulary of the whole text.</summary>
    public CharVocabulary Vocabulary { get; }
    /// <summary>Token ids of the training part.</summary>
    public int[] Train { get; }
    /// <summary>Token ids of the validation part.</summary>
    public int[] Validation { get; }

    /// <summary>Splits <paramref name="text"/>: the first <paramref name="trainFraction"/> trains, the rest
    /// validates.</summary>
    /// <exception cref="ArgumentException">Empty text or a fraction outside (0, 1).</exception>
    public static TextCorpus FromText(string text, string source = "(text)", double trainFraction = 0.9,
        CharVocabulary? vocabulary = null)
        => Create(text, source, trainFraction, vocabulary, "string");

    private static TextCorpus Create(string text, string source, double trainFraction, CharVocabulary? vocabulary,
        string encodingName)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
            throw new ArgumentException($"text: {source} is empty; expected some text to train on", nameof(text));
        if (!(trainFraction > 0 && trainFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(trainFraction),
                $"trainFraction must be in (0, 1), got {trainFraction}");
        return new TextCorpus(text, source, vocabulary ?? CharVocabulary.FromText(text), trainFraction, encodingName);
    }

    /// <summary>
    /// Reads a UTF-8 text file (line endings normalised to \n). Binary files and other encodings are refused
    /// rather than decoded with replacement characters, which would enter the vocabulary as U+FFFD.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">The file is empty.</exception>
    /// <exception cref="InvalidDataException">
    /// The file holds a NUL byte or is not valid UTF-8 (Latin-1, UTF-16…): the message names the file and the byte
    /// offset.
    /// </exception>
    public static TextCorpus FromFile(string path, double trainFraction = 0.9)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"text: file '{path}' does not exist", path);
        var (decoded, encodingName) = DecodeUtf8(File.ReadAllBytes(path), path);
        var text = decoded.Replace("\r\n", "\n");
        if (text.Length == 0)
            throw new ArgumentException($"text: file '{path}' is empty; expected some text to train on", nameof(path));
        return Create(text, path, trainFraction, null, encodingName);
    }

    /// <summary>
    /// Decodes strict UTF-8 (an optional byte-order mark is skipped); <paramref name="source"/> names the data in
    /// messages. Returns the text and "ASCII", "UTF-8" or "UTF-8 with byte-order mark".
    /// </summary>
    /// <exception cref="InvalidDataException">A NUL byte, a UTF-16/32 byte-order mark, an invalid UTF-8 sequence.
    /// </exception>
    public static (string Text, string EncodingName) DecodeUtf8(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.StartsWith(new byte[] { 0xFF, 0xFE }) || bytes.StartsWith(new byte[] { 0xFE, 0xFF })
            || bytes.StartsWith(new byte[] { 0, 0, 0xFE, 0xFF }))
        {
            bool utf32 = bytes.StartsWith(new byte[] { 0xFF, 0xFE, 0, 0 })
                || bytes.StartsWith(new byte[] { 0, 0, 0xFE, 0xFF });
            string kind = utf32 ? "UTF-32" : "UTF-16";
            throw new InvalidDataException(
                $"text: '{source}' is {kind} (byte-order mark {bytes[0]:X2} {bytes[1]:X2} at offset 0); " +
                $"expected UTF-8 text: convert it, e.g. iconv -f {kind} -t UTF-8");
        }
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0)
            throw new InvalidDataException(
                $"text: '{source}' is not text: NUL byte at offset {nul} (a binary file?); expected UTF-8 text");
        bool bom = bytes.StartsWith(new byte[] { 0xEF, 0xBB, 0xBF });
        var body = bom ? bytes[3..] : bytes;
        var chars = new char[body.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(body, chars, out int read, out int written,
            replaceInvalidSequences: false);
        if (status != System.Buffers.OperationStatus.Done)
        {
            int at = read + (bom ? 3 : 0);
            var shown = bytes[at..Math.Min(bytes.Length, at + 4)].ToArray();
            string got = string.Join(" ", shown.Select(b => b.ToString("X2")));
            throw new InvalidDataException(
                $"text: '{source}' is not valid UTF-8: bytes {got} at offset {at} " +
                "(Latin-1 or another 8-bit encoding?); expected UTF-8 text: convert it, e.g. iconv -f LATIN1 -t UTF-8");
        }
        string name = bom ? "UTF-8 with byte-order mark" : System.Text.Ascii.IsValid(body) ? "ASCII" : "UTF-8";
        return (new string(chars, 0, written), name);
    }

    /// <summary>
    /// The English text of the Debian <c>fortunes</c> files (every plain file of <paramref name="directory"/>,
    /// not the .dat indexes nor the .u8 duplicates nor links), in name order, with the '%' separators removed.
    /// </summary>
    /// <exception cref="FileNotFoundException">No fortunes files: says to pass a text file or install the
    /// package.</exception>
    public static TextCorpus FromFortunes(string directory = FortunesDirectory, double trainFraction = 0.9)
    {
        var files = Directory.Exists(directory)
            ? Directory.GetFiles(directory)
                .Where(f => Path.GetExtension(f) is ""
                    && !new FileInfo(f).Attributes.HasFlag(FileAttributes.ReparsePoint))
                .OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : Array.Empty<string>();
        if (files.Length == 0)
            throw new FileNotFoundException(
                "no training text: pass --text FILE, or install the Debian package 'fortunes' "
                + $"(apt-get install fortunes) so that {directory} holds its text files");
        var sb = new StringBuilder();
        var lenient = new List<string>();
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(f);
            string text;
            // The default corpus must not fail on one odd file: decode it leniently, and say so.
            try { text = DecodeUtf8(bytes, f).Text; }
            catch (InvalidDataException)
            {
                text = Encoding.UTF8.GetString(bytes).Replace("\0", "");
                lenient.Add(Path.GetFileName(f));
            }
            using var reader = new StringReader(text); // splits lines as File.ReadLines does
            for (var line = reader.ReadLine(); line != null; line = reader.ReadLine())
                if (line != "%") sb.Append(line).Append('\n');
        }
        string encoding = lenient.Count == 0 ? "UTF-8"
            : $"UTF-8; invalid bytes replaced by U+FFFD in {string.Join(", ", lenient)}";
        return Create(sb.ToString(), directory, trainFraction, null, encoding);
    }

    /// <summary>
    /// A batch of <paramref name="batch"/> random windows of <paramref name="seqLen"/> + 1 ids from
    /// <paramref name="ids"/>, time-major: inputs (T, B) and targets (T, B) shifted by one step.
    /// </summary>
    /// <exception cref="ArgumentException">The data is shorter than seqLen + 1.</exception>
    public static (int[] Inputs, int[] Targets) SampleBatch(int[] ids, int seqLen, int batch, Random rng)
    {
        CheckWindow(ids, seqLen, "data");
        var inputs = new int[seqLen * batch];
        var targets = new int[seqLen * batch];
        for (int b = 0; b < batch; b++)
        {
            int start = rng.Next(ids.Length - seqLen);
            for (int t = 0; t < seqLen; t++)
            {
                inputs[t * batch + b] = ids[start + t];
                targets[t * batch + b] = ids[start + t + 1];
            }
        }
        return (inputs, targets);
    }

    /// <summary>Fails clearly when <paramref name="ids"/> cannot hold one window of seqLen + 1 ids.</summary>
    public static void CheckWindow(int[] ids, int seqLen, string what)
    {
        if (seqLen <= 0)
            throw new ArgumentOutOfRangeException(nameof(seqLen), $"seq-len must be positive, got {seqLen}");
        if (ids.Length < seqLen + 1)
            throw new ArgumentException($"seq-len {seqLen} is larger than the {what} allows: it has {ids.Length} "
                + $"characters and needs at least seq-len + 1 = {seqLen + 1}", nameof(seqLen));
    }
}
