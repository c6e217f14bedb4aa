using System.Globalization;
using System.Text.Json;
using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Neurons;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

/// <summary>One path of one size of the <c>on</c> suite.</summary>
/// <param name="Path">fp32 (float32 GEMMs) or split (exact spike GEMMs: three bfloat16 tensor-core GEMMs).</param>
/// <param name="MsPerStep">Median wall clock of a forward + backward step with a device sync after each.</param>
/// <param name="PeakBytes">Allocator high-water mark during the timed steps (input, W and its gradient included); null
/// on the CPU backend.</param>
/// <param name="Bf16GemmsPerStep">bfloat16 GEMMs the split path ran per step (6 when it ran: 3 forward, 3 for
/// grad W; 0 when products stayed float32).</param>
public sealed record OnTiming(string Path, double MsPerStep, long? PeakBytes, double Bf16GemmsPerStep);

/// <summary>Accuracy of the split path against the float32 path and float64 on the host, for one size.</summary>
/// <param name="YVsFp32">max |y_split − y_fp32| / Σ|terms| over the whole output (Σ|terms| = |x|·|W|ᵀ).</param>
/// <param name="YFp32VsFp64">As <paramref name="YSplitVsFp64"/> for the float32 path.</param>
/// <param name="YSplitVsFp64">max |y − y_fp64| / Σ|terms| on a 64 × 64 block of the output (float64 on the
/// host).</param>
/// <param name="GradWVsFp32">max |gW_split − gW_fp32| / Σ|terms| over the whole gradient (same upstream
/// gradient).</param>
/// <param name="GradWSplitVsFp64Rel">max |gW − gW_fp64| / |gW_fp64| on a 64 × 64 block (entries with
/// |gW_fp64| ≥ 1e-3 · Σ|terms|, so that cancellation does not make the ratio meaningless).</param>
/// <param name="DivergedNeurons">Neurons whose spike train differs between the paths.</param>
/// <param name="DivergedFarFromThreshold">Of those, how many first differ where the float32 membrane is more than
/// 1e-5 from the threshold (0 is the bar; after the first differing spike a neuron's state legitimately
/// differs).</param>
/// <param name="MaxDistanceAtDivergence">Largest |h − θ| at a first differing spike.</param>
public sealed record OnAccuracy(double YVsFp32, double YFp32VsFp64, double YSplitVsFp64, double GradWVsFp32,
    double GradWFp32VsFp64, double GradWSplitVsFp64, double GradWFp32VsFp64Rel, double GradWSplitVsFp64Rel,
    long DivergedNeurons, long DivergedFarFromThreshold, double MaxDistanceAtDivergence, double InputRate);

/// <summary>One size of the <c>on</c> suite; <paramref name="Error"/> is set when the case threw.</summary>
public sealed record OnCase(int N, int T, int B, string Input, OnTiming[] Timings, OnAccuracy? Accuracy,
    string[] Problems, string? Error);

/// <summary>
/// <c>on</c>: the Open Neuromorphic SNN-library benchmark step, x (T = 500, B = 16, n) → Linear(n, n, no bias) → LIF →
/// sum, forward + backward, only W trained, float32 with TF32 off, timed with float32 GEMMs and with the exact spike
/// GEMMs (<see cref="Precision.ExactSpikeGemm"/>) in the same run, then the split path's accuracy against the float32
/// path and against float64 on the host. The input is spikes (an upstream layer's output, ~4 % firing) so that the
/// Linear has a spike operand; <c>--input randn</c> uses the original benchmark's N(0, 1) input, where no operand is
/// binary and both paths are float32.
/// Options: --device D, --sizes n,n,… (default 512,1024,2048,4096,8192,16384), --T, --B, --rate r (default 0.04),
/// --input spikes|randn,
/// --reps N (default 20), --split-at-once-mib M (largest three-part split done in one pass), --out FILE (JSON),
/// --check (n = 256, 999, 1024 with T = 64: exits 1 unless the split path ran and met every bar), --emulate (the
/// emulated device's plain bfloat16 GEMM, to try the suite without a GPU), --profile (prints the ops holding each
/// path's high-water mark, from a <see cref="MemoryProfile"/> of one more step).
/// </summary>
internal static partial class OpenNeuromorphicBench
{
    private const float Decay = 0.8f, Threshold = 1f; // τ = 5 as in the SpikingJelly entry: λ = 1 − 1/τ
    private const double NearThreshold = 1e-5, AccuracyBar = 1e-6, GradRelBar = 1e-5;
    private const int Block = 64;

    public static int Run(string[] args)
    {
        var device = DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu;
        int[]? sizes = null; int T = 500, B = 16, reps = 20; double rate = 0.04; string input = "spikes";
        string outFile = "bench-results/on.json"; bool check = false, emulate = false, profile = false;
        long? atOnceMiB = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            bool takesValue = a is "--device" or "--sizes" or "--T" or "--B" or "--rate" or "--input" or "--reps"
                or "--out" or "--split-at-once-mib";
            if (takesValue && i + 1 >= args.Length) return Usage($"option '{a}' needs a value");
            string v = takesValue ? args[++i] : "";
            switch (a)
            {
                case "--device":
                    try { device = Device.Parse(v); }
                    catch (ArgumentException)
                    {
                        return Usage($"--device: expected cpu, cuda, cuda:N or ilgpu-cpu, got '{v}'");
                    }
                    if (DeviceCatalog.Unavailable(device) is string why)
                        return Usage($"--device: {device} is not available: {why}");
                    break;
                case "--sizes":
                    var parts = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    var parsed = new List<int>();
                    foreach (var p in parts)
                    {
                        if (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                            return Usage($"--sizes: expected positive whole numbers separated by commas, got '{v}'");
                        parsed.Add(n);
                    }
                    if (parsed.Count == 0) return Usage($"--sizes: expected at least one size, got '{v}'");
                    sizes = parsed.ToArray();
                    break;
                case "--T": if (!PositiveInt(v, out T)) return NotPositive(a, v); break;
                case "--B": if (!PositiveInt(v, out B)) return NotPositive(a, v); break;
                case "--reps": if (!PositiveInt(v, out reps)) return NotPositive(a, v); break;
                case "--rate":
                    if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out rate)
                        || !(rate > 0 && rate < 1))
                        return Usage($"--rate: expected a firing rate between 0 and 1 (exclusive), got '{v}'");
                    break;
                case "--input":
                    if (v is not ("spikes" or "randn")) return Usage($"--input: expected spikes or randn, got '{v}'");
                    input = v;
                    break;
                case "--split-at-once-mib":
                    if (!PositiveInt(v, out int mib)) return NotPositive(a, v);
                    atOnceMiB = mib;
                    break;
                case "--out": outFile = v; break;
                case "--check": check = true; break;
                case "--emulate": emulate = true; break;
                case "--profile": profile = true; break;
                default: return Usage($"unknown option '{a}'");
            }
        }
        if (check)
        {
            sizes ??= new[] { 256, 999, 1024 };
            if (!args.Contains("--T")) T = 64;
            if (!args.Contains("--reps")) reps = 3;
        }
        sizes ??= new[] { 512, 1024, 2048, 4096, 8192, 16384 };
        var be = BackendRegistry.Get(device);
        if (emulate && be is not IlgpuBackend { IsCuda: false })
            return Usage($"--emulate: only for ilgpu-cpu (the emulated device), not {device}");
        if (atOnceMiB is long m) SpikeGemm.FusedSplitMaxBytes = m << 20;

        Precision.AllowTf32 = false;
        bool switchBefore = Precision.ExactSpikeGemm;
        Console.WriteLine($"on (Open Neuromorphic step) on {device}: x (T={T}, B={B}, n) {Describe(input, rate)} → " +
            "Linear(n, n, no bias) → LIF (λ = 0.8, θ = 1, hard reset) → sum; forward + backward, only W trained; " +
            $"float32, TF32 off; median of {reps} steps, wall clock with a device sync per step");
        Console.WriteLine($"split path: {SplitStatus(be, emulate)}");
        var cases = new List<OnCase>();
        foreach (int n in sizes)
        {
            OnCase c;
            try { c = RunCase(be, n, T, B, input, rate, reps, emulate, profile); }
            catch (Exception e)
            {
                c = new OnCase(n, T, B, input, Array.Empty<OnTiming>(), null, Array.Empty<string>(),
                    $"{e.GetType().Name}: {e.Message}");
                Console.WriteLine($"n={n}: FAILED with {e.GetType().Name}: {e.Message}");
                Console.WriteLine(e.StackTrace);
            }
            finally
            {
                Precision.ExactSpikeGemm = switchBefore;
                (be as IlgpuBackend)?.Memory.EmptyCache();
            }
            cases.Add(c);
            Print(c);
        }
        PrintSummary(cases, T, B, input);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            File.WriteAllText(outFile, JsonSerializer.Serialize(new { device = device.ToString(), check, cases },
                new JsonSerializerOptions
                {
                    WriteIndented = true,
                    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
                }));
            Console.WriteLine($"wrote {outFile}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.WriteLine($"could not write {outFile}: {e.Message}");
        }
        int bad = cases.Count(c => c.Error != null || c.Problems.Length > 0);
        if (bad > 0) Console.WriteLine($"{bad} of {cases.Count} size(s) failed or missed a bar (see above)");
        return bad > 0 ? 1 : 0;
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"on: {problem}. Options: --device D, --sizes n,n,…, --T T, --B B, --rate r, " +
            "--input spikes|randn, --reps N, --split-at-once-mib M, --out FILE, --check, --emulate, --profile");
        return 2;
    }

    private static int NotPositive(string option, string v) =>
        Usage($"{option}: expected a positive whole number, got '{v}'");

    private static bool PositiveInt(string v, out int x) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out x) && x > 0;

    private static string Describe(string input, double rate) => input == "spikes"
        ? string.Create(CultureInfo.InvariantCulture, $"spikes at ~{100 * rate:F1} % (from a LIF: marked binary)")
        : "~ N(0, 1) (not binary: both paths float32)";

    private static string SplitStatus(IBackend be, bool emulate)
    {
        if (be is not IlgpuBackend ib) return $"unavailable ({be.Device} computes float32 products)";
        if (emulate) return "emulated (plain bfloat16 GEMM kernel on the emulated device)";
        if (ib.Bf16GemmUnavailable is { } why) return $"unavailable ({why})";
        var h = ib.CublasHandle;
        return $"cublasGemmEx bf16 × bf16 → fp32 (compute 32F), {Cublas.LoadedFrom}, version {Cublas.Version(h)}, " +
            $"split at once up to {SpikeGemm.FusedSplitMaxBytes >> 20} MiB of parts";
    }

    // The split path on or off for the calling flow: the public switch, plus the emulation seam when asked.
    private static IDisposable SplitPath(bool split, bool emulate)
    {
        Precision.ExactSpikeGemm = split;
        return SpikeGemm.Scope(split, emulate);
    }

    private static OnCase RunCase(IBackend be, int n, int T, int B, string input, double rate, int reps, bool emulate,
        bool profile)
    {
        var d = be.Device;
        var ib = be as IlgpuBackend;
        using var scope = TensorScope.Begin();
        var x = MakeInput(d, T, B, n, input, rate);
        double bound = 1.0 / Math.Sqrt(n); // nn.Linear's default initialisation range
        var w = Tensor.Rand(new[] { n, n }, new Generator(2), d, (float)-bound, (float)bound);
        w.RequiresGrad = true;
        var decay = Tensor.Scalar(Decay, d);
        var th = Tensor.Scalar(Threshold, d);

        // As the peers' nn.Sequential(Linear, LIF) runs it: the Linear's output is an intermediate that nobody but the
        // neuron's backward holds, the spikes are the output the caller keeps until the backward is done.
        void Step()
        {
            using var s = TensorScope.Begin();
            var y = Tensor.Linear(x, w);
            var spikes = SpikingFunctions.Lif(y, null, decay, th).Spikes;
            y.Release();
            spikes.Sum().Backward();
            w.Grad!.Dispose();
            w.Grad = null;
        }

        var timings = new List<OnTiming>();
        foreach (bool split in new[] { false, true })
        {
            using var _ = SplitPath(split, emulate);
            Step(); // warm-up outside the measurement (kernels load, the allocator fills)
            be.Synchronize();
            ib?.Memory.ResetPeak();
            long before = SpikeGemm.SplitProducts;
            double ms = MedianMs(Step, be.Synchronize, reps, warmup: 1);
            double perStep = (SpikeGemm.SplitProducts - before) / (double)(reps + 1);
            timings.Add(new OnTiming(split ? "split" : "fp32", ms, ib?.Memory.PeakBytes, perStep));
            if (profile)
            {
                using var prof = MemoryProfile.Start();
                Step();
                be.Synchronize();
                PrintProfile(n, split ? "split" : "fp32", prof);
            }
        }
        var acc = Accuracy(be, x, w, decay, th, emulate);
        var problems = new List<string>();
        if (input == "spikes")
        {
            var sp = timings[1];
            if (sp.Bf16GemmsPerStep != 6)
                problems.Add($"the split path ran {sp.Bf16GemmsPerStep:F1} bfloat16 GEMMs per step, expected 6 " +
                    $"({string.Join("; ", SpikeGemm.FallbackNotes)})");
            if (acc.YSplitVsFp64 > AccuracyBar) problems.Add($"y vs fp64 {acc.YSplitVsFp64:E2} > {AccuracyBar:E0}");
            if (acc.GradWSplitVsFp64 > AccuracyBar)
                problems.Add($"grad W vs fp64 {acc.GradWSplitVsFp64:E2} > {AccuracyBar:E0}");
            if (acc.GradWSplitVsFp64Rel > GradRelBar)
                problems.Add($"grad W relative error vs fp64 {acc.GradWSplitVsFp64Rel:E2} > {GradRelBar:E0}");
            if (acc.DivergedFarFromThreshold > 0)
                problems.Add($"{acc.DivergedFarFromThreshold} neuron(s) first spike differently more than " +
                    $"{NearThreshold:E0} from θ");
        }
        return new OnCase(n, T, B, input, timings.ToArray(), acc, problems.ToArray(), null);
    }

    private static Tensor MakeInput(Device d, int T, int B, int n, string input, double rate)
    {
        if (input == "randn") return Tensor.Randn(new[] { T, B, n }, new Generator(1), d);
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        // An upstream LIF on uniform noise: λ small, so each neuron fires when its input exceeds 1 − rate.
        var u = Tensor.Rand(new[] { T, B, n }, new Generator(1), d);
        var s = SpikingFunctions.Lif(u, null, Tensor.Scalar(0.01f, d), Tensor.Scalar((float)(1 - rate), d)).Spikes;
        if (!s.IsBf16Exact) throw new InvalidOperationException("on bench: the input spikes are not marked binary");
        return s.MoveToOuterScope();
    }
}
