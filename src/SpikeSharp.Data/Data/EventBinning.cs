using System.Globalization;

namespace SpikeSharp.Data;

/// <summary>How <see cref="EventBinning"/> cuts an event stream into frames.</summary>
public enum BinningMode
{
    /// <summary>A fixed number of equal time bins spanning the stream (Tonic's <c>n_time_bins</c>).</summary>
    TimeBins,
    /// <summary>Consecutive windows of a fixed duration in microseconds (Tonic's <c>time_window</c>).</summary>
    TimeWindow,
    /// <summary>Consecutive slices of a fixed number of events (Tonic's <c>event_count</c>).</summary>
    EventCount,
}

/// <summary>
/// Events → frames, with the slicing rules of Tonic's <c>ToFrame</c> (no overlap): each slice is a half-open
/// interval and a frame counts the events of its slice per polarity and pixel.
/// </summary>
/// <remarks>
/// With t₀ the first and t₁ the last timestamp and n events:
/// <list type="bullet">
/// <item><b>TimeBins(N)</b>: width w = ⌊(t₁ − t₀) / N⌋ µs (integer division, as Tonic); bin k holds the events with
/// t₀ + k·w ≤ t &lt; t₀ + (k + 1)·w, k = 0 … N − 1. Events at or after t₀ + N·w fall outside every bin — always at
/// least the last event — and a stream shorter than N µs (w = 0) gives N empty frames.</item>
/// <item><b>TimeWindow(w)</b>: window k holds t₀ + k·w ≤ t &lt; t₀ + (k + 1)·w. Only complete windows are made,
/// ⌊(t₁ − t₀ − w) / w⌋ + 1 of them (none if the stream is shorter than w); with <see cref="IncludeIncomplete"/>
/// the windows start at every t₀ + k·w &lt; t₁, ⌈(t₁ − t₀) / w⌉ of them. Either way events at t₁ on a window edge
/// fall outside, as in Tonic.</item>
/// <item><b>EventCount(c)</b>: slice k holds events k·c … k·c + c − 1 (c is clipped to n); ⌊(n − c) / c⌋ + 1
/// slices, or ⌈(n − c) / c⌉ + 1 with <see cref="IncludeIncomplete"/> (the last slice then runs past the end and
/// holds fewer events).</item>
/// </list>
/// A training sample needs a fixed number of frames T: <see cref="ToFrames"/> keeps the first T slices and pads
/// with empty frames when there are fewer. A stream without events gives only empty frames.
/// </remarks>
public sealed record EventBinning
{
    private EventBinning(BinningMode mode, long value, bool includeIncomplete)
    {
        Mode = mode; Value = value; IncludeIncomplete = includeIncomplete;
    }

    /// <summary>The slicing rule.</summary>
    public BinningMode Mode { get; }

    /// <summary>The number of bins, the window in microseconds, or the events per slice.</summary>
    public long Value { get; }

    /// <summary>Also make a last, incomplete window or slice (time-window and event-count modes).</summary>
    public bool IncludeIncomplete { get; }

    /// <summary><paramref name="bins"/> equal time bins spanning each stream.</summary>
    public static EventBinning TimeBins(int bins) => bins > 0 ? new(BinningMode.TimeBins, bins, false)
        : throw new ArgumentOutOfRangeException(nameof(bins),
            $"binning: the number of time bins must be positive, got {bins}");

    /// <summary>Windows of <paramref name="microseconds"/> µs.</summary>
    public static EventBinning TimeWindow(long microseconds, bool includeIncomplete = false) => microseconds > 0
        ? new(BinningMode.TimeWindow, microseconds, includeIncomplete)
        : throw new ArgumentOutOfRangeException(nameof(microseconds),
            $"binning: the time window must be a positive number of microseconds, got {microseconds}");

    /// <summary>Slices of <paramref name="events"/> events.</summary>
    public static EventBinning EventCount(int events, bool includeIncomplete = false) => events > 0
        ? new(BinningMode.EventCount, events, includeIncomplete)
        : throw new ArgumentOutOfRangeException(nameof(events),
            $"binning: the events per frame must be positive, got {events}");

    /// <summary>A stable text form, e.g. "time-bins:16", "time-window:1000us", "event-count:500+incomplete"; it keys
    /// the frame cache and is stored in checkpoints.</summary>
    public string Key => Mode switch
    {
        BinningMode.TimeBins => Inv($"time-bins:{Value}"),
        BinningMode.TimeWindow => Inv($"time-window:{Value}us"),
        _ => Inv($"event-count:{Value}"),
    } + (IncludeIncomplete ? "+incomplete" : "");

    /// <inheritdoc/>
    public override string ToString() => Key;

    private const string Forms = "time-bins:N, time-window:Nus or event-count:N (optionally +incomplete)";

    /// <summary>Reads a <see cref="Key"/> back.</summary>
    /// <exception cref="FormatException">Not a binning key.</exception>
    public static EventBinning Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        bool incomplete = key.EndsWith("+incomplete", StringComparison.Ordinal);
        string k = incomplete ? key[..^"+incomplete".Length] : key;
        int colon = k.IndexOf(':');
        string mode = colon < 0 ? k : k[..colon], value = colon < 0 ? "" : k[(colon + 1)..];
        if (mode == "time-window" && value.EndsWith("us", StringComparison.Ordinal)) value = value[..^2];
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v <= 0
            || (mode == "time-bins" && incomplete))
            throw new FormatException(
                $"binning: expected {Forms}, got '{key}'");
        return mode switch
        {
            "time-bins" when v <= int.MaxValue => TimeBins((int)v),
            "time-window" => TimeWindow(v, incomplete),
            "event-count" when v <= int.MaxValue => EventCount((int)v, incomplete),
            _ => throw new FormatException(
                $"binning: expected {Forms}, got '{key}'"),
        };
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The slices of a stream with timestamps <paramref name="t"/> (non-decreasing), as half-open index ranges
    /// [Start, End) into the events, by the rules in the remarks of <see cref="EventBinning"/>.
    /// </summary>
    public (int Start, int End)[] Slices(ReadOnlySpan<long> t)
    {
        int n = t.Length;
        if (n == 0) return Mode == BinningMode.TimeBins ? new (int, int)[Value] : Array.Empty<(int, int)>();
        long t0 = t[0], t1 = t[^1];
        switch (Mode)
        {
            case BinningMode.TimeBins:
            {
                long w = (t1 - t0) / Value;
                var s = new (int, int)[Value];
                for (int k = 0; k < Value; k++)
                    s[k] = (LowerBound(t, t0 + k * w), LowerBound(t, t0 + (k + 1) * w));
                return s;
            }
            case BinningMode.TimeWindow:
            {
                long w = Value, span = t1 - t0;
                long count = IncludeIncomplete ? (span + w - 1) / w : span < w ? 0 : (span - w) / w + 1;
                var s = new (int, int)[checked((int)count)];
                for (int k = 0; k < s.Length; k++)
                    s[k] = (LowerBound(t, t0 + k * w), LowerBound(t, t0 + (k + 1) * w));
                return s;
            }
            default:
            {
                int c = (int)Math.Min(Value, n);
                int count = IncludeIncomplete ? (n - c + c - 1) / c + 1 : (n - c) / c + 1;
                var s = new (int, int)[count];
                for (int k = 0; k < count; k++) s[k] = (k * c, Math.Min(n, k * c + c));
                return s;
            }
        }
    }

    /// <summary>
    /// Counts the events of the first <paramref name="frames"/> slices into <paramref name="destination"/>, laid out
    /// (frames, P, H, W) for <paramref name="sensor"/>; frames past the last slice stay zero. The events must lie in
    /// the sensor and be in time order (<see cref="EventStream.Check"/>).
    /// </summary>
    public void ToFrames(EventStream events, SensorSize sensor, int frames, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (frames <= 0)
            throw new ArgumentOutOfRangeException(nameof(frames), $"binning: frames must be positive, got {frames}");
        int size = sensor.FrameSize;
        if (destination.Length != (long)frames * size)
            throw new ArgumentException(
                $"binning: the destination holds {destination.Length} values, expected {frames} frames × {size}",
                nameof(destination));
        destination.Clear();
        var slices = Slices(events.T);
        int hw = sensor.Height * sensor.Width;
        for (int k = 0; k < Math.Min(frames, slices.Length); k++)
        {
            var frame = destination.Slice(k * size, size);
            for (int i = slices[k].Start; i < slices[k].End; i++)
                frame[events.P[i] * hw + events.Y[i] * sensor.Width + events.X[i]] += 1f;
        }
    }

    // numpy's searchsorted(side="left"): the first index whose timestamp is >= value.
    private static int LowerBound(ReadOnlySpan<long> t, long value)
    {
        int lo = 0, hi = t.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (t[mid] < value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
