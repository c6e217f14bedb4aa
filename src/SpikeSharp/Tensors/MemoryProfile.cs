using System.Globalization;
using System.Text;
using SpikeSharp.Backends;

namespace SpikeSharp;

/// <summary>Memory of one op in a <see cref="MemoryProfile"/>: every figure counts storage bytes (elements times
/// element size; a GPU allocator may round blocks up).</summary>
/// <param name="Op">The op's name as recorded on the tape ("conv2d", "batch_norm:saved", "mul.backward"), or
/// "(untagged)" for storages no recorded op claimed (temporaries inside an op, work under NoGrad).</param>
/// <param name="AllocatedBytes">Bytes of every storage the op created while the profile was active.</param>
/// <param name="Allocations">Number of those storages.</param>
/// <param name="LiveBytes">Bytes of its storages still alive now.</param>
/// <param name="PeakLiveBytes">The most bytes of its storages alive at one time.</param>
/// <param name="LiveAtPeakBytes">Bytes of its storages alive when the profile's total peaked
/// (<see cref="MemoryProfile.PeakBytes"/>): the op's share of the high-water mark.</param>
public readonly record struct OpMemory(string Op, long AllocatedBytes, long Allocations, long LiveBytes,
    long PeakLiveBytes, long LiveAtPeakBytes);

/// <summary>
/// An allocation profile: counts the storages that tensors created on this thread allocate while the profile is
/// active (from <see cref="Start"/> to <see cref="Dispose"/>), on every device, and attributes them to ops — the op
/// that recorded a storage as its output on the tape, a label such as "mul.backward" for gradients made in the
/// backward pass, or ":saved" for what an op keeps for its backward. It answers "where is the high-water mark of live
/// tensor memory, and which ops hold it", for a benchmark or a test of a training step's peak.
/// </summary>
/// <remarks>
/// Storages created before the profile started, or on another thread, are not counted (freeing them changes
/// nothing). Profiles nest: a storage counts in every profile active on its thread. The cost while none is active is
/// one thread-local read per allocation.
/// </remarks>
/// <example><code>
/// using (var prof = MemoryProfile.Start())
/// {
///     using var scope = TensorScope.Begin();
///     var loss = model.Forward(x).Mean();
///     loss.Backward();
///     Console.WriteLine(prof.Format(top: 10));   // peak, and the ops holding it
/// }
/// </code></example>
public sealed class MemoryProfile : IDisposable
{
    /// <summary>The op name of storages no recorded op claimed.</summary>
    public const string Untagged = "(untagged)";

    [ThreadStatic] private static MemoryProfile? _current;
    [ThreadStatic] private static string? _label;

    private readonly MemoryProfile? _parent;
    private readonly Thread _thread;
    private readonly object _lock = new();
    private readonly Dictionary<string, Stats> _ops = new(StringComparer.Ordinal);
    private Dictionary<string, long> _atPeak = new(StringComparer.Ordinal);
    private long _live, _peak, _allocated, _count;
    private bool _stopped;

    private sealed class Stats
    {
        public long Allocated, Count, Live, Peak;
    }

    private MemoryProfile(MemoryProfile? parent)
    {
        _parent = parent;
        _thread = Thread.CurrentThread;
    }

    /// <summary>Starts a profile on the current thread (nested in the one already active, if any).</summary>
    public static MemoryProfile Start() => _current = new MemoryProfile(_current);

    /// <summary>The innermost profile active on this thread, or null.</summary>
    public static MemoryProfile? Current => _current;

    /// <summary>Bytes of counted storages alive now.</summary>
    public long LiveBytes { get { lock (_lock) return _live; } }

    /// <summary>The most bytes of counted storages alive at one time (since the start or <see cref="ResetPeak"/>).
    /// </summary>
    public long PeakBytes { get { lock (_lock) return _peak; } }

    /// <summary>Bytes of every counted storage, freed or not.</summary>
    public long AllocatedBytes { get { lock (_lock) return _allocated; } }

    /// <summary>Number of counted storages.</summary>
    public long Allocations { get { lock (_lock) return _count; } }

    /// <summary>Per-op figures, the largest share of the peak first.</summary>
    public IReadOnlyList<OpMemory> Ops
    {
        get
        {
            lock (_lock)
                return _ops.Select(kv => new OpMemory(kv.Key, kv.Value.Allocated, kv.Value.Count, kv.Value.Live,
                        kv.Value.Peak, _atPeak.GetValueOrDefault(kv.Key)))
                    .OrderByDescending(o => o.LiveAtPeakBytes).ThenByDescending(o => o.PeakLiveBytes)
                    .ThenBy(o => o.Op, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Restarts <see cref="PeakBytes"/> (and each op's peak) from what is alive now, to measure one phase.
    /// </summary>
    public void ResetPeak()
    {
        lock (_lock)
        {
            _peak = _live;
            foreach (var s in _ops.Values) s.Peak = s.Live;
            _atPeak = _ops.Where(kv => kv.Value.Live > 0)
                .ToDictionary(kv => kv.Key, kv => kv.Value.Live, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Names the op that the storages created on this thread until the returned scope is disposed belong to (where
    /// no recorded op claims them later): the backward pass labels each node's gradients, composite ops their
    /// temporaries. Cheap enough for hot paths; nests.
    /// </summary>
    public static LabelScope Label(string op) => new(op);

    /// <summary>The label set on this thread by <see cref="Label"/>, or null (error messages name it).</summary>
    internal static string? CurrentLabel => _label;

    /// <summary>Restores the previous label when disposed (see <see cref="Label"/>); the scope is also an op boundary
    /// of an <see cref="OpProfile"/>.</summary>
    public readonly struct LabelScope : IDisposable
    {
        private readonly string? _previous;
        private readonly string _op;

        internal LabelScope(string op)
        {
            _previous = _label;
            _label = _op = op;
            OpProfile.OnEnter();
        }

        /// <summary>Restores the label that was current before.</summary>
        public void Dispose()
        {
            _label = _previous;
            if (_op != null) OpProfile.OnExit(_op);
        }
    }

    // ---- hooks called by Storage ----

    /// <summary>Counts a new storage in the profiles active on this thread; returns the innermost (null if none).
    /// </summary>
    internal static MemoryProfile? OnAllocate(long bytes, out string? tag)
    {
        tag = _label;
        var p = _current;
        for (var q = p; q != null; q = q._parent) q.Add(tag ?? Untagged, bytes);
        return p;
    }

    /// <summary>Takes a freed storage off the counts.</summary>
    internal void OnFree(long bytes, string? tag)
    {
        for (var q = this; q != null; q = q._parent) q.Remove(tag ?? Untagged, bytes);
    }

    /// <summary>Moves a storage from <see cref="Untagged"/> to <paramref name="op"/> (a recorded op claimed it).
    /// </summary>
    internal void Retag(long bytes, string op)
    {
        for (var q = this; q != null; q = q._parent) q.Move(bytes, op);
    }

    private void Add(string tag, long bytes)
    {
        lock (_lock)
        {
            if (_stopped) return;
            var s = Get(tag);
            s.Allocated += bytes; s.Count++; s.Live += bytes;
            if (s.Live > s.Peak) s.Peak = s.Live;
            _allocated += bytes; _count++; _live += bytes;
            if (_live > _peak) Snapshot();
        }
    }

    private void Remove(string tag, long bytes)
    {
        lock (_lock)
        {
            if (!_ops.TryGetValue(tag, out var s)) return; // counted before a ResetPeak? never: stats are kept
            s.Live -= bytes;
            _live -= bytes;
        }
    }

    private void Move(long bytes, string op)
    {
        lock (_lock)
        {
            if (!_ops.TryGetValue(Untagged, out var from)) return;
            var to = Get(op);
            from.Allocated -= bytes; from.Count--; from.Live -= bytes;
            to.Allocated += bytes; to.Count++; to.Live += bytes;
            if (to.Live > to.Peak) to.Peak = to.Live;
        }
    }

    private Stats Get(string tag)
    {
        if (!_ops.TryGetValue(tag, out var s)) _ops[tag] = s = new Stats();
        return s;
    }

    private void Snapshot()
    {
        _peak = _live;
        _atPeak.Clear();
        foreach (var (k, v) in _ops) if (v.Live > 0) _atPeak[k] = v.Live;
    }

    /// <summary>A table: totals, then the <paramref name="top"/> ops by their share of the peak (with their live bytes
    /// now, their own peak, bytes allocated and storage count).</summary>
    public string Format(int top = 15)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"peak {Mb(PeakBytes)} MB, live {Mb(LiveBytes)} MB, ");
        sb.Append(inv, $"allocated {Mb(AllocatedBytes)} MB in {Allocations} storages\n");
        sb.Append(inv, $"{"op",-34} {"at peak MB",11} {"live MB",9} {"peak MB",9} {"alloc MB",10} {"count",7}\n");
        foreach (var o in Ops.Take(top))
            sb.Append(inv, $"{o.Op,-34} {Mb(o.LiveAtPeakBytes),11} {Mb(o.LiveBytes),9} {Mb(o.PeakLiveBytes),9} ")
                .Append(inv, $"{Mb(o.AllocatedBytes),10} {o.Allocations,7}\n");
        return sb.ToString();
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>Stops counting new storages (the figures stay readable) and makes the enclosing profile current.
    /// </summary>
    public void Dispose()
    {
        lock (_lock) _stopped = true;
        if (ReferenceEquals(_current, this) && Thread.CurrentThread == _thread) _current = _parent;
    }
}
