namespace SpikeSharp.Data;

/// <summary>
/// The size of an event sensor: <paramref name="Width"/> × <paramref name="Height"/> pixels (or channels) and
/// <paramref name="Polarities"/> event kinds. A frame is laid out (P, H, W): value index p·H·W + y·W + x.
/// </summary>
public readonly record struct SensorSize(int Width, int Height, int Polarities)
{
    /// <summary>Values in one frame (P·H·W).</summary>
    public int FrameSize => checked(Width * Height * Polarities);

    /// <inheritdoc/>
    public override string ToString() => $"{Width}x{Height}x{Polarities}";
}

/// <summary>
/// The events of one sample, one entry per event in every array: pixel (or channel) x, row y, polarity p and the
/// timestamp t in microseconds. Binning requires timestamps in non-decreasing order (see <see cref="Check"/>).
/// </summary>
public sealed class EventStream
{
    /// <summary>Creates a stream over the given arrays (not copied); all must have the same length.</summary>
    public EventStream(int[] x, int[] y, int[] p, long[] t)
    {
        ArgumentNullException.ThrowIfNull(x); ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(p); ArgumentNullException.ThrowIfNull(t);
        if (y.Length != x.Length || p.Length != x.Length || t.Length != x.Length)
            throw new ArgumentException(
                $"events: x, y, p and t must have one entry per event, got {x.Length}, {y.Length}, {p.Length} and " +
                $"{t.Length}", nameof(t));
        X = x; Y = y; P = p; T = t;
    }

    /// <summary>Column (or channel) of each event.</summary>
    public int[] X { get; }
    /// <summary>Row of each event (0 for one-dimensional sensors).</summary>
    public int[] Y { get; }
    /// <summary>Polarity of each event (0 or 1 for a DVS camera, 0 for SHD).</summary>
    public int[] P { get; }
    /// <summary>Timestamp of each event in microseconds.</summary>
    public long[] T { get; }
    /// <summary>Number of events.</summary>
    public int Count => X.Length;

    /// <summary>
    /// Throws an <see cref="InvalidDataException"/> naming <paramref name="source"/> and the first event that lies
    /// outside <paramref name="sensor"/> or whose timestamp is earlier than the one before it.
    /// </summary>
    public void Check(SensorSize sensor, string source)
    {
        for (int i = 0; i < Count; i++)
        {
            if ((uint)X[i] >= (uint)sensor.Width || (uint)Y[i] >= (uint)sensor.Height
                || (uint)P[i] >= (uint)sensor.Polarities)
                throw new InvalidDataException(
                    $"{source}: event #{i} at x={X[i]}, y={Y[i]}, polarity {P[i]} lies outside the " +
                    $"{sensor.Width}x{sensor.Height} sensor with {sensor.Polarities} polarities (expected x < " +
                    $"{sensor.Width}, y < {sensor.Height}, polarity < {sensor.Polarities})");
            if (i > 0 && T[i] < T[i - 1])
                throw new InvalidDataException(
                    $"{source}: timestamps out of order: event #{i} at {T[i]} µs comes after event #{i - 1} at " +
                    $"{T[i - 1]} µs (expected non-decreasing timestamps)");
        }
    }
}
