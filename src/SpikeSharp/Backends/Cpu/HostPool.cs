using System.Collections.Concurrent;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU backend's caching allocator: freed arrays go to size-bucketed free lists and serve later requests of
/// their bucket, so a warm training step allocates no arrays (every step asks for the same sizes). Buckets are
/// four per power of two (an array is at most 25 % longer than asked for); arrays are pinned (allocated on the
/// pinned object heap), so native calls take their address without pinning. Free lists hold at most
/// <see cref="MaxCachedBytes"/>; an array returned beyond that is left to the garbage collector.
/// Thread-safe; arrays handed back by finalizers are queued without locks and rejoin the lists at the next rent.
/// </summary>
internal static class HostPool
{
    internal const int MinLength = 16;

    private static readonly object _lock = new();
    private static readonly Dictionary<(Type, int), Stack<Array>> _free = new();
    private static readonly ConcurrentQueue<Array> _orphans = new();
    private static long _live, _cached, _peak, _fresh;

    /// <summary>Most bytes the free lists keep: a quarter of the memory available to the process, at least
    /// 256 MiB.</summary>
    internal static long MaxCachedBytes { get; set; } =
        Math.Max(256L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);

    /// <summary>
    /// Fill new and freed arrays with NaN (float types) or all-ones bits (integers), so that code reading a
    /// tensor it never wrote shows up as NaN instead of as stale values: <c>SPIKESHARP_CPU_POISON=1</c>, for testing.
    /// </summary>
    internal static bool Poison { get; set; } = Environment.GetEnvironmentVariable("SPIKESHARP_CPU_POISON") == "1";

    /// <summary>Whether freed arrays are kept for reuse (a switch for benchmarks: off is the old
    /// allocate-per-tensor).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Bytes of arrays held by live storages (bucket lengths).</summary>
    public static long LiveBytes => Interlocked.Read(ref _live);

    /// <summary>Bytes in the free lists.</summary>
    public static long CachedBytes => Interlocked.Read(ref _cached);

    /// <summary>Highest <see cref="LiveBytes"/> seen.</summary>
    public static long PeakBytes => Interlocked.Read(ref _peak);

    /// <summary>Arrays allocated from the managed heap so far (a rent the free lists could not serve).</summary>
    public static long FreshArrays => Interlocked.Read(ref _fresh);

    /// <summary>The array length a request of <paramref name="length"/> elements is served with.</summary>
    public static int BucketLength(int length)
    {
        if (length <= MinLength) return MinLength;
        // Four steps per octave: for 2^e < length ≤ 2^(e+1) the step is 2^(e-2).
        int e = 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)(length - 1));
        long step = 1L << Math.Max(0, e - 2);
        long rounded = (length + step - 1) / step * step;
        return rounded > Array.MaxLength ? length : (int)rounded;
    }

    /// <summary>An array of at least <paramref name="length"/> elements, uninitialised (reused arrays hold old
    /// data).</summary>
    public static T[] Rent<T>(int length) where T : unmanaged
    {
        ReclaimOrphans();
        int size = BucketLength(length);
        long bytes = (long)size * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (Enabled)
        {
            lock (_lock)
            {
                if (_free.TryGetValue((typeof(T), size), out var stack) && stack.Count > 0)
                {
                    _cached -= bytes;
                    Account(bytes);
                    return (T[])stack.Pop();
                }
            }
        }
        var fresh = GC.AllocateUninitializedArray<T>(size, pinned: true);
        if (Poison) Fill(fresh);
        Interlocked.Increment(ref _fresh);
        lock (_lock) Account(bytes);
        return fresh;
    }

    private static void Account(long bytes)
    {
        _live += bytes;
        if (_live > _peak) _peak = _live;
    }

    /// <summary>Puts an array from <see cref="Rent{T}"/> back on its free list (or drops it past the cap).</summary>
    public static void Return(Array array)
    {
        long bytes = Bytes(array);
        lock (_lock)
        {
            _live -= bytes;
            if (!Enabled || _cached + bytes > MaxCachedBytes) return;
            if (Poison) Fill(array);
            var key = (array.GetType().GetElementType()!, array.Length);
            if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new();
            stack.Push(array);
            _cached += bytes;
        }
    }

    /// <summary>Hands back an array from a finalizer: queued without locks, on the lists after the next rent.</summary>
    public static void ReturnOrphan(Array array) => _orphans.Enqueue(array);

    /// <summary>Arrays handed back by finalizers and not yet on the free lists.</summary>
    public static int PendingOrphans => _orphans.Count;

    /// <summary>Moves the arrays finalizers handed back onto the free lists.</summary>
    public static void ReclaimOrphans()
    {
        while (_orphans.TryDequeue(out var a)) Return(a);
    }

    /// <summary>Drops every cached array (the garbage collector reclaims them).</summary>
    public static void EmptyCache()
    {
        ReclaimOrphans();
        lock (_lock)
        {
            _free.Clear();
            _cached = 0;
        }
    }

    /// <summary>Restarts <see cref="PeakBytes"/> from the live bytes.</summary>
    public static void ResetPeak() { lock (_lock) _peak = _live; }

    private static void Fill(Array a)
    {
        switch (a)
        {
            case float[] f: f.AsSpan().Fill(float.NaN); break;
            case Half[] h: h.AsSpan().Fill(Half.NaN); break;
            case int[] i: i.AsSpan().Fill(-1); break;
            case byte[] b: b.AsSpan().Fill(0xFF); break;
        }
    }

    private static long Bytes(Array a) => (long)a.Length * a switch
    {
        float[] => 4, int[] => 4, Half[] => 2, byte[] => 1,
        _ => throw new ArgumentException($"host pool: unexpected array type {a.GetType().Name}"),
    };
}
