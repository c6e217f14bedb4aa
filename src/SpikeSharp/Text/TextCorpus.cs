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

    private TextCorpus(string text, string source, CharVocabulary vocab, double trainFraction)
    {
        Text = text;
        Source = source;
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
    /// <summary>The vocabulary of the whole text.</summary>
    public CharVocabulary Vocabulary { get; }
    /// <summary>Token ids of the training part.</summary>
    public int[] Train { get; }
    /// <summary>Token ids of the validation part.</summary>
    public int[] Validation { get; }

    /// <summary>Splits <paramref name="text"/>: the first <paramref name="trainFraction"/> trains, the rest validates.</summary>
    /// <exception cref="ArgumentException">Empty text or a fraction outside (0, 1).</exception>
    public static TextCorpus FromText(string text, string source = "(text)", double trainFraction = 0.9, CharVocabulary? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new ArgumentException($"text: {source} is empty; expected some text to train on", nameof(text));
        if (!(trainFraction > 0 && trainFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(trainFraction), $"trainFraction must be in (0, 1), got {trainFraction}");
        return new TextCorpus(text, source, vocabulary ?? CharVocabulary.FromText(text), trainFraction);
    }

    /// <summary>Reads a UTF-8 text file (line endings normalised to \n).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">The file is empty.</exception>
    public static TextCorpus FromFile(string path, double trainFraction = 0.9)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"text: file '{path}' does not exist", path);
        var text = File.ReadAllText(path, Encoding.UTF8).Replace("\r\n", "\n");
        if (text.Length == 0) throw new ArgumentException($"text: file '{path}' is empty; expected some text to train on", nameof(path));
        return FromText(text, path, trainFraction);
    }

    /// <summary>
    /// The English text of the Debian <c>fortunes</c> files (every plain file of <paramref name="directory"/>,
    /// not the .dat indexes nor the .u8 duplicates nor links), in name order, with the '%' separators removed.
    /// </summary>
    /// <exception cref="FileNotFoundException">No fortunes files: says to pass a text file or install the package.</exception>
    public static TextCorpus FromFortunes(string directory = FortunesDirectory, double trainFraction = 0.9)
    {
        var files = Directory.Exists(directory)
            ? Directory.GetFiles(directory)
                .Where(f => Path.GetExtension(f) is "" && !new FileInfo(f).Attributes.HasFlag(FileAttributes.ReparsePoint))
                .OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : Array.Empty<string>();
        if (files.Length == 0)
            throw new FileNotFoundException(
                $"no training text: pass --text FILE, or install the Debian package 'fortunes' (apt-get install fortunes) so that {directory} holds its text files");
        var sb = new StringBuilder();
        foreach (var f in files)
            foreach (var line in File.ReadLines(f, Encoding.UTF8))
                if (line != "%") sb.Append(line).Append('\n');
        return FromText(sb.ToString(), directory, trainFraction);
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
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), $"seq-len must be positive, got {seqLen}");
        if (ids.Length < seqLen + 1)
            throw new ArgumentException($"seq-len {seqLen} is larger than the {what} allows: it has {ids.Length} characters and needs at least seq-len + 1 = {seqLen + 1}", nameof(seqLen));
    }
}
