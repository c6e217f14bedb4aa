using System.CommandLine;

namespace SpikeSharp.Cli.Commands;

/// <summary>The shared <c>--device</c> option.</summary>
internal static class DeviceOption
{
    public static Option<string?> Create() => new("--device")
    {
        Description = "cpu, cuda, cuda:N or ilgpu-cpu (default: SPIKESHARP_DEVICE, else the first CUDA device, "
            + "else cpu)",
    };

    /// <summary>Applies the option (if given) as the process default device and returns the device.</summary>
    public static Device Apply(string? value)
    {
        if (!string.IsNullOrWhiteSpace(value)) Device.Default = Device.Parse(value);
        var d = Device.Default;
        Backends.BackendRegistry.Get(d); // fail early with the backend's message
        return d;
    }
}

/// <summary>Memory figures printed at the end of a run.</summary>
internal static class MemoryReport
{
    /// <summary>"peak device memory: N MiB (allocator high-water mark)" for GPU devices; null on the CPU.</summary>
    public static string? Line(Device device) =>
        Backends.BackendRegistry.Get(device) is Backends.Ilgpu.IlgpuBackend b
            ? $"peak device memory: {b.Memory.PeakBytes / (1 << 20)} MiB (caching allocator high-water mark on "
                + $"{device})"
            : null;
}
