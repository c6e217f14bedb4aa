using System.Collections.Concurrent;
using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Caching allocator over ILGPU device buffers: segments obtained from the driver are cut into blocks that are
/// reused across sizes, split and merged by <see cref="CachingBlockAllocator{TSegment}"/> (the scheme of PyTorch's
/// CUDA caching allocator), so a training step stops calling the driver (cuMemAlloc/cuMemFree synchronise the
/// device) once its working set is cached. Reuse is safe without events because every kernel runs on the one
/// stream of the backend, in order. <see cref="Return"/> is thread-safe and never calls the driver. The allocator
/// holds every segment, so none reaches ILGPU's own finalizer (which would free it on the finalizer thread); a
/// storage that nobody disposed is handed back through <see cref="ReturnOrphan"/> by its finalizer and rejoins the
/// cache at the next allocation. Out of device memory, it returns its cache to the driver, retries once, and then
/// throws an <see cref="OutOfMemoryException"/> that names the op, the bytes asked, the live and cached bytes and
/// what to change; it stays usable.
/// </summary>
public sealed class IlgpuAllocator
{
    private readonly Accelerator _accelerator;
    private readonly Action _bind;
    private readonly object _lock = new();
    private readonly CachingBlockAllocator<MemoryBuffer1D<byte, Stride1D.Dense>> _policy;
    private readonly ConcurrentQueue<IlgpuBlock> _orphans = new();

    internal IlgpuAllocator(Accelerator accelerator, Action bind)
    {
        _accelerator = accelerator;
        _bind = bind;
        _policy = new(AllocateSegment, FreeSegment);
    }

    /// <summary>Bytes held by live storages (block sizes: the request rounded up to 512).</summary>
    public long AllocatedBytes { get { lock (_lock) return _policy.AllocatedBytes; } }

    /// <summary>Bytes of free blocks in the held segments, ready for reuse.</summary>
    public long CachedBytes { get { lock (_lock) return _policy.CachedBytes; } }

    /// <summary>Highest <see cref="AllocatedBytes"/> seen (PyTorch's max_memory_allocated).</summary>
    public long PeakBytes { get { lock (_lock) return _policy.PeakBytes; } }

    /// <summary>Highest <see cref="ReservedBytes"/> seen (PyTorch's max_memory_reserved).</summary>
    public long PeakReservedBytes { get { lock (_lock) return _policy.PeakReservedBytes; } }

    /// <summary>Restarts <see cref="PeakBytes"/> and <see cref="PeakReservedBytes"/> from the current values, so a
    /// benchmark can measure one phase.</summary>
    internal void ResetPeak() { lock (_lock) _policy.ResetPeak(); }

    /// <summary>Bytes obtained from the driver (live + cached).</summary>
    public long ReservedBytes { get { lock (_lock) return _policy.ReservedBytes; } }

    /// <summary>Segments obtained from the driver and held.</summary>
    public int Segments { get { lock (_lock) return _policy.Segments; } }

    /// <summary>The bytes a request of <paramref name="bytes"/> takes (rounded up to a multiple of 512).</summary>
    public static long BlockSize(long bytes) =>
        CachingBlockAllocator<MemoryBuffer1D<byte, Stride1D.Dense>>.RoundSize(bytes);

    /// <summary>A block of at least <paramref name="bytes"/> bytes.</summary>
    /// <exception cref="OutOfMemoryException">The device has no room even after the cache was returned to the
    /// driver; the message names the op, the bytes and what to change.</exception>
    public IlgpuBlock Rent(long bytes)
    {
        ReclaimOrphans();
        lock (_lock)
        {
            try { return new IlgpuBlock(_policy.Rent(bytes)); }
            catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
            {
                throw OutOfMemory(bytes, e);
            }
        }
    }

    /// <summary>Puts a block back in the cache. Thread-safe; never calls the driver.</summary>
    /// <exception cref="InvalidOperationException">The block is not out from this allocator.</exception>
    public void Return(IlgpuBlock block)
    {
        lock (_lock) _policy.Return(block.Handle);
    }

    /// <summary>Blocks handed back by finalizers and not yet in the cache.</summary>
    public int PendingOrphans => _orphans.Count;

    /// <summary>
    /// Hands back a block from a finalizer: it is queued without locks or driver calls and rejoins the cache at the
    /// next <see cref="Rent"/> or <see cref="EmptyCache"/> on an ordinary thread.
    /// </summary>
    internal void ReturnOrphan(IlgpuBlock block) => _orphans.Enqueue(block);

    /// <summary>Moves the blocks finalizers handed back into the cache.</summary>
    public void ReclaimOrphans()
    {
        while (_orphans.TryDequeue(out var block)) Return(block);
    }

    /// <summary>Returns every wholly free segment to the driver. Call from a normal thread, not a finalizer.</summary>
    public void EmptyCache()
    {
        ReclaimOrphans();
        lock (_lock) _policy.EmptyCache();
    }

    private MemoryBuffer1D<byte, Stride1D.Dense> AllocateSegment(long bytes) => _accelerator.Allocate1D<byte>(bytes);

    private void FreeSegment(MemoryBuffer1D<byte, Stride1D.Dense> segment)
    {
        _bind();
        segment.Dispose();
    }

    private OutOfMemoryException OutOfMemory(long bytes, Exception inner)
    {
        static string Mib(long b) =>
            (b / (double)(1 << 20)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
        return new OutOfMemoryException(
            $"{_accelerator.Name}: out of device memory in {CurrentOp()}: asked for {bytes} bytes "
            + $"({Mib(bytes)} MiB); live tensors hold {Mib(_policy.AllocatedBytes)} MiB, the cache "
            + $"{Mib(_policy.CachedBytes)} MiB after returning its free segments to the driver "
            + $"({Mib(_policy.ReservedBytes)} MiB reserved). Use a smaller batch, a shorter sequence or a smaller "
            + "model, or --precision to trade exactness for memory; free tensors you no longer need (Dispose or a "
            + "TensorScope). The allocator stays usable.", inner);
    }

    // The op being run: the memory-profile label when one is set (the backward pass labels each node), else the
    // first public SpikeSharp method on the stack above the allocation machinery.
    private static string CurrentOp()
    {
        if (MemoryProfile.CurrentLabel is { } label) return label;
        foreach (var frame in new StackTrace().GetFrames())
        {
            var m = frame.GetMethod();
            var t = m?.DeclaringType;
            if (m == null || t == null || !m.IsPublic || t.Namespace?.StartsWith("SpikeSharp", StringComparison.Ordinal)
                != true) continue;
            if (t.Namespace.StartsWith("SpikeSharp.Backends", StringComparison.Ordinal)) continue;
            if (t == typeof(Tensor) && m.Name is "Empty" or "Full" or "Zeros" or "Ones" or "ZerosLike" or "OnesLike"
                or "Scalar") continue;
            return $"{t.Name}.{m.Name}";
        }
        return "an allocation outside a recorded op";
    }
}

/// <summary>A block of the caching allocator: its bytes as a view of its segment.</summary>
public readonly struct IlgpuBlock
{
    internal IlgpuBlock(CachingBlockAllocator<MemoryBuffer1D<byte, Stride1D.Dense>>.Block handle) => Handle = handle;

    internal CachingBlockAllocator<MemoryBuffer1D<byte, Stride1D.Dense>>.Block Handle { get; }

    /// <summary>The block's bytes.</summary>
    public ArrayView<byte> View => Handle.Segment.View.SubView(Handle.Offset, Handle.Size);

    /// <summary>Bytes of the block (at least the storage's).</summary>
    public long LengthInBytes => Handle.Size;
}

/// <summary>Device memory of the ILGPU backend: a block from the caching allocator.</summary>
public sealed class IlgpuStorage : Storage
{
    private readonly IlgpuAllocator _allocator;

    // The block is rented before the base constructor runs: when the device is full, no storage is counted and its
    // finalizer finds nothing to return (a half-built storage would hand the allocator an empty block).
    internal IlgpuStorage(IlgpuBackend backend, IlgpuAllocator allocator, DType dtype, int length)
        : this(backend, allocator, dtype, length, allocator.Rent(Math.Max(1L, (long)length * dtype.SizeInBytes())))
    {
    }

    private IlgpuStorage(IlgpuBackend backend, IlgpuAllocator allocator, DType dtype, int length, IlgpuBlock block)
        : base(backend, dtype, length)
    {
        _allocator = allocator;
        Block = block;
    }

    /// <summary>The raw block (at least the storage's byte size).</summary>
    public IlgpuBlock Block { get; }

    /// <inheritdoc/>
    protected override void Free() => _allocator.Return(Block);

    /// <inheritdoc/>
    protected override void FreeUnreachable() => _allocator.ReturnOrphan(Block);
}
