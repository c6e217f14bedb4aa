using System.Globalization;
using System.Text;

namespace SpikeSharp.Monitoring;

/// <summary>Appends one row per epoch (or step) to a CSV file with a fixed header.</summary>
/// <remarks>
/// Every row is written and flushed on its own, so the file is complete up to the last finished
/// epoch even if training crashes. Numbers use the invariant culture and round-trip formatting.
/// Reopening an existing file with the same header appends to it; a different header is an error
/// rather than a silently mixed file.
/// </remarks>
public sealed class MetricsCsv
{
    private readonly string[] _columns;

    /// <summary>Opens (or creates) a metrics file.</summary>
    /// <param name="path">CSV path; its directory is created if needed.</param>
    /// <param name="columns">Column names, e.g. "epoch", "train_loss", "test_acc".</param>
    /// <param name="overwrite">Start a fresh file even if one exists (default: append).</param>
    /// <exception cref="InvalidOperationException">The existing file has a different header.</exception>
    public MetricsCsv(string path, IReadOnlyList<string> columns, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0)
            throw new ArgumentException("At least one column name is required.", nameof(columns));
        if (columns.Distinct(StringComparer.Ordinal).Count() != columns.Count)
            throw new ArgumentException($"Column names must be unique, got: {string.Join(", ", columns)}.",
                nameof(columns));
        Path = System.IO.Path.GetFullPath(path);
        _columns = columns.ToArray();
        var header = string.Join(",", _columns.Select(Escape));

        var dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        if (!overwrite && File.Exists(Path) && new FileInfo(Path).Length > 0)
        {
            var existing = File.ReadLines(Path).FirstOrDefault() ?? "";
            if (existing != header)
                throw new InvalidOperationException(
                    $"Metrics file '{Path}' has header '{existing}', expected '{header}'. "
                    + "Use another path or overwrite: true.");
            EndWithNewline();
            return;
        }
        File.WriteAllText(Path, header + "\n", new UTF8Encoding(false));
    }

    /// <summary>Full path of the CSV file.</summary>
    public string Path { get; }

    /// <summary>Column names in order.</summary>
    public IReadOnlyList<string> Columns => _columns;

    /// <summary>Appends a row; values are matched to columns by position.</summary>
    /// <param name="values">One value per column: numbers (formatted invariantly), strings, bools or null (empty
    /// cell).</param>
    public void Append(params object?[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != _columns.Length)
            throw new ArgumentException(
                $"Expected {_columns.Length} values ({string.Join(", ", _columns)}), got {values.Length}.",
                nameof(values));
        File.AppendAllText(Path, string.Join(",", values.Select(Format)) + "\n", new UTF8Encoding(false));
    }

    /// <summary>Appends a row given by column name; columns not in <paramref name="row"/> stay empty.</summary>
    /// <exception cref="ArgumentException">A key is not one of the columns.</exception>
    public void Append(IReadOnlyDictionary<string, object?> row)
    {
        ArgumentNullException.ThrowIfNull(row);
        foreach (var key in row.Keys)
            if (Array.IndexOf(_columns, key) < 0)
                throw new ArgumentException(
                    $"Unknown column '{key}'; expected one of {string.Join(", ", _columns)}.", nameof(row));
        Append(_columns.Select(c => row.TryGetValue(c, out var v) ? v : null).ToArray());
    }

    /// <summary>
    /// The data rows (header excluded), one cell array per row. A row with the wrong number of cells, such as a line
    /// cut short by a killed process, is skipped.
    /// </summary>
    public IReadOnlyList<string[]> ReadRows() =>
        File.Exists(Path)
            ? Parse(File.ReadAllText(Path)).Skip(1).Where(r => r.Length == _columns.Length).ToList()
            : new();

    /// <summary>
    /// Keeps only the rows whose <paramref name="column"/> holds a number no larger than <paramref name="last"/>,
    /// e.g. the epochs up to a checkpoint when a run resumes from it, so that epochs run again after the checkpoint
    /// are not listed twice. Malformed rows go too. The file is replaced atomically.
    /// </summary>
    /// <returns>The number of rows removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="column"/> is not one of the columns.</exception>
    public int TruncateAfter(string column, double last)
    {
        int c = Array.IndexOf(_columns, column);
        if (c < 0)
            throw new ArgumentException(
                $"Unknown column '{column}'; expected one of {string.Join(", ", _columns)}.", nameof(column));
        var all = File.Exists(Path) ? Parse(File.ReadAllText(Path)).Skip(1).ToList() : new List<string[]>();
        var keep = all.Where(r => r.Length == _columns.Length
            && double.TryParse(r[c], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            && v <= last).ToList();
        var text = new StringBuilder(string.Join(",", _columns.Select(Escape))).Append('\n');
        foreach (var r in keep) text.Append(string.Join(",", r.Select(Escape))).Append('\n');
        IO.AtomicFile.WriteAllText(Path, text.ToString());
        return all.Count - keep.Count;
    }

    // A killed process can leave a last line without its newline; the next row must not be glued to it.
    private void EndWithNewline()
    {
        using var f = new FileStream(Path, FileMode.Open, FileAccess.ReadWrite);
        f.Seek(-1, SeekOrigin.End);
        if (f.ReadByte() != '\n') f.WriteByte((byte)'\n');
    }

    // RFC 4180 records: quoted cells may hold commas, quotes (doubled) and newlines.
    private static IEnumerable<string[]> Parse(string text)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false, any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char ch = text[i];
            if (quoted)
            {
                if (ch != '"') cell.Append(ch);
                else if (i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                else quoted = false;
                continue;
            }
            switch (ch)
            {
                case '"': quoted = true; any = true; break;
                case ',': cells.Add(cell.ToString()); cell.Clear(); any = true; break;
                case '\r': break;
                case '\n':
                    cells.Add(cell.ToString()); cell.Clear();
                    yield return cells.ToArray();
                    cells.Clear(); any = false;
                    break;
                default: cell.Append(ch); any = true; break;
            }
        }
        if (any) { cells.Add(cell.ToString()); yield return cells.ToArray(); }
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => Escape(f.ToString(null, CultureInfo.InvariantCulture)),
        _ => Escape(value.ToString() ?? ""),
    };

    private static string Escape(string s) =>
        s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
