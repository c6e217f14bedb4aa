using SpikeSharp.Training;

namespace SpikeSharp.Tests.Cli;

public class ProgressReporterTests
{
    /// <summary>The steps a reporter reports in a loop whose steps each take <paramref name="stepSeconds"/>.</summary>
    private static int[] ReportedSteps(int total, double stepSeconds, Func<Func<TimeSpan>, ProgressReporter> make)
    {
        var now = TimeSpan.Zero;
        var p = make(() => now);
        p.Start(total);
        var reported = new List<int>();
        for (int step = 1; step <= total; step++)
        {
            now += TimeSpan.FromSeconds(stepSeconds);
            if (p.Report(step)) reported.Add(step);
        }
        return reported.ToArray();
    }

    private static ProgressReporter Log(Func<TimeSpan> clock) => new(everyFraction: 0.1,
        minInterval: ProgressReporter.DefaultLogInterval, maxInterval: ProgressReporter.DefaultLogSilence,
        clock: clock);

    [Fact]
    public void LogLinesComeEveryTenthButNotTooOftenNorTooRarely()
    {
        // 20 steps of 3 s: every tenth (2 steps, 6 s).
        Assert.Equal(new[] { 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 }, ReportedSteps(20, 3, Log));
        // 1000 steps of 10 ms: a tenth takes 1 s, under the 5 s floor, so a line every 500 steps.
        Assert.Equal(new[] { 500, 1000 }, ReportedSteps(1000, 0.01, Log));
        // 100 steps of 20 s: a tenth takes 200 s, over the one-minute ceiling, so a line every 3 steps (60 s).
        Assert.Equal(Enumerable.Range(1, 33).Select(i => 3 * i).Append(100), ReportedSteps(100, 20, Log));
        // 32 steps of 40 s (plif-csnn on a CPU): a tenth is 4 steps (160 s), the ceiling comes after 2 (80 s).
        Assert.Equal(Enumerable.Range(1, 16).Select(i => 2 * i), ReportedSteps(32, 40, Log));
    }

    [Fact]
    public void EveryStepsIsForProgressBars()
    {
        Assert.Equal(new[] { 25, 50, 60 }, ReportedSteps(60, 0.001, c => ProgressReporter.EverySteps(25)));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ProgressReporter.EverySteps(0));
        Assert.Equal("steps", e.ParamName);
    }

    [Fact]
    public void TimingSaysElapsedAndLeft()
    {
        var now = TimeSpan.Zero;
        var p = new ProgressReporter(everySteps: 1, clock: () => now);
        p.Start(10);
        now = TimeSpan.FromSeconds(40);
        Assert.Equal("40 s elapsed, about 2 min 40 s left", p.Timing(2));
        now = TimeSpan.FromSeconds(4.25);
        Assert.Equal("4.3 s elapsed", p.Timing(10));
        Assert.Equal("2 h 05 min", ProgressReporter.Duration(TimeSpan.FromMinutes(125)));

        // Resumed after 6 of 10 steps: the pace is this run's (2 steps in 20 s), the next line a tenth later.
        now = TimeSpan.Zero;
        p.Start(10, doneSteps: 6);
        Assert.False(p.IsDue(6));
        now = TimeSpan.FromSeconds(20);
        Assert.Equal("20 s elapsed, about 20 s left", p.Timing(8));
        Assert.Equal("doneSteps", Assert.Throws<ArgumentOutOfRangeException>(() => p.Start(10, 11)).ParamName);
        Assert.Throws<InvalidOperationException>(() => new ProgressReporter(everySteps: 1).IsDue(1));
        Assert.Equal("totalSteps", Assert.Throws<ArgumentOutOfRangeException>(() => p.Start(0)).ParamName);
    }
}
