using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Caching allocator over ILGPU device buffers: freed blocks go to size-bucketed free lists and are
/// handed out again without touching the driver (cuMemAlloc/cuMemFree synchronise the device).
/// Sizes round up to powers of two below 1 MiB and to 2 MiB granules above, so a block is reused
/// by any request of its bucket. <see cref="Return"/> is thread-safe and never calls the driver.
/// Reuse is safe without events because every kernel runs on the one stream of the backend, in order.
/// The allocator holds every block it has handed out, so a block never reaches ILGPU's own finalizer
/// (which would free it on the finalizer thread); a storage that nobody disposed is handed back through
/// <see cref="ReturnOrphan"/> by its finalizer and rejoins the free lists at the next allocation.
/// </summary>
public sealed class IlgpuAllocator
{
    private const long SmallLimit = 1L << 20;
    private const long Granule = 2L << 20;
    private const long MinBlock = 256;

    private readonly Accelerator _accelerator;
    private readonly Action _bind;
    private readonly object _lock = new();
    private readonly Dictionary<long, Stack<MemoryBuffer1D<byte, Stride1D.Dense>>> _free = new();
    private readonly HashSet<MemoryBuffer1D<byte, Stride1D.Dense>> _rented = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentQueue<MemoryBuffer1D<byte, Stride1D.Dense>> _orphans = new();
    private long _allocated, _cached, _peak, _reserved;

    internal IlgpuAllocator(Accelerator accelerator, Action bind)
    {
        _accelerator = accelerator;
        _bind = bind;
    }

    /// <summary>Bytes held by live storages (bucket sizes).</summary>
    public long AllocatedBytes { get { lock (_lock) return _allocated; } }

    /// <summary>Bytes held in the free lists, ready for reuse.</summary>
    public long CachedBytes { get { lock (_lock) return _cached; } }

    /// <summary>Highest <see cref="AllocatedBytes"/> seen.</summary>
    public long PeakBytes { get { lock (_lock) return _peak; } }

    /// <summary>Restarts <see cref="PeakBytes"/> from the live bytes, so a benchmark can measure one phase.</summary>
    internal void ResetPeak() { lock (_lock) _peak = _allocated; }

    /// <summary>Bytes obtained from the driver (live + cached).</summary>
    public long ReservedBytes { get { lock (_lock) return _reserved; } }

    /// <summary>The bucket size a request of <paramref name="bytes"/> is served from.</summary>
    public static long BucketSize(long bytes)
    {
        if (bytes <= MinBlock) return MinBlock;
        if (bytes <= SmallLimit) return 1L << (64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(bytes - 1)));
        return (bytes + Granule - 1) / Granule * Granule;
    }

    /// <summary>A block of at least <paramref name="bytes"/> bytes (its length is the bucket size).</summary>
    public MemoryBuffer1D<byte, Stride1D.Dense> Rent(long bytes)
    {
        long size = BucketSize(bytes);
        ReclaimOrphans();
        lock (_lock)
        {
            if (_free.TryGetValue(size, out var stack) && stack.Count > 0)
            {
                _cached -= size;
                Account(size);
                var block = stack.Pop();
                _rented.Add(block);
                return block;
            }
        }
        MemoryBuffer1D<byte, Stride1D.Dense> buf;
        try { buf = _accelerator.Allocate1D<byte>(size); }
        catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
        {
            // Give the cached blocks back to the driver and try once more before failing.
            EmptyCache();
            try { buf = _accelerator.Allocate1D<byte>(size); }
            catch (Exception e2) when (e2 is OutOfMemoryException or AcceleratorException)
            {
                throw new OutOfMemoryException(
                    $"{_accelerator.Name}: cannot allocate {size} bytes (live {AllocatedBytes}, reserved {ReservedBytes})", e2);
            }
        }
        lock (_lock) { _reserved += size; Account(size); _rented.Add(buf); }
        return buf;
    }

    private void Account(long size)
    {
        _allocated += size;
        if (_allocated > _peak) _peak = _allocated;
    }

    /// <summary>Puts a block back on its free list. Thread-safe; never calls the driver.</summary>
    public void Return(MemoryBuffer1D<byte, Stride1D.Dense> block)
    {
        long size = block.LengthInBytes;
        lock (_lock)
        {
            if (!_rented.Remove(block))
                throw new InvalidOperationException(
                    "IlgpuAllocator.Return: the block was not rented from this allocator or was returned twice");
            if (!_free.TryGetValue(size, out var stack)) _free[size] = stack = new();
            stack.Push(block);
            _allocated -= size;
            _cached += size;
        }
    }

    /// <summary>Blocks handed back by finalizers and not yet on the free lists.</summary>
    public int PendingOrphans => _orphans.Count;

    /// <summary>
    /// Hands back a block from a finalizer: it is queued without locks or driver calls and rejoins the free
    /// lists at the next <see cref="Rent"/> or <see cref="EmptyCache"/> on an ordinary thread.
    /// </summary>
    internal void ReturnOrphan(MemoryBuffer1D<byte, Stride1D.Dense> block) => _orphans.Enqueue(block);

    /// <summary>Moves the blocks finalizers handed back onto the free lists.</summary>
    public void ReclaimOrphans()
    {
        while (_orphans.TryDequeue(out var block)) Return(block);
    }

    /// <summary>Frees all cached blocks to the driver. Call from a normal thread, not a finalizer.</summary>
    public void EmptyCache()
    {
        ReclaimOrphans();
        List<MemoryBuffer1D<byte, Stride1D.Dense>> blocks;
        lock (_lock)
        {
            blocks = _free.Values.SelectMany(s => s).ToList();
            _free.Clear();
            _reserved -= _cached;
            _cached = 0;
        }
        if (blocks.Count > 0) _bind();
        foreach (var b in blocks) b.Dispose();
    }
}

/// <summary>Device memory of the ILGPU backend: a block from the caching allocator.</summary>
public sealed class IlgpuStorage : Storage
{
    private readonly IlgpuAllocator _allocator;

    internal IlgpuStorage(IlgpuBackend backend, IlgpuAllocator allocator, DType dtype, int length)
        : base(backend, dtype, length)
    {
        _allocator = allocator;
        Block = allocator.Rent(Math.Max(1L, (long)length * dtype.SizeInBytes()));
    }

    /// <summary>The raw block (its length is the bucket size, at least the storage's byte size).</summary>
    public MemoryBuffer1D<byte, Stride1D.Dense> Block { get; }

    /// <inheritdoc/>
    protected override void Free() => _allocator.Return(Block);

    /// <inheritdoc/>
    protected override void FreeUnreachable() => _allocator.ReturnOrphan(Block);
}
