namespace SpikeSharp.Backends.Ilgpu;

/// <summary>Placeholder until the ILGPU backend lands.</summary>
public static class IlgpuBackend
{
    /// <summary>Creates the backend for a CUDA or ilgpu-cpu device.</summary>
    public static IBackend Create(Device device) =>
        throw new NotSupportedException($"device {device}: the ILGPU backend is not built yet; use --device cpu");
}
