using System.Diagnostics;

namespace SpikeSharp.Backends;

/// <summary>
/// One backend allocation. Reference-counted: a tensor and its views share one storage, which
/// goes back to its backend when the last of them is disposed. A storage that becomes unreachable
/// while a tensor still holds a share (a tensor nobody disposed) is returned by its finalizer, counted
/// in <see cref="ReclaimedLeaks"/> and reported with a trace warning: a backstop, not a way to manage memory,
/// since GPU memory is invisible to the garbage collector and may run out long before a collection.
/// </summary>
public abstract class Storage
{
    private static long _reclaimed;
    private int _refs = 1;

    protected Storage(IBackend backend, DType dtype, int length)
    {
        Backend = backend;
        DType = dtype;
        Length = length;
        _profile = MemoryProfile.OnAllocate(Bytes, out _profileTag);
    }

    private readonly MemoryProfile? _profile;
    private string? _profileTag;

    private long Bytes => (long)Length * DType.SizeInBytes();

    /// <summary>Attributes this storage to <paramref name="op"/> in the active <see cref="MemoryProfile"/>, unless an
    /// op or label already claimed it.</summary>
    internal void ClaimFor(string op)
    {
        if (_profile == null || _profileTag != null) return;
        _profileTag = op;
        _profile.Retag(Bytes, op);
    }

    /// <summary>The backend that owns the memory.</summary>
    public IBackend Backend { get; }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>True once the memory has been returned.</summary>
    public bool IsReleased => Volatile.Read(ref _refs) <= 0;

    /// <summary>Every value is exactly representable in bfloat16 (spikes); see
    /// <see cref="Tensor.IsBf16Exact"/>.</summary>
    internal bool Bf16Exact { get; set; }

    /// <summary>Every value is 0 or 1 (spikes; implies <see cref="Bf16Exact"/>); see
    /// <see cref="Tensor.IsBinary"/>.</summary>
    internal bool Binary { get; set; }

    /// <summary>How many tensors share this storage.</summary>
    internal int RefCount => Volatile.Read(ref _refs);

    internal void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
            throw new ObjectDisposedException("storage", "the tensor's memory has already been freed");
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
        {
            _profile?.OnFree(Bytes, _profileTag);
            Free();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Returns the memory to the backend (called once).</summary>
    protected abstract void Free();

    /// <summary>
    /// Returns the memory of a storage that was never released, from the finalizer thread: must not block or
    /// touch the device. The default calls <see cref="Free"/>.
    /// </summary>
    protected virtual void FreeUnreachable() => Free();

    /// <summary>
    /// Storages the finalizer returned because a tensor on them was never disposed (each one is a leak in the
    /// program: dispose tensors, or create them inside a <see cref="TensorScope"/>).
    /// </summary>
    public static long ReclaimedLeaks => Interlocked.Read(ref _reclaimed);

    /// <summary>The leak backstop (see <see cref="ReclaimedLeaks"/>).</summary>
    ~Storage()
    {
        if (Interlocked.Exchange(ref _refs, 0) <= 0) return;
        long n = Interlocked.Increment(ref _reclaimed);
        try
        {
            // 1st, 2nd, 4th, 8th... so a leak in a loop is reported without flooding the trace.
            if ((n & (n - 1)) == 0)
                Trace.TraceWarning($"SpikeSharp: a {DType.Name()} storage of {Length} elements on {Backend.Device} "
                    + $"was never released (a tensor not disposed); the finalizer returned it ({n} so far). "
                    + "Dispose tensors or create them inside a TensorScope.");
            _profile?.OnFree(Bytes, _profileTag);
            FreeUnreachable();
        }
        catch (Exception)
        {
            // A finalizer must not throw: the process would end. The memory is then lost, as before.
        }
    }
}

/// <summary>A window of a storage: elements [Offset, Offset + Length).</summary>
public readonly record struct Buf(Storage Storage, int Offset, int Length)
{
    /// <summary>Element type of the storage.</summary>
    public DType DType => Storage.DType;
}
