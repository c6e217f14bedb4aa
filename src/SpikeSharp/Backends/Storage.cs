namespace SpikeSharp.Backends;

/// <summary>
/// One backend allocation. Reference-counted: a tensor and its views share one storage, which
/// goes back to its backend when the last of them is disposed.
/// </summary>
public abstract class Storage
{
    private int _refs = 1;

    protected Storage(IBackend backend, DType dtype, int length)
    {
        Backend = backend;
        DType = dtype;
        Length = length;
    }

    /// <summary>The backend that owns the memory.</summary>
    public IBackend Backend { get; }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>True once the memory has been returned.</summary>
    public bool IsReleased => Volatile.Read(ref _refs) <= 0;

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
            Free();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Returns the memory to the backend (called once).</summary>
    protected abstract void Free();
}

/// <summary>A window of a storage: elements [Offset, Offset + Length).</summary>
public readonly record struct Buf(Storage Storage, int Offset, int Length)
{
    /// <summary>Element type of the storage.</summary>
    public DType DType => Storage.DType;
}
