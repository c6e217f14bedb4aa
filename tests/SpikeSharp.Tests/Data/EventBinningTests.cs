using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

/// <summary>Events → frames, against frames computed by hand from the rules in EventBinning's remarks.</summary>
public class EventBinningTests
{
    // A 4×2 sensor with 2 polarities: value index p·8 + y·4 + x.
    private static readonly SensorSize Sensor = new(4, 2, 2);

    // t:        0      10     20     30     40     100
    // (x,y,p): (0,0,0)(1,0,1)(0,0,0)(3,1,0)(2,1,1)(3,0,0)
    // index:    0      9      0      7      14     3
    private static EventStream Events() => new(
        new[] { 0, 1, 0, 3, 2, 3 }, new[] { 0, 0, 0, 1, 1, 0 }, new[] { 0, 1, 0, 0, 1, 0 },
        new long[] { 0, 10, 20, 30, 40, 100 });

    // Frames from {frame: {index: count}}.
    private static float[] Frames(int frames, params (int Frame, int Index, float Count)[] values)
    {
        var f = new float[frames * Sensor.FrameSize];
        foreach (var (frame, index, count) in values) f[frame * Sensor.FrameSize + index] = count;
        return f;
    }

    private static float[] Bin(EventBinning b, int frames)
    {
        var d = new float[frames * Sensor.FrameSize];
        Array.Fill(d, 7f); // stale values must be overwritten
        b.ToFrames(Events(), Sensor, frames, d);
        return d;
    }

    [Fact]
    public void TimeBins_UseTheFlooredWidthAndHalfOpenBins()
    {
        // w = ⌊100 / 3⌋ = 33: [0,33) holds t 0..30, [33,66) t 40, [66,99) nothing; t = 100 falls outside.
        Assert.Equal(new[] { (0, 4), (4, 5), (5, 5) }, EventBinning.TimeBins(3).Slices(Events().T));
        Assert.Equal(Frames(3, (0, 0, 2), (0, 9, 1), (0, 7, 1), (1, 14, 1)), Bin(EventBinning.TimeBins(3), 3));
        // T = 5 pads with empty frames; T = 1 keeps the first.
        Assert.Equal(Frames(5, (0, 0, 2), (0, 9, 1), (0, 7, 1), (1, 14, 1)), Bin(EventBinning.TimeBins(3), 5));
        Assert.Equal(Frames(1, (0, 0, 2), (0, 9, 1), (0, 7, 1)), Bin(EventBinning.TimeBins(3), 1));
        // A stream shorter than N µs: w = 0, all bins empty.
        Assert.All(EventBinning.TimeBins(200).Slices(Events().T), s => Assert.Equal(s.Start, s.End));
    }

    [Fact]
    public void TimeWindow_MakesCompleteWindowsOrAlsoTheIncompleteOne()
    {
        // w = 30: ⌊(100 − 30) / 30⌋ + 1 = 3 windows [0,30) [30,60) [60,90).
        Assert.Equal(new[] { (0, 3), (3, 5), (5, 5) }, EventBinning.TimeWindow(30).Slices(Events().T));
        Assert.Equal(Frames(3, (0, 0, 2), (0, 9, 1), (1, 7, 1), (1, 14, 1)), Bin(EventBinning.TimeWindow(30), 3));
        // Incomplete: ⌈100 / 30⌉ = 4 windows, the last [90,120) holds t = 100.
        var all = EventBinning.TimeWindow(30, includeIncomplete: true);
        Assert.Equal(new[] { (0, 3), (3, 5), (5, 5), (5, 6) }, all.Slices(Events().T));
        Assert.Equal(Frames(4, (0, 0, 2), (0, 9, 1), (1, 7, 1), (1, 14, 1), (3, 3, 1)), Bin(all, 4));
        // A window longer than the stream: no complete window, only empty frames.
        Assert.Empty(EventBinning.TimeWindow(101).Slices(Events().T));
        Assert.Equal(new float[2 * Sensor.FrameSize], Bin(EventBinning.TimeWindow(101), 2));
    }

    [Fact]
    public void EventCount_SlicesConsecutiveEvents()
    {
        // c = 4 of n = 6: ⌊2 / 4⌋ + 1 = 1 slice; incomplete: ⌈2 / 4⌉ + 1 = 2 slices, the second holds 2 events.
        Assert.Equal(new[] { (0, 4) }, EventBinning.EventCount(4).Slices(Events().T));
        Assert.Equal(new[] { (0, 4), (4, 6) }, EventBinning.EventCount(4, true).Slices(Events().T));
        Assert.Equal(Frames(2, (0, 0, 2), (0, 9, 1), (0, 7, 1), (1, 14, 1), (1, 3, 1)),
            Bin(EventBinning.EventCount(4, true), 2));
        // c above n is clipped to n: one slice of everything.
        Assert.Equal(new[] { (0, 6) }, EventBinning.EventCount(50).Slices(Events().T));
        Assert.Equal(new[] { (0, 2), (2, 4), (4, 6) }, EventBinning.EventCount(2).Slices(Events().T));
    }

    [Fact]
    public void AnEmptyStreamGivesEmptyFrames()
    {
        var none = new EventStream(Array.Empty<int>(), Array.Empty<int>(), Array.Empty<int>(), Array.Empty<long>());
        foreach (var b in new[] { EventBinning.TimeBins(3), EventBinning.TimeWindow(5), EventBinning.EventCount(2) })
        {
            var d = Enumerable.Repeat(1f, 3 * Sensor.FrameSize).ToArray();
            b.ToFrames(none, Sensor, 3, d);
            Assert.All(d, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void KeysRoundTripAndBadParametersAreRefused()
    {
        foreach (var b in new[]
                 {
                     EventBinning.TimeBins(16), EventBinning.TimeWindow(1000), EventBinning.TimeWindow(5, true),
                     EventBinning.EventCount(300), EventBinning.EventCount(7, true),
                 })
            Assert.Equal(b, EventBinning.Parse(b.Key));
        Assert.Equal("time-window:1000us", EventBinning.TimeWindow(1000).Key);
        Assert.Equal("event-count:7+incomplete", EventBinning.EventCount(7, true).Key);
        Assert.Contains("got 'time-bins:0'", Assert.Throws<FormatException>(() => EventBinning.Parse("time-bins:0")).Message);
        Assert.Contains("must be positive, got 0", Assert.Throws<ArgumentOutOfRangeException>(() => EventBinning.TimeBins(0)).Message);
        Assert.Contains("got -5", Assert.Throws<ArgumentOutOfRangeException>(() => EventBinning.TimeWindow(-5)).Message);
        var e = Assert.Throws<ArgumentException>(() => EventBinning.TimeBins(2).ToFrames(Events(), Sensor, 2, new float[5]));
        Assert.Contains("holds 5 values, expected 2 frames × 16", e.Message);
    }

    [Fact]
    public void CheckNamesTheFirstEventOutOfOrderOrOutsideTheSensor()
    {
        var late = new EventStream(new[] { 0, 1, 2 }, new[] { 0, 0, 0 }, new[] { 0, 0, 0 }, new long[] { 5, 9, 7 });
        var e = Assert.Throws<InvalidDataException>(() => late.Check(Sensor, "s"));
        Assert.Contains("s: timestamps out of order: event #2 at 7 µs comes after event #1 at 9 µs", e.Message);
        var outside = new EventStream(new[] { 0, 4 }, new[] { 0, 0 }, new[] { 0, 0 }, new long[] { 1, 2 });
        e = Assert.Throws<InvalidDataException>(() => outside.Check(Sensor, "s"));
        Assert.Contains("event #1 at x=4, y=0, polarity 0 lies outside the 4x2 sensor with 2 polarities", e.Message);
        var pol = new EventStream(new[] { 0 }, new[] { 0 }, new[] { 2 }, new long[] { 1 });
        Assert.Contains("polarity 2", Assert.Throws<InvalidDataException>(() => pol.Check(Sensor, "s")).Message);
    }
}
