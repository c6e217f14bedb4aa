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
public sealed record DeviceInfo(
    Device Device, string Name, long MemoryBytes, string ComputeCapability, int WarpSize, int Multiprocessors);

/// <summary>A native library the GPU backend can use.</summary>
/// <param name="Name">Library (e.g. "cuBLAS").</param>
/// <param name="LoadedFrom">The file that was loaded, or null.</param>
/// <param name="Version">Version reported by the library, or a reason it is unavailable.</param>
public sealed record NativeLibraryInfo(string Name, string? LoadedFrom, string Version);

/// <summary>What devices and GPU libraries this machine has. Cheap and safe to call without a GPU.</summary>
public static class DeviceCatalog
{
    /// <summary>The environment variable naming the default device (<see cref="SpikeSharp.Device.Default"/>).</summary>
    public const string DeviceVariable = "SPIKESHARP_DEVICE";

    /// <summary>
    /// Why <paramref name="device"/> cannot be used on this machine ("no CUDA device found: …"), or null when it
    /// can. Does not create a backend: cheap enough to check options before anything is loaded.
    /// </summary>
    public static string? Unavailable(Device device)
    {
        if (device.Type != DeviceType.Cuda) return null; // the CPU backend and ILGPU's CPU emulation always run
        int count = CudaDeviceCount;
        if (count == 0) return "no CUDA device found (" + WhyNoCuda() + ")";
        if (device.Index >= count)
            return count == 1
                ? "this machine has 1 CUDA device (cuda:0)"
                : $"this machine has {count} CUDA devices (cuda:0 to cuda:{count - 1})";
        return null;
    }

    // Tells a missing driver from a driver that sees no GPU: the fixes differ.
    private static string WhyNoCuda()
    {
        string lib = OperatingSystem.IsWindows() ? "nvcuda.dll" : OperatingSystem.IsMacOS() ? "" : "libcuda.so.1";
        if (lib.Length == 0) return "CUDA is not supported on macOS";
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad(lib, out var handle))
            return $"the NVIDIA driver library {lib} could not be loaded: no NVIDIA driver installed";
        System.Runtime.InteropServices.NativeLibrary.Free(handle);
        return $"the NVIDIA driver ({lib}) is installed but reports no usable GPU";
    }

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
                    string capability = arch.HasValue ? $"{arch.Value.Major}.{arch.Value.Minor}" : "unknown";
                    list.Add(new DeviceInfo(
                        SpikeSharp.Device.Cuda(i), d.Name, d.MemorySize, capability, d.WarpSize, d.NumMultiprocessors));
                }
                var cpu = IlgpuRuntime.CpuDevice;
                list.Add(new DeviceInfo(
                    SpikeSharp.Device.IlgpuCpu, cpu.Name, cpu.MemorySize, "", cpu.WarpSize, cpu.NumMultiprocessors));
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
