using System.CommandLine;

namespace SpikeSharp.Cli.Commands;

/// <summary>The shared <c>--device</c> option.</summary>
internal static class DeviceOption
{
    public static Option<string?> Create() => new("--device")
    {
        Description = "cpu, cuda, cuda:N or ilgpu-cpu (default: SPIKESHARP_DEVICE, else the first CUDA device, else cpu)",
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
