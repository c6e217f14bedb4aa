namespace SpikeSharp;

/// <summary>Kinds of device a tensor can live on.</summary>
public enum DeviceType
{
    /// <summary>The multi-threaded SIMD CPU backend: the reference every kernel is checked against.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through ILGPU's CUDA accelerator.</summary>
    Cuda,
    /// <summary>The GPU kernels run on ILGPU's CPU accelerator (slow; for testing GPU code without a GPU).</summary>
    IlgpuCpu,
}

/// <summary>
/// A device: <c>cpu</c>, <c>cuda:N</c>, or <c>ilgpu-cpu</c> (GPU kernels emulated on the CPU, for tests).
/// </summary>
public readonly record struct Device(DeviceType Type, int Index = 0)
{
    /// <summary>The CPU backend.</summary>
    public static Device Cpu => new(DeviceType.Cpu);

    /// <summary>CUDA device <paramref name="index"/>.</summary>
    public static Device Cuda(int index = 0) => new(DeviceType.Cuda, index);

    /// <summary>GPU kernels on ILGPU's CPU accelerator.</summary>
    public static Device IlgpuCpu => new(DeviceType.IlgpuCpu);

    /// <summary>True for devices whose memory is not host memory (CUDA and the ILGPU emulation).</summary>
    public bool IsIlgpu => Type != DeviceType.Cpu;

    /// <summary>Parses <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>, <c>ilgpu-cpu</c> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The text is none of these.</exception>
    public static Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim().ToLowerInvariant();
        if (s == "cpu") return Cpu;
        if (s == "ilgpu-cpu") return IlgpuCpu;
        if (s == "cuda" || s == "gpu") return Cuda(0);
        if (s.StartsWith("cuda:") && int.TryParse(s.AsSpan(5), out int i) && i >= 0) return Cuda(i);
        throw new ArgumentException(
            $"device: expected 'cpu', 'cuda', 'cuda:N' (N >= 0) or 'ilgpu-cpu', got '{text}'", "device");
    }

    /// <inheritdoc/>
    public override string ToString() => Type switch
    {
        DeviceType.Cpu => "cpu",
        DeviceType.Cuda => $"cuda:{Index}",
        DeviceType.IlgpuCpu => "ilgpu-cpu",
        _ => Type.ToString(),
    };

    /// <summary>
    /// The default device: <c>SPIKESHARP_DEVICE</c> when set, else the first working CUDA device, else the CPU.
    /// Settable for the process (the CLI's <c>--device</c>).
    /// </summary>
    public static Device Default
    {
        get => _default ??= ResolveDefault();
        set => _default = value;
    }

    private static Device? _default;

    private static Device ResolveDefault()
    {
        var env = Environment.GetEnvironmentVariable("SPIKESHARP_DEVICE");
        if (!string.IsNullOrWhiteSpace(env)) return Parse(env);
        return Backends.DeviceCatalog.CudaDeviceCount > 0 ? Cuda(0) : Cpu;
    }
}
