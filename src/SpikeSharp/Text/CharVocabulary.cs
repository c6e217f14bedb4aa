using System.Text;

namespace SpikeSharp.Text;

/// <summary>
/// A character-level vocabulary: the distinct characters (UTF-16 code units) of a training text, sorted
/// by code, each mapped to its position. Unknown characters are an error, never silently dropped.
/// </summary>
public sealed class CharVocabulary
{
    private readonly Dictionary<char, int> _index;

    /// <summary>Builds the vocabulary from exactly these characters (order kept, duplicates rejected).</summary>
    /// <exception cref="ArgumentException">Empty, or a character appears twice.</exception>
    public CharVocabulary(string characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        if (characters.Length == 0)
            throw new ArgumentException(
                "vocabulary: expected at least one character, got none", nameof(characters));
        _index = new Dictionary<char, int>(characters.Length);
        for (int i = 0; i < characters.Length; i++)
            if (!_index.TryAdd(characters[i], i))
                throw new ArgumentException(
                    $"vocabulary: character {Describe(characters[i])} appears twice", nameof(characters));
        Characters = characters;
    }

    /// <summary>The vocabulary of <paramref name="text"/>: its distinct characters sorted by code.</summary>
    public static CharVocabulary FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new ArgumentException("vocabulary: the text is empty", nameof(text));
        var chars = text.Distinct().OrderBy(c => c).ToArray();
        return new CharVocabulary(new string(chars));
    }

    /// <summary>The characters, in id order.</summary>
    public string Characters { get; }

    /// <summary>Number of token ids.</summary>
    public int Size => Characters.Length;

    /// <summary>True when <paramref name="c"/> has an id.</summary>
    public bool Contains(char c) => _index.ContainsKey(c);

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    /// <exception cref="ArgumentException">
    /// The text has characters outside the vocabulary (all of them are named).
    /// </exception>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new int[text.Length];
        List<char>? unknown = null;
        for (int i = 0; i < text.Length; i++)
        {
            if (_index.TryGetValue(text[i], out int id)) ids[i] = id;
            else (unknown ??= new List<char>()).Add(text[i]);
        }
        if (unknown != null)
            throw new ArgumentException(
                $"text: {unknown.Distinct().Count()} character(s) are not in the model's vocabulary of {Size}: "
                + string.Join(", ", unknown.Distinct().Select(Describe)),
                nameof(text));
        return ids;
    }

    /// <summary>The text of token ids.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, Size).</exception>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)Size)
                throw new ArgumentOutOfRangeException(nameof(ids), $"decode: token id {id} is outside [0, {Size})");
            sb.Append(Characters[id]);
        }
        return sb.ToString();
    }

    /// <summary>'a', '\n' or U+00A0 for messages.</summary>
    public static string Describe(char c) => c switch
    {
        '\n' => "'\\n'",
        '\r' => "'\\r'",
        '\t' => "'\\t'",
        _ when char.IsControl(c) || char.IsWhiteSpace(c) && c != ' ' => $"U+{(int)c:X4}",
        _ => $"'{c}'",
    };
}
