using SpikeSharp.Backends;

namespace SpikeSharp.Tests;

/// <summary>The devices a backend-parametrised test runs on: the CPU always, the ILGPU kernels on ILGPU's
/// CPU accelerator when that backend is built, and CUDA when a GPU is present.</summary>
public static class TestDevices
{
    private static readonly Lazy<Device[]> _all = new(() =>
    {
        var list = new List<Device> { Device.Cpu };
        foreach (var d in new[] { Device.IlgpuCpu, Device.Cuda(0) })
        {
            try { BackendRegistry.Get(d); list.Add(d); } catch (Exception) { }
        }
        return list.ToArray();
    });

    /// <summary>Every usable device.</summary>
    public static Device[] All => _all.Value;

    /// <summary>xunit member data: one row per device name.</summary>
    public static IEnumerable<object[]> Names => All.Select(d => new object[] { d.ToString() });
}
