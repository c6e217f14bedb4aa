using System.Diagnostics;
using System.Globalization;

namespace SpikeSharp.Training;

/// <summary>
/// Decides when a loop of known length reports its progress, and words the timing part of a progress line.
/// For a progress bar: every few steps (<see cref="EverySteps"/>). For a log, where every report is a line
/// (<see cref="ForLog"/>): about every tenth of the loop, no more often than every few seconds, at least every
/// minute however slow the steps are, and always at the last step.
/// </summary>
/// <example>
/// <code>
/// var progress = ProgressReporter.ForLog();
/// progress.Start(steps);
/// for (int step = 1; step &lt;= steps; step++)
/// {
///     Train();
///     if (progress.Report(step)) Console.WriteLine($"step {step}/{steps}, {progress.Timing(step)}");
/// }
/// </code>
/// </example>
public sealed class ProgressReporter
{
    /// <summary>Environment variable overriding the least seconds between two log lines (default 5).</summary>
    public const string IntervalVariable = "SPIKESHARP_PROGRESS_SECONDS";

    /// <summary>Least time between two log lines unless <see cref="IntervalVariable"/> says otherwise.</summary>
    public static readonly TimeSpan DefaultLogInterval = TimeSpan.FromSeconds(5);

    /// <summary>Longest silence in a log: a line after this long even before a tenth of the loop has passed.</summary>
    public static readonly TimeSpan DefaultLogSilence = TimeSpan.FromMinutes(1);

    private readonly int _everySteps;
    private readonly double _everyFraction;
    private readonly TimeSpan _minInterval, _maxInterval;
    private readonly Func<TimeSpan> _clock;
    private TimeSpan _start, _last;
    private int _lastStep, _firstStep;

    /// <summary>
    /// Reports every <paramref name="everySteps"/> steps or every <paramref name="everyFraction"/> of the loop
    /// (0 turns either off), never twice within <paramref name="minInterval"/>, and after
    /// <paramref name="maxInterval"/> of silence whatever the steps (zero turns it off). The last step is always due.
    /// </summary>
    /// <param name="everySteps">Steps between reports (0: off).</param>
    /// <param name="everyFraction">Fraction of the loop between reports, in [0, 1] (0: off).</param>
    /// <param name="minInterval">Least time between reports.</param>
    /// <param name="maxInterval">Longest time without a report (zero: no limit).</param>
    /// <param name="clock">Elapsed-time source (tests); default a <see cref="Stopwatch"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative count or interval, a fraction outside [0, 1].
    /// </exception>
    public ProgressReporter(int everySteps = 0, double everyFraction = 0, TimeSpan minInterval = default,
        TimeSpan maxInterval = default, Func<TimeSpan>? clock = null)
    {
        if (everySteps < 0)
            throw new ArgumentOutOfRangeException(nameof(everySteps), $"everySteps must be >= 0, got {everySteps}");
        if (!(everyFraction >= 0 && everyFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(everyFraction),
                $"everyFraction must be in [0, 1], got {everyFraction}");
        if (minInterval < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(minInterval), $"minInterval must be >= 0, got {minInterval}");
        if (maxInterval < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(maxInterval), $"maxInterval must be >= 0, got {maxInterval}");
        _everySteps = everySteps;
        _everyFraction = everyFraction;
        _minInterval = minInterval;
        _maxInterval = maxInterval;
        if (clock is null)
        {
            var sw = Stopwatch.StartNew();
            clock = () => sw.Elapsed;
        }
        _clock = clock;
    }

    /// <summary>Reports every <paramref name="steps"/> steps (progress bars redraw cheaply).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is not positive.</exception>
    public static ProgressReporter EverySteps(int steps) => steps > 0
        ? new ProgressReporter(everySteps: steps)
        : throw new ArgumentOutOfRangeException(nameof(steps), $"progress: every N steps needs N > 0, got {steps}");

    /// <summary>
    /// For output that is not a terminal: every tenth of the loop, at most one line per
    /// <see cref="DefaultLogInterval"/> (or <see cref="IntervalVariable"/> seconds), at least one per
    /// <see cref="DefaultLogSilence"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="IntervalVariable"/> is set to no number of seconds in [0, 86400].
    /// </exception>
    public static ProgressReporter ForLog(Func<TimeSpan>? clock = null)
    {
        var min = DefaultLogInterval;
        if (Environment.GetEnvironmentVariable(IntervalVariable) is { Length: > 0 } text)
        {
            bool ok = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s);
            if (!ok || !(s >= 0 && s <= 86400))
                throw new ArgumentException(
                    $"{IntervalVariable}: expected seconds from 0 to 86400, got '{text}'", IntervalVariable);
            min = TimeSpan.FromSeconds(s);
        }
        var max = DefaultLogSilence > min ? DefaultLogSilence : min;
        return new ProgressReporter(everyFraction: 0.1, minInterval: min, maxInterval: max, clock: clock);
    }

    /// <summary>Steps of the loop being reported (set by <see cref="Start"/>).</summary>
    public int TotalSteps { get; private set; }

    /// <summary>Time since <see cref="Start"/>.</summary>
    public TimeSpan Elapsed => _clock() - _start;

    /// <summary>
    /// Begins a loop of <paramref name="totalSteps"/> steps (numbered from 1) of which <paramref name="doneSteps"/>
    /// were done before (a resumed run: the time left is estimated from this run's pace); restarts the clock.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalSteps"/> is not positive, or
    /// <paramref name="doneSteps"/> is outside [0, totalSteps].</exception>
    public void Start(int totalSteps, int doneSteps = 0)
    {
        if (totalSteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), $"progress: needs steps > 0, got {totalSteps}");
        if (doneSteps < 0 || doneSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(doneSteps),
                $"progress: done steps must be in [0, {totalSteps}], got {doneSteps}");
        TotalSteps = totalSteps;
        _start = _last = _clock();
        _lastStep = _firstStep = doneSteps;
    }

    /// <summary>Whether <paramref name="step"/> (just finished) should be reported; marks nothing.</summary>
    /// <exception cref="InvalidOperationException"><see cref="Start"/> was not called.</exception>
    public bool IsDue(int step)
    {
        if (TotalSteps == 0)
            throw new InvalidOperationException("progress: call Start(totalSteps) before asking whether a step is due");
        if (step >= TotalSteps) return true;
        int since = step - _lastStep;
        if (since <= 0) return false;
        var quiet = _clock() - _last;
        if (quiet < _minInterval) return false;
        if (_everySteps > 0 && since >= _everySteps) return true;
        if (_everyFraction > 0 && since >= Math.Max(1, (int)Math.Ceiling(_everyFraction * TotalSteps))) return true;
        return _maxInterval > TimeSpan.Zero && quiet >= _maxInterval;
    }

    /// <summary>Records that <paramref name="step"/> was reported (by this reporter's caller or by another line).
    /// </summary>
    public void Reported(int step)
    {
        _lastStep = step;
        _last = _clock();
    }

    /// <summary><see cref="IsDue"/>, and when it is, <see cref="Reported"/>.</summary>
    public bool Report(int step)
    {
        if (!IsDue(step)) return false;
        Reported(step);
        return true;
    }

    /// <summary>"37 s elapsed, about 5 min 20 s left" after <paramref name="step"/> of <see cref="TotalSteps"/>.
    /// </summary>
    public string Timing(int step)
    {
        var elapsed = Elapsed;
        var text = $"{Duration(elapsed)} elapsed";
        if (step > _firstStep && step < TotalSteps)
        {
            var left = TimeSpan.FromTicks((long)(elapsed.Ticks / (double)(step - _firstStep) * (TotalSteps - step)));
            text += $", about {Duration(left)} left";
        }
        return text;
    }

    /// <summary>"0.4 s", "37 s", "5 min 20 s", "2 h 03 min".</summary>
    public static string Duration(TimeSpan t)
    {
        var inv = CultureInfo.InvariantCulture;
        if (t.TotalSeconds < 10) return t.TotalSeconds.ToString("0.0", inv) + " s";
        if (t.TotalMinutes < 1) return ((int)t.TotalSeconds).ToString(inv) + " s";
        if (t.TotalHours < 1) return $"{(int)t.TotalMinutes} min {t.Seconds:00} s";
        return $"{(int)t.TotalHours} h {t.Minutes:00} min";
    }
}
