using System.Globalization;
using System.Text.Json;
using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Neurons;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

/// <summary>One measured (or derived) figure of the <c>neurons</c> suite.</summary>
/// <param name="Pass">infer (no grad), fwd (training forward: h and bits kept), fwd+bwd (backward kernel called
/// through the autograd node), fwd+bwd tape (Backward(g) on the spikes, including the tape's leaf-gradient copy),
/// bwd (derived: fwd+bwd − fwd).</param>
/// <param name="CountedBytes">Bytes the fused kernels must move (see docs/neurons-bench.md); GB/s and the floor use it.</param>
public sealed record NeuronResult(string Device, int T, int N, string SavedH, string Pass, double MedianMs,
    long CountedBytes, double CountedBytesPerStep, double GBps, double FractionOfPeak, double FloorMs,
    double SavedBytesPerStep, double FiringRate, double? TetherMs, double? SpeedupVsTether);

/// <summary>
/// <c>neurons</c>: the fused multi-step LIF at the SEMANTICS §4 shapes, inference / training forward / forward+backward,
/// float32 and float16 saved h, against the H200 copy bandwidth and the tether reference times.
/// Options: --device D (default: cuda when present, else cpu), --out FILE (JSON), --small, --reps N (default 20).
/// </summary>
internal static class NeuronBench
{
    private const double PeakGBs = 4129.0; // H200 device-to-device copy, bytes read + written
    private const float Decay = 0.5f, Threshold = 1f;

    // T, N, tether fwd ms, tether fwd+bwd ms (SEMANTICS §4, one H200, fp32).
    private static readonly (int T, int N, double? Fwd, double? FwdBwd)[] FullCases =
    {
        (16, 4194304, 0.433, 0.688), (64, 1048576, 0.308, 0.832), (256, 65536, 0.251, 0.947), (2048, 24576, 1.310, 4.564),
    };
    private static readonly (int T, int N, double? Fwd, double? FwdBwd)[] SmallCases = { (16, 4096, null, null), (37, 1000, null, null) };

    public static int Run(string[] args)
    {
        var device = DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu;
        string? outFile = null; bool small = false; int reps = 20;
        for (int i = 0; i < args.Length; i++)
        {
            if (i + 1 >= args.Length && args[i] is "--device" or "--out" or "--reps")
            { Console.Error.WriteLine($"neurons: option '{args[i]}' needs a value"); return 2; }
            switch (args[i])
            {
                case "--device": device = Device.Parse(args[++i]); break;
                case "--out": outFile = args[++i]; break;
                case "--small": small = true; break;
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"neurons: unknown option '{args[i]}' (--device D, --out FILE, --small, --reps N)"); return 2;
            }
        }
        if (reps < 1) { Console.Error.WriteLine($"neurons: --reps must be >= 1, got {reps}"); return 2; }
        var backend = BackendRegistry.Get(device);
        Console.WriteLine($"neurons on {device}: fused LIF (λ = {Decay}, θ = {Threshold}, hard reset, arctan α = 2), x ~ N(0.5, 0.5²), median of {reps}");

        // Correctness before any timing: the device against the CPU specification, same seeded inputs.
        foreach (var (t, n) in new[] { (16, 4096), (37, 1000), (12, 1001), (5, 4096) })
            foreach (var h in new[] { DType.Float32, DType.Float16 })
                CheckAgainstCpu(device, t, n, h);
        

        var results = new List<NeuronResult>();
        foreach (var c in small ? SmallCases : FullCases) RunCase(backend, c, reps, results, withVariants: c.T == 16);

        Console.WriteLine();
        Console.WriteLine($"{"T×N",-14} {"h",-4} {"pass",-12} {"ms",9} {"B/step",7} {"GB/s",8} {"%peak",6} {"floor",7} {"saved",6} {"fire",5} {"tether",7} {"×",6}");
        foreach (var r in results)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{$"{r.T}×{r.N}",-14} {r.SavedH,-4} {r.Pass,-12} {r.MedianMs,9:F3} {r.CountedBytesPerStep,7:F2} {r.GBps,8:F1} {100 * r.FractionOfPeak,5:F1}% {r.FloorMs,7:F4} {r.SavedBytesPerStep,6:F3} {r.FiringRate,5:F3} {(r.TetherMs is double tm ? tm.ToString("F3", CultureInfo.InvariantCulture) : "-"),7} {(r.SpeedupVsTether is double s ? s.ToString("F2", CultureInfo.InvariantCulture) : "-"),6}"));
        if (outFile != null)
        {
            var doc = new { suite = "neurons", device = device.ToString(), small, reps, machine = Environment.MachineName, peakGBs = PeakGBs, results };
            var dir = Path.GetDirectoryName(Path.GetFullPath(outFile));
            if (dir != null) Directory.CreateDirectory(dir);
            File.WriteAllText(outFile, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {outFile}");
        }
        return 0;
    }

    private static SpikingOptions Options(DType h) => SpikingOptions.Default with { SavedDType = h };

    private static Tensor Input(int t, int n, Device d) => Tensor.Randn(new[] { t, n }, new Generator(11), d, mean: 0.5f, std: 0.5f);

    private static Tensor UpstreamGrad(int t, int n, Device d) => Tensor.Randn(new[] { t, n }, new Generator(12), d);

    /// <summary>The backward kernel alone: the LIF node's backward function with a given spike gradient
    /// (no leaf-gradient copy, unlike Tape.Backward). Returns grad x.</summary>
    private static Tensor BackwardThroughNode(SpikingResult r, Tensor g)
    {
        var fn = r.Spikes.GradFn?.Fn ?? throw new InvalidOperationException("neurons bench: the spikes carry no backward node (x must require grad)");
        using (Tape.NoGrad()) return fn(new Tensor?[] { g, null })[0]!;
    }

    private static (float[] Spikes, float[] Gx) SpikesAndGrad(Device d, int t, int n, DType h)
    {
        using var scope = TensorScope.Begin();
        var x = Input(t, n, d); x.RequiresGrad = true;
        using var decay = Tensor.Full(new[] { 1 }, Decay, DType.Float32, d);
        using var th = Tensor.Full(new[] { 1 }, Threshold, DType.Float32, d);
        var r = SpikingFunctions.Lif(x, null, decay, th, Options(h));
        var gx = BackwardThroughNode(r, UpstreamGrad(t, n, d));
        return (r.Spikes.ToArray(), gx.ToArray());
    }

    private static void CheckAgainstCpu(Device device, int t, int n, DType h)
    {
        var (sd, gd) = SpikesAndGrad(device, t, n, h);
        var (sc, gc) = SpikesAndGrad(Device.Cpu, t, n, h);
        int flips = 0;
        for (int i = 0; i < sd.Length; i++) if (sd[i] != sc[i]) flips++;
        // A value landing within rounding of θ may fire on one device only; more than a handful is a bug.
        if (flips > 2 + sd.Length / 10000)
            throw new InvalidOperationException($"neurons bench: {device} spikes differ from the cpu backend at {flips} of {sd.Length} positions (T={t}, N={n}, h {h.Name()}); not timing a wrong kernel");
        string where = $"T={t}, N={n}, h {h.Name()}";
        if (flips > 0) { Console.WriteLine($"check {where}: {flips} spike flip(s) at the threshold; grad x not compared"); return; }
        double maxDiff = 0, scale = 1;
        for (int i = 0; i < gd.Length; i++) { maxDiff = Math.Max(maxDiff, Math.Abs(gd[i] - gc[i])); scale = Math.Max(scale, Math.Abs(gc[i])); }
        // float16 h: one half-ulp of rounding difference (ILGPU's host-side Half conversion does not round like
        // System.Half) is amplified by the surrogate's slope, so a few 1e-3 relative is expected there.
        double tol = h == DType.Float16 ? 1e-2 : 1e-4;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {where}: spikes equal, grad x max error {maxDiff / scale:E2} relative (tolerance {tol:E0})"));
        if (!(maxDiff / scale < tol))
            throw new InvalidOperationException($"neurons bench: {device} grad x differs from the cpu backend by {maxDiff:E2} (scale {scale:F2}; {where}); not timing a wrong kernel");
    }

    /// <summary>CUDA events on a GPU (device time of the enqueued work, host kept ahead), else wall clock with a sync per run.</summary>
    private static double Time(IBackend be, Action run, int reps) =>
        be is Backends.Ilgpu.IlgpuBackend { IsCuda: true } ib
            ? GpuTiming.MedianMs(ib.Accelerator, ib.Stream, run, reps)
            : MedianMs(run, be.Synchronize, reps);

    private static void RunCase(IBackend be, (int T, int N, double? Fwd, double? FwdBwd) c, int reps, List<NeuronResult> results, bool withVariants)
    {
        var d = be.Device; string dev = d.ToString();
        int T = c.T, N = c.N; long steps = (long)T * N;
        var x = Input(T, N, d); x.RequiresGrad = true;
        var g = UpstreamGrad(T, N, d);
        var decay = Tensor.Full(new[] { 1 }, Decay, DType.Float32, d);
        var th = Tensor.Full(new[] { 1 }, Threshold, DType.Float32, d);
        try
        {
            double rate;
            using (var scope = TensorScope.Begin())
            using (Tape.NoGrad())
                rate = SpikingFunctions.Lif(x, null, decay, th).Spikes.Sum().Item() / steps;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{T}×{N}: firing rate {rate:P1}"));
            if (rate < 0.05 || rate > 0.60)
                throw new InvalidOperationException($"neurons bench: firing rate {rate:P1} at T={T}, N={N} is outside 5%..60%; the inputs do not exercise the kernels");

            var bitsShape = SpikeBits.Shape(T, N);
            long bitsBytes = 4L * bitsShape[0] * bitsShape[1], stateBytes = 4L * N; // packed spikes as stored; vT written (v0 = zeros, not read)
            NeuronResult Row(string h, string pass, double ms, long bytes, double saved, double? tether) => new(dev, T, N, h, pass, ms,
                bytes, (double)bytes / steps, bytes / (ms * 1e6), bytes / (ms * 1e6) / PeakGBs, bytes / (PeakGBs * 1e6), saved, rate,
                tether, tether is double tm ? tm / ms : null);

            // (a) inference: x in, spikes and vT out, nothing kept.
            double inferMs = Time(be, () =>
            {
                using var scope = TensorScope.Begin();
                using (Tape.NoGrad()) SpikingFunctions.Lif(x, null, decay, th);
            }, reps);
            results.Add(Row("-", "infer", inferMs, 8 * steps + stateBytes, 0, null));

            // The shipped configurations, then (first shape only) the same run with one design choice undone:
            // "f32-h" saves h even for T ≤ 16 (no recompute), "*-1n" uses the one-neuron-per-thread kernels.
            // For T > 16 on a GPU, "f32-dK" forces K steps of loads per backward batch (the launch picks one by N).
            var variants = new List<(string Name, DType H, bool Vec4, bool Recompute, int Depth)> { ("f32", DType.Float32, true, true, 0), ("f16", DType.Float16, true, true, 0) };
            bool gpu = be is Backends.Ilgpu.IlgpuBackend { IsCuda: true };
            if (withVariants && gpu)
            {
                if (SpikeBits.Recompute(T, DType.Float32, false)) variants.Add(("f32-h", DType.Float32, true, false, 0));
                variants.Add(("f32-1n", DType.Float32, false, true, 0));
                variants.Add(("f16-1n", DType.Float16, false, true, 0));
            }
            if (gpu && T > 16) foreach (int depth in new[] { 4, 8, 16 }) variants.Add(($"f32-d{depth}", DType.Float32, true, true, depth));
            foreach (var (hName, hType, vec4, recompute, depth) in variants)
            {
                Backends.Ilgpu.IlgpuBackend.Vec4Enabled = vec4;
                SpikeBits.RecomputeEnabled = recompute;
                Neurons.Ilgpu.NeuronKernels.DepthOverride = depth;
                try
                {
                    var o = Options(hType);
                    bool re = SpikeBits.Recompute(T, hType, false);
                    int hb = hType.SizeInBytes();
                    // Recompute mode writes no h and reads x (4 B) in its place.
                    long fwdBytes = (re ? 8L : 8L + hb) * steps + bitsBytes + stateBytes;
                    long bwdBytes = (re ? 12L : 8L + hb) * steps + bitsBytes;
                    double saved;
                    using (var scope = TensorScope.Begin()) saved = SpikingFunctions.Lif(x, null, decay, th, o).SavedBytesPerNeuronStep;

                    // (b) training forward: h (or nothing, in recompute mode) and bits are kept for backward.
                    double fwdMs = Time(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        SpikingFunctions.Lif(x, null, decay, th, o);
                    }, reps);
                    // (c) forward + backward kernel, driven by the fixed upstream gradient g.
                    double fbMs = Time(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        BackwardThroughNode(SpikingFunctions.Lif(x, null, decay, th, o), g);
                    }, reps);
                    // (c') the same through the tape, as a training step sees it (x.Grad is created, then dropped).
                    double tapeMs = Time(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        SpikingFunctions.Lif(x, null, decay, th, o).Spikes.Backward(g);
                        x.Grad?.Dispose(); x.Grad = null;
                    }, reps);

                    bool f32 = hName == "f32"; // the tether figures are fp32
                    results.Add(Row(hName, "fwd", fwdMs, fwdBytes, saved, f32 ? c.Fwd : null));
                    results.Add(Row(hName, "fwd+bwd", fbMs, fwdBytes + bwdBytes, saved, f32 ? c.FwdBwd : null));
                    results.Add(Row(hName, "fwd+bwd tape", tapeMs, fwdBytes + bwdBytes, saved, f32 ? c.FwdBwd : null));
                    results.Add(Row(hName, "bwd", Math.Max(fbMs - fwdMs, 1e-6), bwdBytes, saved,
                        f32 && c.FwdBwd is double tfb && c.Fwd is double tf ? tfb - tf : null));
                }
                finally
                {
                    Backends.Ilgpu.IlgpuBackend.Vec4Enabled = true;
                    SpikeBits.RecomputeEnabled = true;
                    Neurons.Ilgpu.NeuronKernels.DepthOverride = 0;
                }
            }
        }
        finally
        {
            x.Grad?.Dispose();
            foreach (var t in new[] { x, g, decay, th }) t.Dispose();
        }
    }
}
