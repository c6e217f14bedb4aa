using SpikeSharp.Backends;

namespace SpikeSharp.Tests;

/// <summary>
/// The devices a backend-parametrised test runs on. The CPU backend always; ILGPU's CPU emulation
/// (ilgpu-cpu) always, since it is part of every build: if it does not start, every test that uses this
/// list fails with the reason instead of silently running on fewer devices. CUDA when the machine has a
/// CUDA device: a device that is present but does not start fails the tests too; a machine without one
/// runs no CUDA rows, and <see cref="CudaFactAttribute"/> tests report that as skipped.
/// </summary>
public static class TestDevices
{
    private static readonly Lazy<Device[]> _all = new(() =>
    {
        var list = new List<Device> { Device.Cpu, Start(Device.IlgpuCpu) };
        if (DeviceCatalog.CudaDeviceCount > 0) list.Add(Start(Device.Cuda(0)));
        return list.ToArray();
    });

    /// <summary>Starts the backend of <paramref name="d"/>; an expected device that fails to start throws.</summary>
    internal static Device Start(Device d)
    {
        try
        {
            BackendRegistry.Get(d);
            return d;
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"test devices: the {d} backend is expected on this machine but failed "
                + $"to start ({e.GetType().Name}: {e.Message}); the device-parametrised tests cannot run", e);
        }
    }

    /// <summary>Every device: the CPU, ilgpu-cpu and CUDA when present.</summary>
    public static Device[] All => _all.Value;

    /// <summary>
    /// Devices for training-style tests (many steps through whole models): the CPU backend and CUDA when
    /// present, not the emulation, whose launches cost milliseconds each; the emulation runs the per-kernel
    /// parity tests (<see cref="Names"/>).
    /// </summary>
    public static Device[] Training => All.Where(d => d != Device.IlgpuCpu).ToArray();

    /// <summary>xunit member data: one row per device name (<see cref="All"/>).</summary>
    public static IEnumerable<object[]> Names => All.Select(d => new object[] { d.ToString() });

    /// <summary>xunit member data: one row per training device name (<see cref="Training"/>).</summary>
    public static IEnumerable<object[]> TrainingNames => Training.Select(d => new object[] { d.ToString() });
}

/// <summary>A fact that needs a CUDA device: reported as skipped, with the reason, on a machine without one.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when no CUDA device is found.</summary>
    public CudaFactAttribute()
    {
        if (DeviceCatalog.CudaDeviceCount == 0)
            Skip = "no CUDA device on this machine: the CUDA rows of the device tests do not run";
    }
}
