using System.Globalization;
using System.Text.Json;
using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Neurons;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

/// <summary>One measured (or derived) figure of the <c>neurons</c> suite; every number comes from this run.</summary>
/// <param name="Pass">infer (no grad), fwd (training forward: h and bits kept), fwd+bwd (the user's path:
/// <c>SpikingFunctions.Lif</c> then <c>Tensor.Backward</c> through the tape, which also copies grad x into
/// <c>x.Grad</c>), fwd+bwd node (the LIF node's backward function called directly: the kernels alone), bwd (derived:
/// fwd+bwd node − fwd).</param>
/// <param name="WallMs">Headline: median wall clock per call with a device synchronisation after each call, as a
/// user's training step sees it.</param>
/// <param name="DeviceMs">Median CUDA-event interval per call with the calls enqueued back to back (device time, the
/// host kept ahead); null off CUDA.</param>
/// <param name="PeakBytes">Allocator high-water mark during the wall-clock calls, inputs included; null on the CPU
/// backend (managed arrays: no allocator to ask).</param>
/// <param name="CountedBytes">Bytes the fused kernels must move (see docs/neurons-bench.md); GB/s and the floor use it.</param>
/// <param name="GBps">Counted bytes over the device time on CUDA, over the wall time elsewhere.</param>
public sealed record NeuronResult(string Device, int T, int N, string SavedH, string Pass, double WallMs,
    double? DeviceMs, long? PeakBytes, long CountedBytes, double CountedBytesPerStep, double GBps,
    double FractionOfPeak, double FloorMs, double SavedBytesPerStep, double FiringRate);

/// <summary>
/// A figure recorded elsewhere for another library, printed as a labelled reference only: it was not measured in this
/// run (another process, another date, another timing method), so no ratio is taken against it.
/// </summary>
public sealed record PeerReference(string Library, string Pass, int T, int N, double Ms, string Hardware, string Source,
    string Recorded, string Method);

/// <summary>
/// <c>neurons</c>: the fused multi-step LIF at the SEMANTICS §4 shapes, inference / training forward / forward+backward,
/// float32 and float16 saved h. The headline column is the user's path timed as a training step sees it (wall clock, a
/// sync per call); device time (CUDA events, pipelined) and peak device memory stand beside it. Peer libraries'
/// figures recorded elsewhere follow the table as labelled references and are never divided by ours.
/// Options: --device D (default: cuda when present, else cpu), --out FILE (JSON), --small, --reps N (default 20).
/// </summary>
internal static class NeuronBench
{
    private const double PeakGBs = 4129.0; // H200 device-to-device copy, bytes read + written
    private const float Decay = 0.5f, Threshold = 1f;

    private static readonly (int T, int N)[] FullCases = { (16, 4194304), (64, 1048576), (256, 65536), (2048, 24576) };
    private static readonly (int T, int N)[] SmallCases = { (16, 4096), (37, 1000) };

    // SEMANTICS.md §4 of the project's seed (one H200, fp32 h, medians) for the four full shapes: tether's fwd and
    // fwd+bwd, SpikingJelly's and snnTorch's fwd+bwd. That file states neither the date nor the timing method.
    private const string RefSource = "SEMANTICS.md §4 (the project's seed)";
    private const string RefRecorded = "before 2026-12-02 (no date in the source)";
    private const string RefMethod = "median; timing method not stated in the source";
    private const string RefHardware = "one NVIDIA H200, fp32 h";

    /// <summary>The recorded peer figures (references, not measurements of this run).</summary>
    internal static readonly PeerReference[] References = BuildReferences();

    private static PeerReference[] BuildReferences()
    {
        var rows = new (string Library, string Pass, double?[] Ms)[]
        {
            ("tether (tetherpy 0.2.0)", "fwd", new double?[] { 0.433, 0.308, 0.251, 1.310 }),
            ("tether (tetherpy 0.2.0)", "fwd+bwd", new double?[] { 0.688, 0.832, 0.947, 4.564 }),
            ("SpikingJelly (triton)", "fwd+bwd", new double?[] { 1.894, 1.891, 1.610, 2.953 }),
            ("SpikingJelly (cupy)", "fwd+bwd", new double?[] { 1.759, 1.766, 1.935, 2.988 }),
            ("snnTorch", "fwd+bwd", new double?[] { 11.39, 38.0, 165, null }),
        };
        var list = new List<PeerReference>();
        foreach (var (lib, pass, ms) in rows)
            for (int i = 0; i < FullCases.Length; i++)
                if (ms[i] is double v)
                    list.Add(new PeerReference(lib, pass, FullCases[i].T, FullCases[i].N, v,
                        RefHardware, RefSource, RefRecorded, RefMethod));
        return list.ToArray();
    }

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
                case "--device":
                    try { device = Device.Parse(args[++i]); }
                    catch (ArgumentException)
                    {
                        Console.Error.WriteLine(
                            $"neurons: --device: expected cpu, cuda, cuda:N or ilgpu-cpu, got '{args[i]}'");
                        return 2;
                    }
                    if (DeviceCatalog.Unavailable(device) is string why)
                    {
                        Console.Error.WriteLine($"neurons: --device: {device} is not available: {why}");
                        return 2;
                    }
                    break;
                case "--out": outFile = args[++i]; break;
                case "--small": small = true; break;
                case "--reps":
                    if (!int.TryParse(args[++i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out reps)
                        || reps < 1)
                    {
                        Console.Error.WriteLine($"neurons: --reps: expected a positive whole number, got '{args[i]}'");
                        return 2;
                    }
                    break;
                default: Console.Error.WriteLine($"neurons: unknown option '{args[i]}' (--device D, --out FILE, --small, --reps N)"); return 2;
            }
        }
        var backend = BackendRegistry.Get(device);
        bool cuda = backend is Backends.Ilgpu.IlgpuBackend { IsCuda: true };
        Console.WriteLine($"neurons on {device}: fused LIF (λ = {Decay}, θ = {Threshold}, hard reset, arctan α = 2), x ~ N(0.5, 0.5²), median of {reps}");

        // Correctness before any timing: the device against the CPU specification, same seeded inputs.
        foreach (var (t, n) in new[] { (16, 4096), (37, 1000), (12, 1001), (5, 4096) })
            foreach (var h in new[] { DType.Float32, DType.Float16 })
                CheckAgainstCpu(device, t, n, h);

        var results = new List<NeuronResult>();
        foreach (var c in small ? SmallCases : FullCases) RunCase(backend, c, reps, results, withVariants: c.T == 16);

        Console.WriteLine();
        Console.WriteLine("wall ms: the user's path timed as a training step sees it " +
            "(median, wall clock, a device sync after every call).");
        Console.WriteLine(cuda
            ? "device ms: CUDA events between calls enqueued back to back (device time, host kept ahead); GB/s uses it."
            : "device ms: only on CUDA; GB/s uses wall ms here.");
        Console.WriteLine("peak MiB: allocator high-water mark during the wall-clock calls, inputs included " +
            "(GPU backends only).");
        Console.WriteLine($"{"T×N",-14} {"h",-6} {"pass",-13} {"wall ms",9} {"device ms",10} {"peak MiB",9} " +
            $"{"B/step",7} {"GB/s",8} {"%peak",6} {"floor",7} {"saved",6} {"fire",5}");
        foreach (var r in results)
        {
            var inv = CultureInfo.InvariantCulture;
            string mib = Opt(r.PeakBytes / (double?)(1 << 20), "F1");
            Console.WriteLine(string.Create(inv, $"{$"{r.T}×{r.N}",-14} {r.SavedH,-6} {r.Pass,-13} {r.WallMs,9:F3} ") +
                string.Create(inv, $"{Opt(r.DeviceMs, "F3"),10} {mib,9} {r.CountedBytesPerStep,7:F2} {r.GBps,8:F1} ") +
                string.Create(inv, $"{100 * r.FractionOfPeak,5:F1}% {r.FloorMs,7:F4} {r.SavedBytesPerStep,6:F3} ") +
                string.Create(inv, $"{r.FiringRate,5:F3}"));
        }
        Console.WriteLine();
        Console.WriteLine("Recorded peer figures, for reference only (not measured in this run: no ratio is taken). " +
            $"{RefHardware}; source {RefSource}, recorded {RefRecorded}, {RefMethod}:");
        foreach (var g in References.GroupBy(p => (p.Library, p.Pass)))
        {
            var figures = g.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.T}×{p.N} {p.Ms:0.###} ms"));
            Console.WriteLine($"  {g.Key.Library,-24} {g.Key.Pass,-8} {string.Join("  ", figures)}");
        }
        if (outFile != null)
        {
            var timing = new
            {
                wallMs = "median wall clock, device sync after each call",
                deviceMs = "median CUDA-event interval, calls enqueued back to back (CUDA only)",
            };
            var doc = new
            {
                suite = "neurons", device = device.ToString(), small, reps, machine = Environment.MachineName,
                peakGBs = PeakGBs, timing, results, references = References,
            };
            var dir = Path.GetDirectoryName(Path.GetFullPath(outFile));
            if (dir != null) Directory.CreateDirectory(dir);
            File.WriteAllText(outFile, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {outFile}");
        }
        return 0;
    }

    private static string Opt(double? v, string format) =>
        v is double d ? d.ToString(format, CultureInfo.InvariantCulture) : "-";

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

    /// <summary>
    /// Times <paramref name="run"/> three ways: wall clock with a sync per call (headline), CUDA events when on CUDA,
    /// and the allocator's high-water mark during the wall-clock calls.
    /// </summary>
    private static (double WallMs, double? DeviceMs, long? PeakBytes) Measure(IBackend be, Action run, int reps)
    {
        var ilgpu = be as Backends.Ilgpu.IlgpuBackend;
        ilgpu?.Memory.ResetPeak();
        double wall = MedianMs(run, be.Synchronize, reps);
        long? peak = ilgpu?.Memory.PeakBytes;
        double? device = ilgpu is { IsCuda: true }
            ? GpuTiming.MedianMs(ilgpu.Accelerator, ilgpu.Stream, run, reps)
            : null;
        return (wall, device, peak);
    }

    private static void RunCase(IBackend be, (int T, int N) c, int reps, List<NeuronResult> results, bool withVariants)
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
            NeuronResult Row(string h, string pass, (double Wall, double? Device, long? Peak) m, long bytes,
                double saved)
            {
                double ms = m.Device ?? m.Wall; // bandwidth is a kernel figure: device time where there is one
                double gbs = bytes / (ms * 1e6);
                return new(dev, T, N, h, pass, m.Wall, m.Device, m.Peak, bytes, (double)bytes / steps, gbs,
                    gbs / PeakGBs, bytes / (PeakGBs * 1e6), saved, rate);
            }

            // (a) inference: x in, spikes and vT out, nothing kept.
            var infer = Measure(be, () =>
            {
                using var scope = TensorScope.Begin();
                using (Tape.NoGrad()) SpikingFunctions.Lif(x, null, decay, th);
            }, reps);
            results.Add(Row("-", "infer", infer, 8 * steps + stateBytes, 0));

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
                Neurons.Ilgpu.IlgpuNeuronDriver.Vec4Enabled = vec4;
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
                    var fwd = Measure(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        SpikingFunctions.Lif(x, null, decay, th, o);
                    }, reps);
                    // (c) the user's path: forward, then Backward(g) through the tape (x.Grad made, then dropped).
                    var tape = Measure(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        SpikingFunctions.Lif(x, null, decay, th, o).Spikes.Backward(g);
                        x.Grad?.Dispose(); x.Grad = null;
                    }, reps);
                    // (c') forward + the backward kernel alone, driven by the fixed upstream gradient g.
                    var node = Measure(be, () =>
                    {
                        using var scope = TensorScope.Begin();
                        BackwardThroughNode(SpikingFunctions.Lif(x, null, decay, th, o), g);
                    }, reps);

                    results.Add(Row(hName, "fwd", fwd, fwdBytes, saved));
                    results.Add(Row(hName, "fwd+bwd", tape, fwdBytes + bwdBytes, saved));
                    results.Add(Row(hName, "fwd+bwd node", node, fwdBytes + bwdBytes, saved));
                    // Derived, so no memory figure: the difference of two medians of this run.
                    double? bwdDevice = node.DeviceMs is double nd && fwd.DeviceMs is double fd
                        ? Math.Max(nd - fd, 1e-6)
                        : null;
                    var bwd = (Math.Max(node.WallMs - fwd.WallMs, 1e-6), bwdDevice, (long?)null);
                    results.Add(Row(hName, "bwd", bwd, bwdBytes, saved));
                }
                finally
                {
                    Neurons.Ilgpu.IlgpuNeuronDriver.Vec4Enabled = true;
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
