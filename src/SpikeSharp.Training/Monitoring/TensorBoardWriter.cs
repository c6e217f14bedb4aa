using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace SpikeSharp.Monitoring;

/// <summary>
/// Writes a TensorBoard event file (<c>tensorboard --logdir DIR</c> shows it): scalars and histograms under tags such
/// as "loss/train", each at a step. The file is a sequence of TFRecords (a little-endian uint64 length, the masked
/// CRC32C
/// of those 8 bytes, the data, the masked CRC32C of the data) holding Event protocol buffers; the first one carries
/// the file version "brain.Event:2". Every record is flushed when written, so TensorBoard can read the file while
/// training runs and a crash loses no finished record.
/// </summary>
/// <remarks>Not thread-safe: use one writer per thread, or lock around it.</remarks>
public sealed class TensorBoardWriter : IDisposable
{
    /// <summary>The file version of the first event, which TensorBoard checks.</summary>
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream _stream;
    private bool _disposed;

    /// <summary>Creates <paramref name="logDir"/> if needed and a new event file in it, named
    /// <c>events.out.tfevents.&lt;unix seconds&gt;.&lt;host&gt;</c> (with a numeric suffix if that name is taken).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="logDir"/> is empty.</exception>
    /// <exception cref="IOException">The directory or the file cannot be created.</exception>
    public TensorBoardWriter(string logDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        try
        {
            Directory.CreateDirectory(logDir);
            long secs = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            string host = new(Environment.MachineName
                .Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
            string name = $"events.out.tfevents.{secs:D10}.{host}";
            for (int n = 0; ; n++)
            {
                string path = Path.Combine(logDir, n == 0 ? name : $"{name}.{n}");
                try
                {
                    _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
                    break;
                }
                catch (IOException) when (File.Exists(path) && n < 1000) { }
            }
            FilePath = _stream.Name;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"TensorBoard: cannot create an event file in '{logDir}': {e.Message}", e);
        }
        var first = new ProtoWriter();
        first.Double(1, WallTime());
        first.String(3, FileVersion);
        WriteRecord(first.ToArray());
    }

    /// <summary>The full path of the event file.</summary>
    public string FilePath { get; }

    /// <summary>Writes one scalar (TensorBoard's simple_value, a float32) of <paramref name="tag"/> at
    /// <paramref name="step"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="tag"/> is empty.</exception>
    /// <exception cref="ObjectDisposedException">The writer is disposed.</exception>
    public void AddScalar(string tag, double value, long step)
    {
        CheckTag(tag);
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Float(2, (float)value);
        WriteSummary(step, v);
    }

    /// <summary>
    /// Writes a histogram of <paramref name="values"/> (e.g. a layer's weights) with <paramref name="bins"/> buckets of
    /// equal width between their minimum and maximum. Values that are NaN or infinite are left out; when none remains,
    /// nothing is written.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="tag"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bins"/> is below 1.</exception>
    /// <exception cref="ObjectDisposedException">The writer is disposed.</exception>
    public void AddHistogram(string tag, ReadOnlySpan<float> values, long step, int bins = 30)
    {
        CheckTag(tag);
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "TensorBoard: bins must be at least 1");
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, squares = 0;
        long count = 0;
        foreach (float x in values)
        {
            if (!float.IsFinite(x)) continue;
            min = Math.Min(min, x); max = Math.Max(max, x);
            sum += x; squares += (double)x * x;
            count++;
        }
        if (count == 0) return;
        if (max == min) bins = 1;
        var limits = new double[bins];
        var counts = new double[bins];
        double width = (max - min) / bins;
        for (int i = 0; i < bins; i++) limits[i] = i == bins - 1 ? max : min + width * (i + 1);
        foreach (float x in values)
            if (float.IsFinite(x)) counts[width == 0 ? 0 : Math.Min(bins - 1, (int)((x - min) / width))]++;
        var h = new ProtoWriter();
        h.Double(1, min);
        h.Double(2, max);
        h.Double(3, count);
        h.Double(4, sum);
        h.Double(5, squares);
        h.PackedDoubles(6, limits);
        h.PackedDoubles(7, counts);
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Message(5, h);
        WriteSummary(step, v);
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
    }

    private void CheckTag(string tag)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentException.ThrowIfNullOrEmpty(tag);
    }

    private void WriteSummary(long step, ProtoWriter value)
    {
        var summary = new ProtoWriter();
        summary.Message(1, value);
        var e = new ProtoWriter();
        e.Double(1, WallTime());
        if (step != 0) e.Int64(2, step);
        e.Message(5, summary);
        WriteRecord(e.ToArray());
    }

    private static double WallTime() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;

    private void WriteRecord(byte[] data)
    {
        Span<byte> head = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(head, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head[8..], MaskedCrc32C(head[..8]));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, MaskedCrc32C(data));
        _stream.Write(head);
        _stream.Write(data);
        _stream.Write(tail);
        _stream.Flush();
    }

    /// <summary>CRC-32C (Castagnoli, as iSCSI and TFRecord use) of <paramref name="data"/>.</summary>
    internal static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xa282ead8 (so that a CRC of data that
    /// holds CRCs stays well distributed).</summary>
    internal static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }

    /// <summary>The few protocol-buffer encodings an Event needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();

        public byte[] ToArray() => _s.ToArray();

        private void Key(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

        private void Varint(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        public void Double(int field, double v)
        {
            Key(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Float(int field, float v)
        {
            Key(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Int64(int field, long v)
        {
            Key(field, 0);
            Varint(unchecked((ulong)v));
        }

        public void Bytes(int field, ReadOnlySpan<byte> data)
        {
            Key(field, 2);
            Varint((ulong)data.Length);
            _s.Write(data);
        }

        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

        public void Message(int field, ProtoWriter m) => Bytes(field, m.ToArray());

        public void PackedDoubles(int field, double[] values)
        {
            var b = new byte[values.Length * 8];
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(i * 8), values[i]);
            Bytes(field, b);
        }
    }
}
