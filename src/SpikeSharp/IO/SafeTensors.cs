using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SpikeSharp.IO;

/// <summary>
/// Reads and writes the safetensors format (compatible with the Python/Rust <c>safetensors</c> package).
/// </summary>
/// <remarks>
/// Layout: an unsigned 64-bit little-endian header length N; N bytes of UTF-8 JSON
/// <c>{"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}</c>
/// padded with spaces to a multiple of 8; then the tensor bytes, little-endian and row-major, contiguous in
/// data_offsets order, offsets relative to the end of the header. Like the reference writer, tensors are laid
/// out by decreasing element size, then by name, which keeps every tensor aligned to its element size.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The reserved header key that holds string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted on load (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly JsonWriterOptions WriterOptions =
        new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Saves tensors atomically: a failed save leaves any previous file at <paramref name="path"/> intact.
    /// </summary>
    /// <param name="path">Destination file; its directory is created if needed.</param>
    /// <param name="tensors">Tensors with unique names.</param>
    /// <param name="metadata">Optional string metadata stored under "__metadata__".</param>
    /// <exception cref="IOException">Writing failed; the message names the path.</exception>
    public static void Save(
        string path, IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        SaveWithStreamWrapper(path, tensors, metadata, wrap: null);

    internal static void SaveWithStreamWrapper(
        string path, IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata,
        Func<Stream, Stream>? wrap)
    {
        var ordered = Order(tensors);
        AtomicFile.Write(path, stream => Write(wrap is null ? stream : wrap(stream), ordered, metadata));
    }

    /// <summary>Serializes tensors into a byte array (same bytes as <see cref="Save"/> writes).</summary>
    public static byte[] Serialize(
        IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        Write(ms, Order(tensors), metadata);
        return ms.ToArray();
    }

    /// <summary>Loads and validates a safetensors file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is malformed; the message names the file and, where relevant, the tensor.
    /// </exception>
    public static SafeTensorFile Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"safetensors file '{path}' does not exist.", path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path);
    }

    /// <summary>Parses safetensors bytes held in memory.</summary>
    /// <param name="bytes">The complete file content.</param>
    /// <param name="sourceName">Name used in error messages.</param>
    public static SafeTensorFile Deserialize(byte[] bytes, string sourceName = "<memory>")
    {
        using var ms = new MemoryStream(bytes, writable: false);
        return Read(ms, sourceName);
    }

    private static List<SafeTensorEntry> Order(IEnumerable<SafeTensorEntry> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (!seen.Add(t.Name))
                throw new ArgumentException(
                    $"Duplicate tensor name '{t.Name}'; names must be unique.", nameof(tensors));
        }
        return list.OrderByDescending(t => t.DType.SizeOf()).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
    }

    private static void Write(
        Stream stream, List<SafeTensorEntry> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = BuildHeader(ordered, metadata);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        stream.Write(len);
        stream.Write(header);
        foreach (var t in ordered) stream.Write(t.Data);
        stream.Flush();
    }

    private static byte[] BuildHeader(List<SafeTensorEntry> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata)
                {
                    if (k is null || v is null)
                        throw new ArgumentException(
                            "Metadata keys and values must be non-null strings.", nameof(metadata));
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in ordered)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DTypeName);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Data.Length;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    private sealed record HeaderEntry(string Name, SafeTensorDType DType, int[] Shape, long Begin, long End);

    /// <summary>
    /// Reads only the metadata of a safetensors file, after checking that its header is valid and that the file
    /// holds exactly the tensor bytes the header describes (a truncated file fails); tensor data is not read.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed or truncated (the message names it).</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"safetensors file '{path}' does not exist.", path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadHeader(file, path).Metadata;
    }

    private static SafeTensorFile Read(Stream s, string source)
    {
        var (entries, metadata) = ReadHeader(s, source);
        var tensors = new List<SafeTensorEntry>(entries.Count);
        foreach (var e in entries)
        {
            var data = new byte[e.End - e.Begin];
            s.ReadExactly(data);
            tensors.Add(new SafeTensorEntry(e.Name, e.DType, e.Shape, data));
        }
        return new SafeTensorFile(tensors, metadata);
    }

    // Reads and validates the header; leaves the stream at the first data byte, entries sorted by offset.
    private static (List<HeaderEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(Stream s, string source)
    {
        long fileLength = s.Length;
        InvalidDataException Bad(string what) => new($"safetensors file '{source}': {what}");

        if (fileLength < 8)
            throw Bad($"file is {fileLength} bytes, too short for the 8-byte header length.");
        Span<byte> lenBytes = stackalloc byte[8];
        s.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > MaxHeaderBytes)
            throw Bad(
                $"header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit "
                + "(corrupt or not a safetensors file).");
        if ((long)headerLen > fileLength - 8)
            throw Bad(
                $"header length {headerLen} exceeds the {fileLength - 8} bytes after the length field "
                + "(truncated file).");
        var headerBytes = new byte[headerLen];
        s.ReadExactly(headerBytes);

        var (entries, metadata) = ParseHeader(headerBytes, Bad);
        long dataLength = fileLength - 8 - (long)headerLen;
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        long expectedBegin = 0;
        foreach (var e in entries)
        {
            if (e.Begin != expectedBegin)
                throw Bad(
                    $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] leave a gap or overlap; "
                    + $"expected it to begin at {expectedBegin}.");
            long need = SafeTensorEntry.ElementCountOf(e.Shape) * e.DType.SizeOf();
            if (e.End - e.Begin != need)
                throw Bad(
                    $"tensor '{e.Name}': {e.DType} shape [{string.Join(", ", e.Shape)}] needs {need} bytes "
                    + $"but data_offsets [{e.Begin}, {e.End}] span {e.End - e.Begin}.");
            if (e.End > dataLength)
                throw Bad(
                    $"tensor '{e.Name}': data_offsets end {e.End} is past the {dataLength} data bytes in the file "
                    + "(truncated file?).");
            expectedBegin = e.End;
        }
        if (expectedBegin != dataLength)
            throw Bad($"tensors cover {expectedBegin} data bytes but the file holds {dataLength} after the header.");
        return (entries, metadata);
    }

    private static (List<HeaderEntry>, Dictionary<string, string>) ParseHeader(
        byte[] headerBytes, Func<string, InvalidDataException> bad)
    {
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw bad("header is not valid UTF-8.");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw bad($"header is not valid JSON: {e.Message}");
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw bad($"header must be a JSON object, got {doc.RootElement.ValueKind}.");

        var entries = new List<HeaderEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!names.Add(prop.Name))
                throw bad($"header names '{prop.Name}' more than once.");
            if (prop.Name == MetadataKey)
            {
                if (prop.Value.ValueKind == JsonValueKind.Null) continue;
                if (prop.Value.ValueKind != JsonValueKind.Object)
                    throw bad($"'{MetadataKey}' must be an object of strings, got {prop.Value.ValueKind}.");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw bad($"metadata '{m.Name}' must be a string, got {m.Value.ValueKind}.");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                        throw bad($"metadata key '{m.Name}' appears more than once.");
                }
                continue;
            }
            entries.Add(ParseEntry(prop, bad));
        }
        return (entries, metadata);
    }

    private static HeaderEntry ParseEntry(JsonProperty prop, Func<string, InvalidDataException> bad)
    {
        string name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object)
            throw bad($"tensor '{name}': expected an object with dtype, shape and data_offsets, got {v.ValueKind}.");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw bad($"tensor '{name}': missing or non-string \"dtype\".");
        if (!SafeTensorDTypes.TryParse(dt.GetString()!, out var dtype))
            throw bad(
                $"tensor '{name}': unsupported dtype '{dt.GetString()}'; "
                + $"expected one of {string.Join(", ", Enum.GetNames<SafeTensorDType>())}.");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw bad($"tensor '{name}': missing or non-array \"shape\".");
        var shape = new int[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
                throw bad(
                    $"tensor '{name}': shape entry {i} is {d.GetRawText()}; "
                    + "expected a non-negative 32-bit integer.");
            shape[i++] = dim;
        }
        if (!v.TryGetProperty("data_offsets", out var off)
            || off.ValueKind != JsonValueKind.Array
            || off.GetArrayLength() != 2)
            throw bad($"tensor '{name}': \"data_offsets\" must be an array [begin, end].");
        var o = off.EnumerateArray().ToArray();
        if (!o[0].TryGetInt64(out var begin) || !o[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw bad(
                $"tensor '{name}': data_offsets {off.GetRawText()} "
                + "must be non-negative integers with begin <= end.");
        try
        {
            _ = SafeTensorEntry.ElementCountOf(shape) * dtype.SizeOf();
        }
        catch (OverflowException)
        {
            throw bad($"tensor '{name}': shape [{string.Join(", ", shape)}] is too large.");
        }
        return new HeaderEntry(name, dtype, shape, begin, end);
    }
}
