namespace SpikeSharp.Backends;

/// <summary>What devices this machine has (placeholder until the ILGPU backend lands).</summary>
public static class DeviceCatalog
{
    /// <summary>Number of working CUDA devices.</summary>
    public static int CudaDeviceCount => 0;
}
