using System.Diagnostics;
using System.Globalization;
using System.Text;
using SpikeSharp.Backends;

namespace SpikeSharp;

/// <summary>Time of one op in an <see cref="OpProfile"/>.</summary>
/// <param name="Op">The op's label: the name it records on the tape ("conv2d", "plif", "batch_norm"), its backward
/// ("conv2d.backward"), a <see cref="MemoryProfile.Label"/> scope ("grad_accumulate"), a <see cref="OpProfile.Mark"/>,
/// or <see cref="OpProfile.Other"/>.</param>
/// <param name="Count">How many times it ran.</param>
/// <param name="HostMs">Milliseconds the calling thread spent issuing it (before the profile's synchronisation).
/// </param>
/// <param name="DeviceMs">Milliseconds from the end of the previous op until this one had finished on the device
/// (after synchronising); equals <paramref name="HostMs"/> on the CPU or when the profile does not synchronise.</param>
/// <param name="Launches">Kernel launches it issued (<see cref="LaunchCounter"/>).</param>
public readonly record struct OpTime(string Op, long Count, double HostMs, double DeviceMs, long Launches);

/// <summary>
/// A time profile of ops on the current thread, by the labels <see cref="MemoryProfile"/> uses. Time is cut at op
/// boundaries: each op recorded on the tape at top level (in the forward pass, also under NoGrad) claims the time
/// since the previous boundary; each outermost <see cref="MemoryProfile.Label"/> scope (every backward node, and
/// composite ops such as conv2d) claims the time up to its end, ops recorded inside it are part of it; an op
/// recorded right after a scope of its own name (conv2d's scope, then its tape record) is one run. Nothing falls
/// between two boundaries, so the rows sum to the profiled wall time.
/// </summary>
/// <remarks>
/// Device time: a profile started with a device synchronises that device's stream at every boundary (the host
/// waits for the queued kernels), so <see cref="OpTime.DeviceMs"/> is the wall time from the previous op's
/// completion to this op's completion: its kernels plus launch overhead the device could not hide. This distorts
/// what it measures (no overlap between ops), so time a step without a profile for the real figure and use the
/// profile for the split. Starting a profile also starts a <see cref="LaunchCounter"/> for the per-op launches.
/// While no profile is active the hooks cost one thread-local read per op.
/// </remarks>
/// <example><code>
/// using (var prof = OpProfile.Start(device))
/// {
///     RunStep();
///     Console.WriteLine(prof.Format(top: 10));
/// }
/// </code></example>
public sealed class OpProfile : IDisposable
{
    /// <summary>The label of time no op claimed (between the last boundary and <see cref="Dispose"/>).</summary>
    public const string Other = "(other)";

    [ThreadStatic] private static OpProfile? _current;

    private readonly IBackend? _sync;
    private readonly Thread _thread;
    private readonly Dictionary<string, Row> _rows = new(StringComparer.Ordinal);
    private readonly LaunchCounter.Scope _launches;
    private long _mark, _launchMark;
    private int _depth;
    private string? _lastScope; // the scope that set _mark, until another boundary
    private bool _stopped;

    private sealed class Row
    {
        public long Count, HostTicks, DeviceTicks, Launches;
    }

    private OpProfile(IBackend? sync)
    {
        _sync = sync;
        _thread = Thread.CurrentThread;
        _sync?.Synchronize();
        _launches = LaunchCounter.Start();
        _launchMark = LaunchCounter.Total;
        _mark = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Starts a profile on the current thread. With <paramref name="synchronize"/>, the device whose stream is
    /// synchronised at each op boundary (device times); without it only host times are measured.
    /// </summary>
    /// <exception cref="InvalidOperationException">A profile is already active on this thread.</exception>
    public static OpProfile Start(Device? synchronize = null)
    {
        if (_current != null)
            throw new InvalidOperationException(
                "OpProfile.Start: a profile is already active on this thread; dispose it first (profiles do not nest)");
        return _current = new OpProfile(synchronize is { } d ? BackendRegistry.Get(d) : null);
    }

    /// <summary>The profile active on this thread, or null.</summary>
    public static OpProfile? Current => _current;

    /// <summary>Whether device times include a synchronisation (a device was given to <see cref="Start"/>).</summary>
    public bool Synchronizes => _sync != null;

    /// <summary>
    /// Ends the current interval and gives it to <paramref name="op"/> (for work that records no op, such as an
    /// optimiser step or a host-to-device copy). Does nothing without an active profile, or inside a labelled scope.
    /// </summary>
    public static void Mark(string op)
    {
        ArgumentNullException.ThrowIfNull(op);
        if (_current is { } p && p._depth == 0) p.Close(op, mergeWithScope: false);
    }

    // ---- hooks (the tape and MemoryProfile.LabelScope) ----

    /// <summary>An op was recorded on the tape (its work is done).</summary>
    internal static void OnRecord(string op)
    {
        if (_current is { } p && p._depth == 0) p.Close(op, mergeWithScope: true);
    }

    /// <summary>A labelled scope opens.</summary>
    internal static void OnEnter()
    {
        if (_current is { } p) p._depth++;
    }

    /// <summary>A labelled scope closes; the outermost one ends an interval.</summary>
    internal static void OnExit(string op)
    {
        if (_current is not { } p || p._depth == 0) return;
        if (--p._depth == 0) p.Close(op, mergeWithScope: false, fromScope: true);
    }

    private void Close(string op, bool mergeWithScope, bool fromScope = false)
    {
        if (_stopped) return;
        long hostEnd = Stopwatch.GetTimestamp();
        _sync?.Synchronize();
        long end = Stopwatch.GetTimestamp();
        long launches = LaunchCounter.Total;
        if (!_rows.TryGetValue(op, out var row)) _rows[op] = row = new Row();
        // conv2d's scope, then its tape record: one run of conv2d.
        if (!(mergeWithScope && string.Equals(_lastScope, op, StringComparison.Ordinal))) row.Count++;
        row.HostTicks += hostEnd - _mark;
        row.DeviceTicks += end - _mark;
        row.Launches += launches - _launchMark;
        _lastScope = fromScope ? op : null;
        // The bookkeeping above is the profile's own cost: the next interval starts after it.
        _mark = Stopwatch.GetTimestamp();
        _launchMark = launches;
    }

    /// <summary>Per-op figures, the most device time first.</summary>
    public IReadOnlyList<OpTime> Ops =>
        _rows.Select(kv => new OpTime(kv.Key, kv.Value.Count, Ms(kv.Value.HostTicks), Ms(kv.Value.DeviceTicks),
                kv.Value.Launches))
            .OrderByDescending(o => o.DeviceMs).ThenBy(o => o.Op, StringComparer.Ordinal).ToList();

    /// <summary>Sum of the ops' device times (the profiled wall time, less the profile's own bookkeeping).</summary>
    public double TotalDeviceMs => Ms(_rows.Values.Sum(r => r.DeviceTicks));

    /// <summary>Sum of the ops' host times.</summary>
    public double TotalHostMs => Ms(_rows.Values.Sum(r => r.HostTicks));

    /// <summary>Launches this thread issued while the profile was active.</summary>
    public long Launches => _launches.Launches;

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>A table: the <paramref name="top"/> ops by device time with count, host ms, device ms, share and
    /// launches.</summary>
    public string Format(int top = 15)
    {
        var inv = CultureInfo.InvariantCulture;
        double total = TotalDeviceMs;
        var sb = new StringBuilder();
        sb.Append(inv, $"{(Synchronizes ? "device (synchronised)" : "host")} {total:F2} ms, host {TotalHostMs:F2} ms,")
            .Append(inv, $" {Launches} launches\n");
        sb.Append(inv, $"{"op",-30} {"count",7} {"host ms",9} {"device ms",10} {"share",6} {"launches",9}\n");
        foreach (var o in Ops.Take(top))
            sb.Append(inv, $"{o.Op,-30} {o.Count,7} {o.HostMs,9:F3} {o.DeviceMs,10:F3} ")
                .Append(inv, $"{(total > 0 ? 100 * o.DeviceMs / total : 0),5:F1}% {o.Launches,9}\n");
        return sb.ToString();
    }

    /// <summary>Gives the time since the last boundary to <see cref="Other"/> and stops the profile (its figures stay
    /// readable).</summary>
    public void Dispose()
    {
        if (_stopped) return;
        if (Thread.CurrentThread == _thread)
        {
            _depth = 0;
            Close(Other, mergeWithScope: false);
            if (ReferenceEquals(_current, this)) _current = null;
        }
        _stopped = true;
        _launches.Dispose();
    }
}
