using System.Buffers.Binary;
using System.Text;

namespace SpikeSharp.Tests.Monitoring;

/// <summary>
/// An independent reader of TensorBoard event files for the tests: TFRecord framing checked with a bitwise CRC-32C
/// (no table, no CPU instruction: the definition), and the Event, Summary, Value and HistogramProto messages decoded by
/// field number as tensorboard/compat/proto/{event,summary,histogram}.proto define them.
/// </summary>
internal static class EventFileReader
{
    /// <summary>One decoded event.</summary>
    internal sealed record Event(double WallTime, long Step, string? FileVersion, List<Value> Values);

    /// <summary>A summary value: a scalar or a histogram.</summary>
    internal sealed record Value(string Tag, float? Scalar, Histogram? Histogram);

    internal sealed record Histogram(double Min, double Max, double Num, double Sum, double SumSquares,
        double[] BucketLimits, double[] Buckets);

    /// <summary>CRC-32C by its definition: reflected polynomial 0x82F63B78, bit by bit.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    public static uint Masked(ReadOnlySpan<byte> data)
    {
        uint c = Crc32C(data);
        return unchecked(((c >> 15) | (c << 17)) + 0xa282ead8u);
    }

    /// <summary>Reads every record of <paramref name="path"/>, asserting both CRCs of each.</summary>
    public static List<Event> Read(string path)
    {
        byte[] bytes;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            bytes = new byte[f.Length];
            f.ReadExactly(bytes);
        }
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 16, $"{path}: a truncated record at byte {at}");
            var head = bytes.AsSpan(at, 8);
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(head);
            Assert.Equal(Masked(head), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8, 4)));
            var data = bytes.AsSpan(at + 12, checked((int)length));
            Assert.Equal(Masked(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length, 4)));
            events.Add(DecodeEvent(data));
            at += 16 + (int)length;
        }
        return events;
    }

    /// <summary>Every scalar of <paramref name="events"/> as (tag, step, value).</summary>
    public static List<(string Tag, long Step, float Value)> Scalars(IEnumerable<Event> events) =>
        events.SelectMany(e => e.Values.Where(v => v.Scalar != null).Select(v => (v.Tag, e.Step, v.Scalar!.Value)))
            .ToList();

    private static Event DecodeEvent(ReadOnlySpan<byte> data)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new List<Value>();
        foreach (var f in Fields(data.ToArray()))
            switch (f.Number)
            {
                case 1: wall = BitConverter.Int64BitsToDouble((long)f.Fixed); break;
                case 2: step = (long)f.Varint; break;
                case 3: version = Encoding.UTF8.GetString(f.Bytes!); break;
                case 5:
                    foreach (var v in Fields(f.Bytes!).Where(v => v.Number == 1)) values.Add(DecodeValue(v.Bytes!));
                    break;
            }
        return new Event(wall, step, version, values);
    }

    private static Value DecodeValue(byte[] data)
    {
        string tag = "";
        float? scalar = null;
        Histogram? histo = null;
        foreach (var f in Fields(data))
            switch (f.Number)
            {
                case 1: tag = Encoding.UTF8.GetString(f.Bytes!); break;
                case 2: scalar = BitConverter.Int32BitsToSingle((int)f.Fixed); break;
                case 5: histo = DecodeHistogram(f.Bytes!); break;
            }
        return new Value(tag, scalar, histo);
    }

    private static Histogram DecodeHistogram(byte[] data)
    {
        var d = new double[6];
        double[] limits = Array.Empty<double>(), buckets = Array.Empty<double>();
        foreach (var f in Fields(data))
        {
            if (f.Number is >= 1 and <= 5) d[f.Number] = BitConverter.Int64BitsToDouble((long)f.Fixed);
            else if (f.Number == 6) limits = Doubles(f.Bytes!);
            else if (f.Number == 7) buckets = Doubles(f.Bytes!);
        }
        return new Histogram(d[1], d[2], d[3], d[4], d[5], limits, buckets);
    }

    private static double[] Doubles(byte[] b) => Enumerable.Range(0, b.Length / 8)
        .Select(i => BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(i * 8))).ToArray();

    private sealed record Field(int Number, ulong Varint, ulong Fixed, byte[]? Bytes);

    private static List<Field> Fields(byte[] data)
    {
        var result = new List<Field>();
        int at = 0;
        ulong ReadVarint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = data[at++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
        }
        while (at < data.Length)
        {
            ulong key = ReadVarint();
            int number = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: result.Add(new Field(number, ReadVarint(), 0, null)); break;
                case 1:
                    result.Add(new Field(number, 0, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at)), null));
                    at += 8;
                    break;
                case 2:
                    int n = (int)ReadVarint();
                    result.Add(new Field(number, 0, 0, data[at..(at + n)]));
                    at += n;
                    break;
                case 5:
                    result.Add(new Field(number, 0, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at)), null));
                    at += 4;
                    break;
                default: throw new InvalidDataException($"wire type {wire} of field {number}");
            }
        }
        return result;
    }
}
