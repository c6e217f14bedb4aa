namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// Host memory of the CPU backend: a managed array of the dtype's element type, rented from the backend's caching
/// allocator (see <see cref="CpuBackend.CachedBytes"/>) and handed back to it when the storage is released.
/// </summary>
public sealed class CpuStorage : Storage
{
    internal CpuStorage(IBackend backend, DType dtype, int length) : base(backend, dtype, length)
    {
        Data = dtype switch
        {
            DType.Float32 => HostPool.Rent<float>(length),
            DType.Float16 => HostPool.Rent<Half>(length),
            DType.Int32 => HostPool.Rent<int>(length),
            DType.UInt8 => HostPool.Rent<byte>(length),
            _ => throw new NotSupportedException(dtype.ToString()),
        };
    }

    /// <summary>
    /// float[], Half[], int[] or byte[]: elements [0, <see cref="Storage.Length"/>) are the storage's. The array may
    /// be longer (allocator buckets are up to 25 % larger than asked for) and is reused by later storages once this
    /// one is released, so do not keep it beyond the storage's life. Empty after release.
    /// </summary>
    public Array Data { get; private set; }

    /// <inheritdoc/>
    protected override void Free()
    {
        var d = Data;
        Data = Array.Empty<float>();
        HostPool.Return(d);
    }

    /// <inheritdoc/>
    protected override void FreeUnreachable()
    {
        var d = Data;
        Data = Array.Empty<float>();
        HostPool.ReturnOrphan(d);
    }
}

internal static class CpuBuf
{
    public static Span<float> F(this Buf b) => Span<float>(b);
    public static Span<int> I(this Buf b) => Span<int>(b);

    public static Span<T> Span<T>(this Buf b) where T : unmanaged
    {
        if (b.Storage is not CpuStorage s)
            throw new ArgumentException($"buffer on {b.Storage.Backend.Device} given to the CPU backend");
        if (s.IsReleased)
            throw new ObjectDisposedException("tensor", "the tensor's memory has been freed (it was disposed)");
        if (s.Data is not T[] arr)
            throw new ArgumentException($"expected a {DTypeExtensions.Of<T>().Name()} buffer, got {s.DType.Name()}");
        return arr.AsSpan(b.Offset, b.Length);
    }

    public static T[] Array<T>(this Buf b) where T : unmanaged => (T[])((CpuStorage)b.Storage).Data;
}
