using System.Globalization;
using System.Text.Json;
using SpikeSharp.Backends;
using SpikeSharp.Neurons;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Bench;

/// <summary>
/// <c>linear-lif</c>: the fused LinearLif layer (bias-prefilled GEMM over all T·B rows + fused LIF) against
/// Linear then LIF composed from ops, forward and forward+backward, median milliseconds.
/// Options: --device D (default: cuda when present, else cpu), --reps N (default 20), --out FILE (JSON).
/// </summary>
internal static class LinearLifBench
{
    private sealed record Row(string Device, int T, int B, int In, int Out, string Pass, double FusedMs, double UnfusedMs, double Speedup);

    public static int Run(string[] args)
    {
        string? Opt(string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
        var device = Opt("--device") is { } d ? Device.Parse(d) : (DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu);
        int reps = int.Parse(Opt("--reps") ?? "20", CultureInfo.InvariantCulture);
        string outFile = Opt("--out") ?? "bench-results/linear_lif.json";
        var backend = BackendRegistry.Get(device);
        var sizes = device.Type == DeviceType.Cuda
            ? new[] { (64, 32, 384, 384), (64, 32, 384, 1536), (256, 64, 512, 2048), (16, 256, 1024, 1024) }
            : new[] { (64, 8, 64, 64), (64, 8, 64, 256), (32, 16, 128, 512) };
        var rows = new List<Row>();
        Console.WriteLine($"linear-lif on {device}: median of {reps} (ms)");
        Console.WriteLine($"{"T",5} {"B",5} {"in",6} {"out",6}  {"pass",8}  {"fused",9}  {"unfused",9}  speedup");
        foreach (var (t, b, inF, outF) in sizes)
        {
            using var layer = new LinearLif(inF, outF, threshold: 0.5f, gen: new Generator(1), device: device);
            using var x = Tensor.Randn(new[] { t, b, inF }, new Generator(2), device);
            x.RequiresGrad = true;
            Tensor Fused(Tensor xx) { layer.ResetState(); return layer.Forward(xx); }
            Tensor Unfused(Tensor xx) => SpikingFunctions.Lif(Tensor.Linear(xx, layer.Weight, layer.Bias), null, layer.Decay(), layer.Threshold, layer.Options).Spikes;

            // Check before timing: same spikes (a rare flip at exactly the threshold is tolerated).
            using (var scope = TensorScope.Begin())
            {
                var a = Fused(x).ToArray(); var c = Unfused(x).ToArray();
                int diff = a.Zip(c, (p, q) => p != q ? 1 : 0).Sum();
                if (diff > a.Length / 10000 + 1) throw new InvalidOperationException($"linear-lif bench: fused and unfused spikes differ at {diff} of {a.Length} positions; not timing");
            }
            foreach (var pass in new[] { "fwd", "fwd+bwd" })
            {
                double Time(Func<Tensor, Tensor> f) => FoundationTiming.MedianMs(() =>
                {
                    using var scope = TensorScope.Begin();
                    if (pass == "fwd") { using (Autograd.Tape.NoGrad()) f(x); return; }
                    f(x).Sum().Backward();
                    layer.ZeroGrad(setToNone: true); x.Grad?.Dispose(); x.Grad = null;
                }, backend.Synchronize, reps);
                double fm = Time(Fused), um = Time(Unfused);
                var r = new Row(device.ToString(), t, b, inF, outF, pass, fm, um, um / fm);
                rows.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{t,5} {b,5} {inF,6} {outF,6}  {pass,8}  {fm,9:F3}  {um,9:F3}  {r.Speedup:F2}×"));
            }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
        File.WriteAllText(outFile, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {outFile}");
        return 0;
    }
}
