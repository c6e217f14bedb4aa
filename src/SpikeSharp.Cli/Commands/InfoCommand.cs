using System.CommandLine;
using System.Runtime.InteropServices;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp info</c>: version, devices, native libraries, default device.</summary>
internal static class InfoCommand
{
    public static Command Build()
    {
        var cmd = new Command("info",
            "Print the version, every device found, the native libraries found, and the default device.");
        cmd.SetAction(_ => { Run(Console.Out); return 0; });
        return cmd;
    }

    public static void Run(TextWriter o)
    {
        o.WriteLine($"SpikeSharp {typeof(Tensor).Assembly.GetName().Version?.ToString(3)}");
        o.WriteLine($".NET {Environment.Version} on {RuntimeInformation.OSDescription} "
            + $"({RuntimeInformation.ProcessArchitecture})");
        o.WriteLine();
        o.WriteLine("Devices:");
        o.WriteLine($"  cpu        {Environment.ProcessorCount} logical cores, "
            + $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 20)} MiB available");
        var devs = Backends.DeviceCatalog.Devices;
        if (!devs.Any(d => d.Device.Type == DeviceType.Cuda))
            o.WriteLine("  cuda       none found (no NVIDIA driver or GPU); GPU kernels can still be tested with "
                + "--device ilgpu-cpu");
        foreach (var d in devs)
            o.WriteLine($"  {d.Device,-10} {d.Name}, "
                + (d.Device.Type == DeviceType.Cuda
                    ? $"{d.MemoryBytes / (1 << 20)} MiB, compute capability {d.ComputeCapability}, "
                    : "runs the GPU kernels on the CPU, ")
                + $"{d.Multiprocessors} multiprocessors, warp {d.WarpSize}");
        o.WriteLine();
        o.WriteLine("Native libraries:");
        foreach (var l in Backends.DeviceCatalog.NativeLibraries)
            o.WriteLine($"  {l.Name,-10} "
                + (l.LoadedFrom == null ? "not found" : $"{l.LoadedFrom} (version {l.Version})"));
        o.WriteLine($"  {"cuDNN",-10} {Backends.CudnnInfo.Describe()}");
        string threads;
        try { threads = $"{Threads.Count} CPU threads"; }
        catch (InvalidOperationException e) { threads = e.Message; }
        o.WriteLine($"  {"CPU BLAS",-10} {Backends.Cpu.CpuBackend.GemmDescription}; {threads}");
        o.WriteLine();
        o.WriteLine(DefaultDeviceLine());
    }

    /// <summary>
    /// The default device, where it comes from, and whether it can run here: SPIKESHARP_DEVICE may name a device
    /// this machine lacks (or no device at all), and then every command without --device fails.
    /// </summary>
    internal static string DefaultDeviceLine()
    {
        const string name = Backends.DeviceCatalog.DeviceVariable;
        var env = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(env))
        {
            var found = Backends.DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu;
            return $"Default device: {found} (the first CUDA device, else cpu; {name} is not set)";
        }
        Device device;
        try { device = Device.Parse(env); }
        catch (ArgumentException)
        {
            return $"Default device: none usable: {name}={env} is not a device " +
                "(expected cpu, cuda, cuda:N or ilgpu-cpu); commands fail unless given --device";
        }
        return Backends.DeviceCatalog.Unavailable(device) is string why
            ? $"Default device: {device} from {name}={env}, which is NOT available here: {why}; " +
              $"commands fail unless given --device (or unset {name})"
            : $"Default device: {device} (from {name}={env})";
    }
}
