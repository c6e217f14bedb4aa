using System.Diagnostics;

namespace SpikeSharp.Bench;

/// <summary>One measured figure of the foundation benchmark.</summary>
public sealed record FoundationResult(string Name, string Device, string Size, double MedianMs, string Unit, double Value, string Reference, double? Ratio);

/// <summary>Warm-up plus median-of-N timing with a synchronisation after each run.</summary>
internal static class FoundationTiming
{
    public static double MedianMs(Action run, Action sync, int reps, int warmup = 2)
    {
        for (int i = 0; i < warmup; i++) run();
        sync();
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            sync();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return reps % 2 == 1 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    }

    public static void Check(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException($"foundation bench: result check failed for {what}; not timing a wrong kernel");
    }

    public static bool Near(double expected, double actual, double rel) =>
        Math.Abs(expected - actual) <= rel * Math.Max(1.0, Math.Abs(expected));
}
