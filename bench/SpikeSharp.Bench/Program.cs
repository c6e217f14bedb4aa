using SpikeSharp;
using SpikeSharp.Bench;

// spikesharp bench entry: `dotnet run -c Release --project bench/SpikeSharp.Bench -- <suite> [options]`
var suites = new Dictionary<string, Func<string[], int>>(StringComparer.OrdinalIgnoreCase)
{
    ["foundation"] = FoundationBench.Run,
    ["parity"] = a => ParityCheck.Run(a.Length > 1 && a[0] == "--device" ? Device.Parse(a[1]) : Device.Default, Console.Out),
    ["linear-lif"] = LinearLifBench.Run,
    ["neurons"] = NeuronBench.Run,
    ["bandwidth"] = BandwidthProbe.Run,
    ["memory"] = MemoryBench.Run,
    ["optim"] = OptimizerBench.Run,
    ["on"] = OpenNeuromorphicBench.Run,
    ["cpu"] = CpuBench.Run,
    ["train"] = TrainBench.Run,
    ["conv"] = ConvBench.Run,
};
if (args.Length == 0 || !suites.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: SpikeSharp.Bench <suite> [options]; suites: {string.Join(", ", suites.Keys)}");
    return 2;
}
return run(args[1..]);
