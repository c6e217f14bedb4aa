using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Backends;

/// <summary>One device as reported by <c>spikesharp info</c>.</summary>
/// <param name="Device">The SpikeSharp device it maps to.</param>
/// <param name="Name">Driver name (e.g. "NVIDIA H200").</param>
/// <param name="MemoryBytes">Device memory in bytes.</param>
/// <param name="ComputeCapability">"9.0" on CUDA, empty for the emulation.</param>
/// <param name="WarpSize">Threads per warp.</param>
/// <param name="Multiprocessors">Streaming multiprocessors (emulated ones for ilgpu-cpu).</param>
public sealed record DeviceInfo(Device Device, string Name, long MemoryBytes, string ComputeCapability, int WarpSize, int Multiprocessors);

/// <summary>A native library the GPU backend can use.</summary>
/// <param name="Name">Library (e.g. "cuBLAS").</param>
/// <param name="LoadedFrom">The file that was loaded, or null.</param>
/// <param name="Version">Version reported by the library, or a reason it is unavailable.</param>
public sealed record NativeLibraryInfo(string Name, string? LoadedFrom, string Version);

/// <summary>What devices and GPU libraries this machine has. Cheap and safe to call without a GPU.</summary>
public static class DeviceCatalog
{
    /// <summary>Number of working CUDA devices (0 without an NVIDIA driver).</summary>
    public static int CudaDeviceCount
    {
        get
        {
            try { return IlgpuRuntime.CudaDevices.Count; }
            catch (Exception) { return 0; }
        }
    }

    /// <summary>Every CUDA device, then the ILGPU CPU emulation (the CPU backend itself is not listed).</summary>
    public static IReadOnlyList<DeviceInfo> Devices
    {
        get
        {
            var list = new List<DeviceInfo>();
            try
            {
                var cuda = IlgpuRuntime.CudaDevices;
                for (int i = 0; i < cuda.Count; i++)
                {
                    var d = cuda[i];
                    var arch = d.Architecture;
                    list.Add(new DeviceInfo(SpikeSharp.Device.Cuda(i), d.Name, d.MemorySize,
                        arch.HasValue ? $"{arch.Value.Major}.{arch.Value.Minor}" : "unknown", d.WarpSize, d.NumMultiprocessors));
                }
                var cpu = IlgpuRuntime.CpuDevice;
                list.Add(new DeviceInfo(SpikeSharp.Device.IlgpuCpu, cpu.Name, cpu.MemorySize, "", cpu.WarpSize, cpu.NumMultiprocessors));
            }
            catch (Exception) { }
            return list;
        }
    }

    /// <summary>cuBLAS: the file loaded and its version, or why it is not available.</summary>
    public static IReadOnlyList<NativeLibraryInfo> NativeLibraries
    {
        get
        {
            var api = Cublas.Instance;
            if (api == null) return new[] { new NativeLibraryInfo("cuBLAS", null, "not found: " + Cublas.LoadError) };
            string version = "unknown (no CUDA device to query)";
            if (CudaDeviceCount > 0)
            {
                try
                {
                    var backend = (IlgpuBackend)BackendRegistry.Get(SpikeSharp.Device.Cuda(0));
                    var v = Cublas.Version(backend.CublasHandle);
                    if (v.HasValue) version = $"{v.Value / 10000}.{v.Value / 100 % 100}.{v.Value % 100} ({v.Value})";
                }
                catch (Exception e) { version = "unknown: " + e.Message; }
            }
            return new[] { new NativeLibraryInfo("cuBLAS", Cublas.LoadedFrom, version) };
        }
    }
}
