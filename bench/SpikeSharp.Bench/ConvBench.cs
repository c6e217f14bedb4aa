using System.Globalization;
using System.Text.Json;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

/// <summary>
/// <c>conv</c>: the backend's convolution kernels (cuDNN on CUDA, the CPU family on the CPU backend) against the
/// generic im2col + GEMM path (<see cref="Tensor.GenericConvOnly"/>). First accuracy on odd shapes (stride 2,
/// padding 0/1/2, non-square input and kernel, 1×1, C = 1, N = 1, large O): the max error of the forward pass, grad x
/// and grad w relative to the generic result's largest magnitude, for float32 math (CUDNN_FMA_MATH) and TF32. Then
/// the time of forward + backward through the public API (Tensor.Conv2d, then Backward; a device sync per call) of the
/// plif-csnn conv shapes at batch 1024 and 128, with the allocator's peak and, on CUDA, the H200 floor (bytes at
/// 4.13 TB/s or FLOPs at 51 TFLOP/s float32, 400 TFLOP/s TF32, whichever is slower). A short table ends the output.
/// Without cuDNN (no CUDA device, no library) it says so and measures what there is.
/// Options: --device D (default: cuda when present, else cpu), --batch N[,N…] (default 1024,128 on CUDA, 16
/// elsewhere), --reps N (default 10 on CUDA, 3 elsewhere), --out FILE (JSON).
/// Exit code 1 when an accuracy row exceeds its bound (1e-4 float32, 1e-2 TF32).
/// </summary>
internal static class ConvBench
{
    private const double PeakGBs = 4129.0, Fp32Tflops = 51.0, Tf32Tflops = 400.0; // one H200, nominal
    private const double Fp32Bound = 1e-4, Tf32Bound = 1e-2;

    /// <summary>One convolution: input (N, C, H, W), weight (O, C, Kh, Kw), stride, padding.</summary>
    internal sealed record ConvCase(string Name, int N, int C, int H, int W, int O, int Kh, int Kw, int Sh, int Sw,
        int Ph, int Pw)
    {
        public Conv2dShape Shape => new(N, C, H, W, O, Kh, Kw, Sh, Sw, Ph, Pw);

        public override string ToString() =>
            $"{Name}: x ({N},{C},{H},{W}) w ({O},{C},{Kh},{Kw}) s ({Sh},{Sw}) p ({Ph},{Pw})";
    }

    /// <summary>One way of computing conv: the backend's family (with or without TF32) or the generic path.</summary>
    internal sealed record ConvPath(string Label, bool Generic, bool Tf32);

    internal sealed record AccuracyRow(string Case, string Path, double Forward, double GradX, double GradW,
        double Bound, string? Algorithms);

    internal sealed record TimingRow(string Case, string Path, double Ms, double? PeakMiB, double? FloorMs,
        double? OfFloor, double? SpeedupVsGeneric);

    internal sealed record Result(string Device, string Cudnn, string Family, List<AccuracyRow> Accuracy,
        List<TimingRow> Timing);

    /// <summary>Odd shapes for the accuracy check.</summary>
    internal static readonly ConvCase[] OddCases =
    {
        new("stride2 non-square", 3, 5, 17, 11, 7, 3, 5, 2, 1, 1, 2),
        new("C=1 N=1", 1, 1, 28, 28, 16, 3, 3, 1, 1, 0, 0),
        new("1x1 stride 2", 4, 16, 9, 13, 32, 1, 1, 2, 2, 0, 0),
        new("large O pad 2", 2, 8, 15, 15, 256, 5, 5, 2, 2, 2, 2),
        new("7x3 stride (2,3)", 5, 3, 7, 20, 4, 7, 3, 2, 3, 0, 1),
    };

    /// <summary>The plif-csnn conv layers at batch <paramref name="n"/>.</summary>
    internal static ConvCase[] CsnnCases(int n) => new ConvCase[]
    {
        new($"csnn conv1 N={n}", n, 1, 28, 28, 128, 3, 3, 1, 1, 1, 1),
        new($"csnn conv2 N={n}", n, 128, 14, 14, 128, 3, 3, 1, 1, 1, 1),
    };

    public static int Run(string[] args)
    {
        string? Opt(string name)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        var inv = CultureInfo.InvariantCulture;
        var device = Opt("--device") is { } d ? Device.Parse(d)
            : DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu;
        bool cuda = device.Type == DeviceType.Cuda;
        int reps = Opt("--reps") is { } r ? int.Parse(r, inv) : cuda ? 10 : 3;
        var batches = (Opt("--batch") ?? (cuda ? "1024,128" : "16")).Split(',').Select(s => int.Parse(s, inv));
        var be = BackendRegistry.Get(device);

        string cudnnLine = "cuDNN " + CudnnInfo.Describe();
        Console.WriteLine($"conv on {device}; {cudnnLine}");
        var family = be.Family<IConv2dKernels>();
        var paths = new List<ConvPath>();
        string familyName;
        if (family is CudnnConvKernels cudnn && cudnn.Unavailable == null)
        {
            familyName = "cuDNN";
            paths.Add(new("cudnn fp32", false, false));
            paths.Add(new("cudnn tf32", false, true));
        }
        else
        {
            string why = cuda ? CudnnInfo.UnavailableOn(device) ?? "unknown" : $"{device} is not a CUDA device";
            Console.WriteLine($"cuDNN is ABSENT for {device} ({why}): no cuDNN rows below");
            // A cuDNN family without a handle declines every call: timing it would time the generic path again.
            if (family is CudnnConvKernels) family = null;
            familyName = family?.GetType().Name ?? "none";
            if (family != null) paths.Add(new(familyName, false, false));
            else Console.WriteLine($"{device} has no convolution kernel family: only the generic path is measured");
        }
        var generic = new ConvPath("generic", true, false);
        paths.Add(generic);

        var accuracy = new List<AccuracyRow>();
        Console.WriteLine();
        Console.WriteLine("accuracy against the generic path (max |error| / max |generic|):");
        Console.WriteLine($"{"case",-48} {"path",-18} {"forward",9} {"grad x",9} {"grad w",9}  algorithms");
        foreach (var c in OddCases)
            foreach (var p in paths.Where(p => !p.Generic))
            {
                var row = Accuracy(be, c, p, generic);
                accuracy.Add(row);
                Console.WriteLine(string.Create(inv, $"{c,-48} {p.Label,-18} {row.Forward,9:E1} {row.GradX,9:E1} "
                    + $"{row.GradW,9:E1}  {row.Algorithms ?? "-"}"));
            }
        if (accuracy.Count == 0) Console.WriteLine("(nothing to compare: only the generic path runs here)");

        var timing = new List<TimingRow>();
        Console.WriteLine();
        Console.WriteLine($"fwd+bwd through Tensor.Conv2d + Backward, median of {reps}, a sync per call:");
        foreach (var c in batches.SelectMany(CsnnCases))
        {
            var rows = paths.Select(p => Time(be, c, p, reps)).ToList();
            double gen = rows.Single(t => t.Path == generic.Label).Ms;
            foreach (var t in rows)
            {
                var row = t with { SpeedupVsGeneric = gen / t.Ms };
                timing.Add(row);
                string floor = cuda ? string.Create(inv, $", H200 floor {t.FloorMs:F3} ms ({t.OfFloor:F1}x)") : "";
                Console.WriteLine(string.Create(inv,
                    $"{c,-62} {t.Path,-18} {t.Ms,9:F3} ms, peak {Mib(t.PeakMiB),8} MiB") + floor);
            }
        }

        Console.WriteLine();
        Console.WriteLine($"summary ({device}; {cudnnLine}):");
        Console.WriteLine($"{"case",-20} {"path",-18} {"ms",9} {"peak MiB",9} {"floor ms",9} {"x floor",8} "
            + $"{"vs generic",10}");
        foreach (var t in timing)
            Console.WriteLine(string.Create(inv, $"{t.Case,-20} {t.Path,-18} {t.Ms,9:F3} {Mib(t.PeakMiB),9} "
                + $"{(t.FloorMs is { } f ? f.ToString("F3", inv) : "-"),9} "
                + $"{(t.OfFloor is { } o ? o.ToString("F1", inv) : "-"),8} {t.SpeedupVsGeneric,9:F2}x"));
        var bad = accuracy.Where(a => Math.Max(a.Forward, Math.Max(a.GradX, a.GradW)) > a.Bound).ToList();
        foreach (var a in bad)
            Console.WriteLine(string.Create(inv, $"ACCURACY FAIL: {a.Case} {a.Path}: forward {a.Forward:E1}, "
                + $"grad x {a.GradX:E1}, grad w {a.GradW:E1} exceed {a.Bound:E0}"));
        if (bad.Count == 0 && accuracy.Count > 0)
            Console.WriteLine($"accuracy: all {accuracy.Count} rows within bounds (float32 {Fp32Bound:E0}, TF32 "
                + $"{Tf32Bound:E0})");

        if (Opt("--out") is { } outFile)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            var res = new Result(device.ToString(), cudnnLine, familyName, accuracy, timing);
            var json = JsonSerializer.Serialize(res, new JsonSerializerOptions { WriteIndented = true });
            File.WriteAllText(outFile, json);
            Console.WriteLine($"wrote {outFile}");
        }
        return bad.Count == 0 ? 0 : 1;
    }

    private static string Mib(double? v) => v is { } m ? m.ToString("F1", CultureInfo.InvariantCulture) : "-";

    // Sets the path's switches for the calling flow and puts the previous ones back on Dispose.
    private readonly struct PathScope : IDisposable
    {
        private readonly bool _generic, _tf32;

        public PathScope(ConvPath p)
        {
            _generic = Tensor.GenericConvOnly;
            _tf32 = Precision.ConvolutionTf32;
            Tensor.GenericConvOnly = p.Generic;
            Precision.ConvolutionTf32 = p.Tf32;
        }

        public void Dispose()
        {
            Tensor.GenericConvOnly = _generic;
            Precision.ConvolutionTf32 = _tf32;
        }
    }

    private static (Tensor X, Tensor W, Tensor R) Inputs(ConvCase c, Device device, ulong seed)
    {
        var gen = new Generator(seed);
        var x = Tensor.Randn(new[] { c.N, c.C, c.H, c.W }, gen, device).Persist();
        var w = Tensor.Randn(new[] { c.O, c.C, c.Kh, c.Kw }, gen, device, std: 1f / MathF.Sqrt(c.C * c.Kh * c.Kw))
            .Persist();
        var s = c.Shape;
        var r = Tensor.Randn(new[] { c.N, c.O, s.OutH, s.OutW }, gen, device).Persist();
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        return (x, w, r);
    }

    private static void ClearGrads(params Tensor[] ts)
    {
        foreach (var t in ts)
        {
            t.Grad?.Dispose();
            t.Grad = null;
        }
    }

    // y, grad x and grad w of the loss Σ y·r (r random, so every output position weighs differently).
    internal static (float[] Y, float[] Gx, float[] Gw) ForwardBackward(ConvCase c, ConvPath p, Tensor x, Tensor w,
        Tensor r)
    {
        using var paths = new PathScope(p);
        using var scope = TensorScope.Begin();
        var y = Tensor.Conv2d(x, w, stride: (c.Sh, c.Sw), padding: (c.Ph, c.Pw));
        y.Mul(r).Sum().Backward();
        var res = (y.ToArray(), x.Grad!.ToArray(), w.Grad!.ToArray());
        ClearGrads(x, w);
        return res;
    }

    /// <summary>max |a − b| / max |b| (0 when b is all zeros and a equals it).</summary>
    internal static double RelError(float[] a, float[] reference)
    {
        double scale = 0, err = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(reference[i]));
            err = Math.Max(err, Math.Abs((double)a[i] - reference[i]));
        }
        return scale > 0 ? err / scale : err;
    }

    private static AccuracyRow Accuracy(IBackend be, ConvCase c, ConvPath p, ConvPath generic)
    {
        var (x, w, r) = Inputs(c, be.Device, 7);
        try
        {
            var refr = ForwardBackward(c, generic, x, w, r);
            var got = ForwardBackward(c, p, x, w, r);
            string? algos = null;
            if (CudnnConvKernels.Of(be) is { } k)
            {
                using var _ = new PathScope(p);
                algos = string.Join(" | ", new[]
                {
                    CudnnConvDirection.Forward, CudnnConvDirection.BackwardData, CudnnConvDirection.BackwardFilter,
                }.Select(dir => k.AlgorithmInUse(c.Shape, dir) ?? "not used"));
            }
            return new AccuracyRow(c.Name, p.Label, RelError(got.Y, refr.Y), RelError(got.Gx, refr.Gx),
                RelError(got.Gw, refr.Gw), p.Tf32 ? Tf32Bound : Fp32Bound, algos);
        }
        finally
        {
            x.Dispose(); w.Dispose(); r.Dispose();
        }
    }

    private static TimingRow Time(IBackend be, ConvCase c, ConvPath p, int reps)
    {
        var (x, w, r) = Inputs(c, be.Device, 11);
        var ilgpu = be as IlgpuBackend;
        try
        {
            void Step()
            {
                using var scope = TensorScope.Begin();
                Tensor.Conv2d(x, w, stride: (c.Sh, c.Sw), padding: (c.Ph, c.Pw)).Backward(r);
                ClearGrads(x, w);
            }
            double ms;
            using (new PathScope(p))
            {
                Step(); // first call: kernels compiled, cuDNN plan built, workspaces cached
                be.Synchronize();
                ilgpu?.Memory.ResetPeak();
                ms = MedianMs(Step, be.Synchronize, reps);
                // Inside the path's scope: the plans are keyed by its precision.
                if (be.Family<IConv2dKernels>() is CudnnConvKernels k
                    && p.Label.StartsWith("cudnn", StringComparison.Ordinal))
                    Console.WriteLine($"  {c.Name} {p.Label}: " + string.Join(" | ", new[]
                    {
                        CudnnConvDirection.Forward, CudnnConvDirection.BackwardData, CudnnConvDirection.BackwardFilter,
                    }.Select(dir => k.AlgorithmInUse(c.Shape, dir) ?? "not used")));
            }
            double? peak = ilgpu?.Memory.PeakBytes / (double)(1 << 20); // the CPU backend has no device allocator
            var s = c.Shape;
            // Each of the three passes reads two of x, w, y and writes the third; each does MultiplyAdds FMAs.
            long bytes = 3L * 4 * ((long)s.N * s.C * s.H * s.W + (long)s.O * s.C * s.Kh * s.Kw
                + (long)s.N * s.O * s.OutH * s.OutW);
            double flops = 3.0 * 2 * s.MultiplyAdds;
            double? floor = be.Device.Type == DeviceType.Cuda
                ? Math.Max(bytes / (PeakGBs * 1e6), flops / ((p.Tf32 ? Tf32Tflops : Fp32Tflops) * 1e9))
                : null;
            return new TimingRow(c.Name, p.Label, ms, peak, floor, floor is { } f ? ms / f : null, null);
        }
        finally
        {
            x.Dispose(); w.Dispose(); r.Dispose();
        }
    }
}
