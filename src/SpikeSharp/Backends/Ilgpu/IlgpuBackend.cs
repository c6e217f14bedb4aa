using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// The GPU backend: ILGPU kernels on a CUDA device (<c>cuda:N</c>) or on ILGPU's CPU accelerator
/// (<c>ilgpu-cpu</c>, for tests). One accelerator, one stream, one caching allocator and one kernel
/// cache per device. Launches are asynchronous; <see cref="Download{T}"/> and
/// <see cref="Synchronize"/> wait and report errors raised by kernels (out-of-range indices);
/// Download also runs the error checks of the registered kernel families.
/// The partial files of this folder are the <see cref="IBackend"/> primitives; feature kernels are
/// separate classes registered in <see cref="IlgpuKernelFamilies"/>, which launch through
/// <see cref="Accelerator"/>, <see cref="Stream"/>, <see cref="View{T}"/>, <see cref="Kernel{TDelegate}"/>
/// and <see cref="Launch1D"/>.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    private readonly object _kernelLock = new();
    private readonly Dictionary<(string, Type), Delegate> _kernels = new();
    private readonly KernelFamilies _families;

    private IlgpuBackend(Device device, Accelerator accelerator)
    {
        Device = device;
        Accelerator = accelerator;
        // Creating an accelerator makes its context current here; record that for EnsureBound.
        accelerator.Bind();
        _boundHere = this;
        Stream = accelerator.CreateStream();
        Memory = new IlgpuAllocator(accelerator, EnsureBound);
        IsCuda = accelerator.AcceleratorType == AcceleratorType.Cuda;
        GroupSize = Math.Min(256, accelerator.MaxNumThreadsPerGroup);
        // Enough resident groups to saturate memory bandwidth with grid-stride loops; the emulation
        // runs groups one after another on the same threads, so one group per launch is cheapest.
        MaxGroups = IsCuda
            ? accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / GroupSize) * 4
            : 1;
        _errors = accelerator.Allocate1D<int>(ErrorSlots);
        _errors.View.MemSetToZero(Stream);
        InitGemm();
        _families = IlgpuKernelFamilies.Create(this);
    }

    /// <summary>Creates the backend for a <c>cuda:N</c> or <c>ilgpu-cpu</c> device.</summary>
    /// <exception cref="ArgumentException">The device is the CPU or a CUDA index that does not exist.</exception>
    public static IBackend Create(Device device)
    {
        switch (device.Type)
        {
            case DeviceType.IlgpuCpu:
                return new IlgpuBackend(device, IlgpuRuntime.CpuDevice.CreateAccelerator(IlgpuRuntime.Context));
            case DeviceType.Cuda:
                var cuda = IlgpuRuntime.CudaDevices;
                if (device.Index >= cuda.Count)
                    throw new ArgumentException(
                        $"device: {device} does not exist ({cuda.Count} CUDA device(s) found"
                        + $"{(cuda.Count == 0 ? "; is the NVIDIA driver installed?" : "")}); "
                        + "use --device cpu or ilgpu-cpu",
                        nameof(device));
                return new IlgpuBackend(device, cuda[device.Index].CreateAccelerator(IlgpuRuntime.Context));
            default:
                throw new ArgumentException(
                    $"device: the ILGPU backend drives cuda:N and ilgpu-cpu, got {device}", nameof(device));
        }
    }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <inheritdoc/>
    public TFamily? Family<TFamily>() where TFamily : class => _families.Get<TFamily>();

    /// <summary>The ILGPU accelerator.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The stream every kernel and copy of this backend runs on.</summary>
    public AcceleratorStream Stream { get; }

    /// <summary>The caching allocator (allocated, cached and peak bytes for reports).</summary>
    public IlgpuAllocator Memory { get; }

    /// <summary>True on a real CUDA device.</summary>
    public bool IsCuda { get; }

    /// <summary>Threads per group of the elementwise kernels.</summary>
    public int GroupSize { get; }

    /// <summary>Most groups a grid-stride launch uses.</summary>
    public int MaxGroups { get; }

    /// <summary>
    /// Loads a kernel once per backend. <paramref name="key"/> names the kernel method; the delegate
    /// type, which carries the generic instantiation (op struct types), completes the cache key.
    /// </summary>
    public TDelegate Kernel<TDelegate>(string key, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        EnsureBound();
        LaunchCounter.Hit(); // callers fetch the kernel right before each launch
        lock (_kernelLock)
        {
            if (_kernels.TryGetValue((key, typeof(TDelegate)), out var d)) return (TDelegate)d;
            var k = load(Accelerator);
            _kernels[(key, typeof(TDelegate))] = k;
            return k;
        }
    }

    /// <summary>Launch shape of a 1-D grid-stride kernel over <paramref name="n"/> items.</summary>
    public KernelConfig Launch1D(long n)
    {
        long groups = Math.Clamp((n + GroupSize - 1) / GroupSize, 1, MaxGroups);
        return new KernelConfig((int)groups, GroupSize);
    }

    /// <summary>The window <paramref name="b"/> as a typed view; T must match the dtype
    /// (float32: float; float16: ILGPU.Half, System.Half or ushort; int32: int; uint8: byte).</summary>
    public ArrayView<T> View<T>(Buf b) where T : unmanaged
    {
        if (!Matches<T>(b.DType))
            throw new ArgumentException(
                $"expected a buffer whose dtype fits {typeof(T).Name}, got {b.DType.Name()}", nameof(b));
        return Raw<T>(b);
    }

    /// <summary>The window as a view of any element type of the dtype's size (bit moves).</summary>
    internal ArrayView<T> Raw<T>(Buf b) where T : unmanaged
    {
        var s = Storage(b);
        int size = b.DType.SizeInBytes();
        if (Unsafe.SizeOf<T>() != size)
            throw new ArgumentException(
                $"element type {typeof(T).Name} has {Unsafe.SizeOf<T>()} bytes, dtype {b.DType.Name()} {size}",
                nameof(b));
        if (b.Length == 0) return ArrayView<T>.Empty;
        ArrayView<byte> all = s.Block.View;
        return all.SubView((long)b.Offset * size, (long)b.Length * size).Cast<T>();
    }

    [ThreadStatic] private static IlgpuBackend? _boundHere;

    /// <summary>
    /// Makes this accelerator's CUDA context current on the calling thread (ILGPU's contexts are not
    /// primary: a thread that did not create the backend, such as a data-loading worker, must bind
    /// it before driver calls). Cheap after the first call on a thread.
    /// </summary>
    public void EnsureBound()
    {
        if (ReferenceEquals(_boundHere, this)) return;
        Accelerator.Bind();
        _boundHere = this;
    }

    private IlgpuStorage Storage(Buf b)
    {
        EnsureBound();
        if (b.Storage is not IlgpuStorage s || !ReferenceEquals(s.Backend, this))
            throw new ArgumentException(
                $"buffer on {b.Storage.Backend.Device} given to the {Device} backend", nameof(b));
        if (s.IsReleased)
            throw new ObjectDisposedException("tensor", "the tensor's memory has been freed (it was disposed)");
        if ((long)b.Offset + b.Length > s.Length || b.Offset < 0 || b.Length < 0)
            throw new ArgumentOutOfRangeException(
                nameof(b),
                $"window [{b.Offset}, {b.Offset + b.Length}) exceeds the storage of {s.Length} elements");
        return s;
    }

    private static bool Matches<T>(DType d) where T : unmanaged => d switch
    {
        DType.Float32 => typeof(T) == typeof(float),
        DType.Int32 => typeof(T) == typeof(int),
        DType.UInt8 => typeof(T) == typeof(byte),
        DType.Float16 => typeof(T) == typeof(ILGPU.Half)
            || typeof(T) == typeof(System.Half)
            || typeof(T) == typeof(ushort),
        _ => false,
    };

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "allocate: length must be >= 0");
        EnsureBound();
        return new IlgpuStorage(this, Memory, dtype, length);
    }

    /// <inheritdoc/>
    public void Upload<T>(ReadOnlySpan<T> src, Buf dst) where T : unmanaged
    {
        CheckLen(src.Length, dst.Length, "upload");
        if (src.Length == 0) return;
        LaunchCounter.Hit();
        View<T>(dst).CopyFromCPU(Stream, src);
    }

    /// <inheritdoc/>
    public void Download<T>(Buf src, Span<T> dst) where T : unmanaged
    {
        CheckLen(src.Length, dst.Length, "download");
        var v = View<T>(src);
        Synchronize();
        _families.ThrowIfDeviceErrors();
        if (dst.Length > 0) v.CopyToCPU(Stream, dst);
        Stream.Synchronize();
    }

    /// <inheritdoc/>
    public void Copy(Buf src, Buf dst)
    {
        CheckLen(src.Length, dst.Length, "copy");
        if (src.DType != dst.DType)
            throw new ArgumentException(
                $"copy: dtype {src.DType.Name()} to {dst.DType.Name()}; use Cast", nameof(dst));
        if (src.Length == 0) return;
        LaunchCounter.Hit();
        Bytes(src).CopyTo(Stream, Bytes(dst));
    }

    /// <summary>The window as raw bytes, whatever its dtype.</summary>
    internal ArrayView<byte> Bytes(Buf b)
    {
        var s = Storage(b);
        int size = b.DType.SizeInBytes();
        ArrayView<byte> all = s.Block.View;
        return b.Length == 0 ? ArrayView<byte>.Empty : all.SubView((long)b.Offset * size, (long)b.Length * size);
    }

    /// <inheritdoc/>
    public void Synchronize()
    {
        EnsureBound();
        Stream.Synchronize();
        CheckErrors();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CheckLen(long a, long b, string op)
    {
        if (a != b) throw new ArgumentException($"{op}: length mismatch ({a} vs {b} elements)");
    }

    /// <summary>CUDA stream handle for native libraries (cuBLAS); zero on the emulated device.</summary>
    internal IntPtr NativeStream => Stream is CudaStream cs ? cs.StreamPtr : IntPtr.Zero;
}
