using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Data;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Bench;

/// <summary>
/// <c>cpu</c>: the CPU path against the machine. (1) The FMA peak: 16 independent vector FMAs per iteration on every
/// thread (the best of the rounds). (2) GEMM GFLOP/s at 1024³ and at the README job's shapes, each variant checked
/// against a float64 product first: SpikeSharp's own kernel; the backend with the BLAS it found, split over
/// SpikeSharp's threads (the default) or handed to the library's own threads; that BLAS called directly; and the
/// kernel this backend had before issue 13 (rows of C per thread, 256-bit, no packing). (3) The README main job's
/// training step (784 → 512 LIF → 10, T = 4, B = 128, direct encoding, Adam): ms/step, managed bytes allocated per
/// step, new arrays per step and full collections, with the BLAS and without, and without the buffer pool.
/// Variants alternate round by round and medians are reported, so a busy machine affects all alike.
/// Options: --rounds N (default 7), --steps N per round (default 20), --quick (small, odd shapes), --gemm-only,
/// --out FILE (JSON). SPIKESHARP_NUM_THREADS=1 measures one core; SPIKESHARP_BLAS=none hides the BLAS.
/// </summary>
internal static partial class CpuBench
{
    private sealed record GemmRow(string Shape, string Variant, double MedianMs, double GFlops, double OfPeak, double BestOfPeak);
    private sealed record StepRow(string Config, double MedianMs, double MinMs, long BytesPerStep, double Gen2PerStep,
        long FreshArraysPerStep);

    public static int Run(string[] args)
    {
        string? Opt(string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
        int rounds = int.Parse(Opt("--rounds") ?? "7", CultureInfo.InvariantCulture);
        int steps = int.Parse(Opt("--steps") ?? "20", CultureInfo.InvariantCulture);
        bool quick = args.Contains("--quick");
        string outFile = Opt("--out") ?? "bench-results/cpu.json";
        var blas = Blas.Instance;
        Console.WriteLine($"cpu: {Environment.ProcessorCount} cores, {Threads.Count} threads, "
            + $"BLAS: {CpuBackend.GemmDescription}; own GEMM: {CpuGemm.Description}; median of {rounds} rounds");

        var (peak1, peakAll) = MeasurePeak(rounds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"FMA peak: {peak1:F1} GFLOP/s on 1 thread, {peakAll:F1} GFLOP/s on {Threads.Count} ({Lanes} lanes per FMA)"));

        var gemm = new List<GemmRow>();
        var shapes = quick
            ? new[]
            {
                ("128³", false, false, 128, 128, 128), ("odd TN 129×33×70", true, false, 129, 33, 70),
                ("odd NT 7×130×1100", false, true, 7, 130, 1100), ("odd TT 65×17×9", true, true, 65, 17, 9),
            }
            : new[]
            {
                ("1024³", false, false, 1024, 1024, 1024),
                ("fwd x·Wᵀ 512×784→512", false, true, 512, 512, 784),
                ("dW gᵀ·x 512×512→784", true, false, 512, 784, 512),
                ("fwd 512×512→10", false, true, 512, 10, 512),
                ("dX g·W 512×10→512", false, false, 512, 512, 10),
                ("dW gᵀ·h 10×512→512", true, false, 10, 512, 512),
            };
        foreach (var (name, ta, tb, m, n, k) in shapes) GemmShape(gemm, name, ta, tb, m, n, k, rounds, peakAll, blas);

        var stepRows = args.Contains("--gemm-only") ? new List<StepRow>() : TrainingSteps(rounds, quick ? 5 : steps, blas != null);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
        File.WriteAllText(outFile, JsonSerializer.Serialize(new
        {
            machine = $"{Environment.ProcessorCount} cores",
            threads = Threads.Count,
            blas = CpuBackend.GemmDescription,
            peak1Thread = peak1,
            peakAllThreads = peakAll,
            gemm,
            steps = stepRows,
        }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {outFile}");
        return 0;
    }

    // ---- FMA peak ----

    private static int Lanes => Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : Fma.IsSupported ? 8 : 1;

    private static (double One, double All) MeasurePeak(int rounds)
    {
        var one = new List<double>(); var all = new List<double>();
        for (int r = 0; r < rounds; r++) { one.Add(PeakOnce(1, 20_000_000)); all.Add(PeakOnce(Threads.Count, 20_000_000)); }
        // The peak is the best a round reached: other load only ever lowers it.
        return (one.Max(), all.Max());
    }

    /// <summary>GFLOP/s of <paramref name="threads"/> threads each running <paramref name="iters"/> iterations of 16 independent FMAs.</summary>
    private static double PeakOnce(int threads, long iters)
    {
        // Each thread times itself after a common start; the caller only joins (a waiting caller that spins would
        // take a core from the measured threads).
        var rates = new double[threads];
        using var start = new Barrier(threads);
        var ts = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            FmaLoop(iters / 8);
            start.SignalAndWait();
            var sw = Stopwatch.StartNew();
            FmaLoop(iters);
            rates[t] = iters * 16.0 * Lanes * 2 / sw.Elapsed.TotalSeconds / 1e9; // 16 FMAs of Lanes lanes per iteration
        })).ToList();
        ts.ForEach(t => t.Start());
        ts.ForEach(t => t.Join());
        return rates.Sum();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iters)
    {
        if (Lanes == 16)
        {
            var x = Vector512.Create(0.999f); var y = Vector512.Create(1e-7f);
            Vector512<float> a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x;
            Vector512<float> a8 = x, a9 = x, aa = x, ab = x, ac = x, ad = x, ae = x, af = x;
            for (long i = 0; i < iters; i++)
            {
                a0 = Avx512F.FusedMultiplyAdd(a0, x, y); a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
                a2 = Avx512F.FusedMultiplyAdd(a2, x, y); a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
                a4 = Avx512F.FusedMultiplyAdd(a4, x, y); a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
                a6 = Avx512F.FusedMultiplyAdd(a6, x, y); a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
                a8 = Avx512F.FusedMultiplyAdd(a8, x, y); a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
                aa = Avx512F.FusedMultiplyAdd(aa, x, y); ab = Avx512F.FusedMultiplyAdd(ab, x, y);
                ac = Avx512F.FusedMultiplyAdd(ac, x, y); ad = Avx512F.FusedMultiplyAdd(ad, x, y);
                ae = Avx512F.FusedMultiplyAdd(ae, x, y); af = Avx512F.FusedMultiplyAdd(af, x, y);
            }
            return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab + ac + ad + ae + af).GetElement(0);
        }
        if (Lanes == 1)
        {
            float x = 0.999f, y = 1e-7f, a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x;
            float a8 = x, a9 = x, aa = x, ab = x, ac = x, ad = x, ae = x, af = x;
            for (long i = 0; i < iters; i++)
            {
                a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y; a4 = a4 * x + y; a5 = a5 * x + y;
                a6 = a6 * x + y; a7 = a7 * x + y; a8 = a8 * x + y; a9 = a9 * x + y; aa = aa * x + y; ab = ab * x + y;
                ac = ac * x + y; ad = ad * x + y; ae = ae * x + y; af = af * x + y;
            }
            return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab + ac + ad + ae + af;
        }
        else
        {
            var x = Vector256.Create(0.999f); var y = Vector256.Create(1e-7f);
            Vector256<float> a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x;
            Vector256<float> a8 = x, a9 = x, aa = x, ab = x, ac = x, ad = x, ae = x, af = x;
            for (long i = 0; i < iters; i++)
            {
                a0 = Fma.MultiplyAdd(a0, x, y); a1 = Fma.MultiplyAdd(a1, x, y); a2 = Fma.MultiplyAdd(a2, x, y);
                a3 = Fma.MultiplyAdd(a3, x, y); a4 = Fma.MultiplyAdd(a4, x, y); a5 = Fma.MultiplyAdd(a5, x, y);
                a6 = Fma.MultiplyAdd(a6, x, y); a7 = Fma.MultiplyAdd(a7, x, y); a8 = Fma.MultiplyAdd(a8, x, y);
                a9 = Fma.MultiplyAdd(a9, x, y); aa = Fma.MultiplyAdd(aa, x, y); ab = Fma.MultiplyAdd(ab, x, y);
                ac = Fma.MultiplyAdd(ac, x, y); ad = Fma.MultiplyAdd(ad, x, y); ae = Fma.MultiplyAdd(ae, x, y);
                af = Fma.MultiplyAdd(af, x, y);
            }
            return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab + ac + ad + ae + af).GetElement(0);
        }
    }

    // ---- GEMM ----

    private static unsafe void GemmShape(List<GemmRow> rows, string name, bool ta, bool tb, int m, int n, int k,
        int rounds, double peak, Blas? blas)
    {
        var be = CpuBackend.Instance;
        var rnd = new Random(7);
        float[] Host(int len) { var h = new float[len]; for (int i = 0; i < len; i++) h[i] = (float)(rnd.NextDouble() - 0.5); return h; }
        var ha = Host(m * k); var hb = Host(k * n);
        Buf Up(float[] h) { var x = new Buf(be.Allocate(DType.Float32, h.Length), 0, h.Length); be.Upload<float>(h, x); return x; }
        var a = Up(ha); var b = Up(hb); var c = new Buf(be.Allocate(DType.Float32, m * n), 0, m * n);
        var want = new float[m * n];
        Naive(ta, tb, m, n, k, ha, hb, want);
        double flops = 2.0 * m * n * k;
        var variants = new List<(string Name, Action Run)>
        {
            ("own", () => { CpuBackend.GemmPath = CpuGemmPath.Own; be.Gemm(ta, tb, m, n, k, 1f, a, b, 0f, c); }),
        };
        if (Fma.IsSupported) // the old kernel was written for AVX2+FMA
            variants.Add(("old kernel", () => LegacyGemm.Gemm(ta, tb, m, n, k, a.Array<float>(), b.Array<float>(), c.Array<float>())));
        if (blas != null)
        {
            variants.Add(("backend → BLAS split", () => { CpuBackend.GemmPath = CpuGemmPath.Auto; be.Gemm(ta, tb, m, n, k, 1f, a, b, 0f, c); }));
            variants.Add(("backend → BLAS, its threads", () =>
            {
                CpuBackend.GemmPath = CpuGemmPath.Auto; CpuBackend.SplitBlas = false;
                be.Gemm(ta, tb, m, n, k, 1f, a, b, 0f, c);
                CpuBackend.SplitBlas = true;
            }));
            variants.Add(("BLAS direct", () =>
            {
                blas.UseThreads(Threads.Count);
                fixed (float* pa = a.Array<float>(), pb = b.Array<float>(), pc = c.Array<float>())
                    blas.Sgemm(ta, tb, m, n, k, 1f, pa, ta ? m : k, pb, tb ? k : n, 0f, pc, n);
            }));
        }
        var got = new float[m * n];
        foreach (var (vn, run) in variants)
        {
            be.Fill(c, float.NaN);
            run();
            be.Download<float>(c, got);
            for (int i = 0; i < got.Length; i++)
                if (!(Math.Abs(got[i] - want[i]) <= 1e-3f * (1 + Math.Abs(want[i]))))
                    throw new InvalidOperationException($"cpu bench: {vn} gemm {name} wrong at {i}: {got[i]} vs {want[i]}; not timing");
        }
        var times = variants.Select(_ => new List<double>()).ToArray();
        int reps = (int)Math.Clamp(2e9 / flops, 1, 1000); // ~10 ms per sample at 200 GFLOP/s
        for (int r = 0; r < rounds; r++)
            for (int v = 0; v < variants.Count; v++)
            {
                // A library pool (OpenBLAS's threads, .NET's thread pool) spins for a while after its last call;
                // let it go idle so it does not slow the next variant down.
                Thread.Sleep(150);
                variants[v].Run();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++) variants[v].Run();
                double ms = sw.Elapsed.TotalMilliseconds / reps;
                times[v].Add(ms);
            }
        CpuBackend.GemmPath = CpuGemmPath.Auto;
        for (int v = 0; v < variants.Count; v++)
        {
            double ms = Median(times[v]), gf = flops / (ms * 1e6), best = flops / (times[v].Min() * 1e6);
            rows.Add(new GemmRow(name, variants[v].Name, ms, gf, gf / peak, best / peak));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  gemm {name,-24} {variants[v].Name,-18} {ms,8:F3} ms {gf,6:F1} GFLOP/s {100 * gf / peak,5:F1} % of peak "
                + $"(best round {best:F1}, {100 * best / peak:F1} %)"));
        }
        foreach (var x in new[] { a, b, c }) x.Storage.Release();
    }

    private static void Naive(bool ta, bool tb, int m, int n, int k, float[] a, float[] b, float[] c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = (float)s;
            }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : 0.5 * (s[s.Count / 2 - 1] + s[s.Count / 2]);
    }

    // ---- the README main job's training step ----

    private static List<StepRow> TrainingSteps(int rounds, int steps, bool haveBlas)
    {
        var d = Device.Cpu;
        var gen = new Generator(1);
        using var net = new Sequential(
            new MultiStep(new Flatten(1), new Linear(784, 512, gen: gen, device: d)),
            new Lif(device: d),
            new MultiStep(new Linear(512, 10, gen: gen, device: d)));
        using var opt = new Adam(net.NamedParameters(), lr: 1e-3f);
        var rnd = new Random(2);
        var hx = new float[128 * 784];
        for (int i = 0; i < hx.Length; i++) hx[i] = (float)rnd.NextDouble();
        var hy = new int[128];
        for (int i = 0; i < hy.Length; i++) hy[i] = i % 10;
        void Step()
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(hx, new[] { 128, 1, 28, 28 }, d);
            var y = Tensor.FromArray(hy, null, d);
            net.ResetState();
            var logits = net.Forward(Encoders.Encode(x, 4, EncodingKind.Direct)).Mean(0);
            var loss = Tensor.CrossEntropy(logits, y);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
        var configs = new List<(string Name, CpuGemmPath Path, bool SplitBlas, bool Pool)>();
        if (haveBlas)
        {
            configs.Add(("BLAS (split) + pool", CpuGemmPath.Auto, true, true));
            configs.Add(("BLAS own threads + pool", CpuGemmPath.Auto, false, true));
        }
        configs.Add(("own GEMM + pool", CpuGemmPath.Own, true, true));
        configs.Add(("own GEMM, no pool", CpuGemmPath.Own, true, false));
        var perConfig = configs.Select(_ => (Times: new List<double>(), Bytes: new List<long>(), Gen2: new List<double>(), Fresh: new List<long>())).ToArray();
        Console.WriteLine($"README training step (784→512 LIF→10, T=4, B=128, Adam), {steps} steps per round:");
        for (int r = 0; r < rounds; r++)
            for (int ci = 0; ci < configs.Count; ci++)
            {
                CpuBackend.GemmPath = configs[ci].Path;
                CpuBackend.SplitBlas = configs[ci].SplitBlas;
                HostPool.Enabled = configs[ci].Pool;
                for (int i = 0; i < 3; i++) Step(); // warm: the pool holds this configuration's sizes
                long b0 = GC.GetTotalAllocatedBytes(precise: true), f0 = HostPool.FreshArrays;
                int g0 = GC.CollectionCount(2);
                for (int i = 0; i < steps; i++)
                {
                    var sw = Stopwatch.StartNew();
                    Step();
                    perConfig[ci].Times.Add(sw.Elapsed.TotalMilliseconds);
                }
                perConfig[ci].Bytes.Add((GC.GetTotalAllocatedBytes(precise: true) - b0) / steps);
                perConfig[ci].Fresh.Add((HostPool.FreshArrays - f0) / steps);
                perConfig[ci].Gen2.Add((GC.CollectionCount(2) - g0) / (double)steps);
            }
        CpuBackend.GemmPath = CpuGemmPath.Auto;
        CpuBackend.SplitBlas = true;
        HostPool.Enabled = true;
        var rows = new List<StepRow>();
        for (int ci = 0; ci < configs.Count; ci++)
        {
            var p = perConfig[ci];
            var row = new StepRow(configs[ci].Name, Median(p.Times), p.Times.Min(), (long)Median(p.Bytes.Select(x => (double)x).ToList()),
                Median(p.Gen2), (long)Median(p.Fresh.Select(x => (double)x).ToList()));
            rows.Add(row);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {row.Config,-22} {row.MedianMs,8:F2} ms/step (min {row.MinMs:F2})  {row.BytesPerStep,10} B/step allocated  "
                + $"{row.FreshArraysPerStep} new arrays/step  {row.Gen2PerStep:F2} gen2 GCs/step"));
        }
        return rows;
    }
}
