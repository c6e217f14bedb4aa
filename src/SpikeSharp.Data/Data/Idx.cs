using System.Buffers.Binary;
using System.IO.Compression;

namespace SpikeSharp.Data;

/// <summary>An unsigned-byte array read from an IDX file: its dimensions and row-major data.</summary>
/// <param name="Shape">Dimensions, outermost first (e.g. [N, 28, 28] for images, [N] for labels).</param>
/// <param name="Data">Row-major element bytes; length equals the product of <paramref name="Shape"/>.</param>
public sealed record IdxArray(int[] Shape, byte[] Data)
{
    /// <summary>Number of elements (product of the dimensions).</summary>
    public long ElementCount => Idx.Product(Shape);
}

/// <summary>
/// Reads and writes IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed.
/// </summary>
/// <remarks>
/// Layout: two zero bytes, an element-type byte (0x08 = uint8), a rank byte, one big-endian int32
/// per dimension, then the row-major elements. Compression is detected from the gzip magic bytes
/// (1f 8b), never from the file name, because mirrors rename files inconsistently.
/// Only uint8 is supported since that is what the image datasets use.
/// </remarks>
public static class Idx
{
    /// <summary>IDX element-type code for unsigned bytes.</summary>
    public const byte UInt8TypeCode = 0x08;

    /// <summary>Reads an IDX file (gzip detected from magic bytes).</summary>
    /// <param name="path">File to read.</param>
    /// <param name="expectedRank">If given, the rank the file must have.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The content is not a well-formed uint8 IDX array.</exception>
    public static IdxArray Read(string path, int? expectedRank = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        using var file = File.OpenRead(path);
        return Read(file, path, expectedRank);
    }

    /// <summary>Reads an IDX array from a stream (gzip detected from magic bytes).</summary>
    /// <param name="stream">Source; read to its end.</param>
    /// <param name="sourceName">Name used in error messages (usually the file path).</param>
    /// <param name="expectedRank">If given, the rank the data must have.</param>
    public static IdxArray Read(Stream stream, string sourceName, int? expectedRank = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        // Peeking at the gzip magic needs a rewind; non-seekable sources are small enough to buffer.
        Stream buffered = stream;
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            buffered = copy;
        }
        Span<byte> magic = stackalloc byte[2];
        int got = ReadUpTo(buffered, magic, sourceName);
        buffered.Seek(-got, SeekOrigin.Current);

        bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (!gzip) return ReadPlain(buffered, sourceName, expectedRank);
        using var inflated = new GZipStream(buffered, CompressionMode.Decompress, leaveOpen: true);
        return ReadPlain(inflated, sourceName + " (gzip)", expectedRank);
    }

    private static IdxArray ReadPlain(Stream s, string source, int? expectedRank)
    {
        Span<byte> head = stackalloc byte[4];
        int got = ReadUpTo(s, head, source);
        if (got < 4)
            throw new InvalidDataException(
                $"IDX file '{source}' is truncated: expected a 4-byte magic number, got {got} bytes.");
        if (head[0] != 0 || head[1] != 0)
            throw new InvalidDataException(
                $"IDX file '{source}' has a bad magic number {head[0]:x2} {head[1]:x2} {head[2]:x2} {head[3]:x2}: " +
                "expected 00 00 <type> <rank>. Is this really an IDX (MNIST-format) file?");
        if (head[2] != UInt8TypeCode)
            throw new InvalidDataException(
                $"IDX file '{source}' has element type 0x{head[2]:x2} ({TypeName(head[2])}); " +
                $"only uint8 (0x{UInt8TypeCode:x2}) is supported.");
        int rank = head[3];
        if (rank == 0)
            throw new InvalidDataException($"IDX file '{source}' declares rank 0; expected at least 1 dimension.");
        if (expectedRank is int want && rank != want)
            throw new InvalidDataException($"IDX file '{source}' has rank {rank}; expected rank {want}.");

        Span<byte> dimBytes = stackalloc byte[4 * rank];
        got = ReadUpTo(s, dimBytes, source);
        if (got < dimBytes.Length)
            throw new InvalidDataException(
                $"IDX file '{source}' is truncated in its header: expected {dimBytes.Length} bytes of dimensions, "
                + $"got {got}.");
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int d = BinaryPrimitives.ReadInt32BigEndian(dimBytes.Slice(4 * i, 4));
            if (d < 0)
                throw new InvalidDataException($"IDX file '{source}' has negative dimension {i}: {d}.");
            shape[i] = d;
        }
        long count = Product(shape);
        if (count > Array.MaxLength)
            throw new InvalidDataException(
                $"IDX file '{source}' declares {count} elements (shape [{string.Join(", ", shape)}]), "
                + "more than one array can hold.");

        var data = new byte[count];
        got = ReadUpTo(s, data, source);
        if (got < count)
            throw new InvalidDataException(
                $"IDX file '{source}' is truncated: shape [{string.Join(", ", shape)}] needs {count} data bytes, "
                + $"got {got}.");
        Span<byte> extra = stackalloc byte[1];
        if (ReadUpTo(s, extra, source) != 0)
            throw new InvalidDataException(
                $"IDX file '{source}' has trailing bytes after the {count} data bytes of shape "
                + $"[{string.Join(", ", shape)}].");
        return new IdxArray(shape, data);
    }

    /// <summary>Writes a uint8 IDX file, gzip-compressed if <paramref name="gzip"/> is true.</summary>
    /// <param name="path">Destination; the directory is created if needed.</param>
    /// <param name="array">Shape and data; data length must equal the shape product.</param>
    /// <param name="gzip">Compress with gzip.</param>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(array);
        if (array.Shape.Length is 0 or > 255)
            throw new ArgumentException($"IDX rank must be 1..255, got {array.Shape.Length}.", nameof(array));
        if (array.Shape.Any(d => d < 0))
            throw new ArgumentException(
                $"IDX dimensions must be non-negative, got [{string.Join(", ", array.Shape)}].", nameof(array));
        if (array.ElementCount != array.Data.Length)
            throw new ArgumentException(
                $"IDX data length {array.Data.Length} does not match shape [{string.Join(", ", array.Shape)}] "
                + $"({array.ElementCount} elements).",
                nameof(array));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);

        using var file = File.Create(path);
        using Stream target = gzip ? new GZipStream(file, CompressionLevel.Optimal) : file;
        var header = new byte[4 + 4 * array.Shape.Length];
        header[2] = UInt8TypeCode;
        header[3] = (byte)array.Shape.Length;
        for (int i = 0; i < array.Shape.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), array.Shape[i]);
        target.Write(header);
        target.Write(array.Data);
    }

    internal static long Product(int[] shape)
    {
        long p = 1;
        foreach (var d in shape) p = checked(p * d);
        return p;
    }

    private static int ReadUpTo(Stream s, Span<byte> buffer, string source)
    {
        try
        {
            return s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            // GZipStream reports corrupt or cut-off compressed data this way; add the file name.
            throw new InvalidDataException($"IDX file '{source}' has corrupt compressed data: {e.Message}", e);
        }
    }

    private static string TypeName(byte code) => code switch
    {
        0x08 => "uint8",
        0x09 => "int8",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown",
    };
}
