namespace SpikeSharp.Backends;

/// <summary>What devices this machine has (placeholder until the ILGPU backend lands).</summary>
public static class DeviceCatalog
{
    /// <summary>Number of working CUDA devices.</summary>
    public static int CudaDeviceCount => 0;

    /// <summary>One line per non-CPU device.</summary>
    public static IEnumerable<string> Describe() { yield return "cuda       none found (ILGPU backend not built)"; }

    /// <summary>One line per native library probed.</summary>
    public static IEnumerable<string> NativeLibraries() { yield return "cuBLAS     not probed"; }
}
