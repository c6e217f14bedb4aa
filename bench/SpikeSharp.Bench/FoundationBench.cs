using System.Text.Json;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Kernels;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

/// <summary>
/// Foundation figures: elementwise add and full sum against memory bandwidth, fp32 GEMM against
/// cuBLAS called directly and against the fallback kernel (GPU), or against naive loops (CPU).
/// </summary>
internal static partial class FoundationBench
{
    private const double H200Bandwidth = 4129.0; // GB/s, device copy ceiling

    public static int Run(string[] args)
    {
        var device = Device.Cpu; string? outFile = null; bool small = false; int reps = 10;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--device": device = Device.Parse(args[++i]); break;
                case "--out": outFile = args[++i]; break;
                case "--small": small = true; break;
                case "--reps": reps = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"foundation: unknown option '{args[i]}' (--device D, --out FILE, --small, --reps N)"); return 2;
            }
        }
        var backend = BackendRegistry.Get(device);
        var results = new List<FoundationResult>();
        if (device.Type == DeviceType.Cpu) RunCpu(results, small, reps);
        else RunGpu((IlgpuBackend)backend, results, small, reps);

        Console.WriteLine($"{"benchmark",-34} {"size",-16} {"median ms",10} {"value",12} {"unit",-8} {"vs",-22} {"ratio",7}");
        foreach (var r in results)
            Console.WriteLine($"{r.Name,-34} {r.Size,-16} {r.MedianMs,10:F3} {r.Value,12:F2} {r.Unit,-8} {r.Reference,-22} {(r.Ratio is double q ? q.ToString("F3") : "-"),7}");
        if (outFile != null)
        {
            var doc = new { suite = "foundation", device = device.ToString(), small, reps, machine = Environment.MachineName, results };
            File.WriteAllText(outFile, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {outFile}");
        }
        return 0;
    }

    /// <summary>Uniform numbers in [0.5, 1.5) (never zero), the same on host and device.</summary>
    internal static UniformOp Uniform(uint seed) => new() { KeyLo = seed, KeyHi = 7, Offset = 0, Lo = 0.5f, Hi = 1.5f };

    internal static float[] HostUniform(int n, uint seed)
    {
        var op = Uniform(seed); var a = new float[n];
        Parallel.For(0, (n + 65535) / 65536, c => { for (int i = c * 65536; i < Math.Min(n, (c + 1) * 65536); i++) a[i] = op.Apply(i, 0f); });
        return a;
    }

    private static Buf DeviceUniform(IBackend be, int n, uint seed)
    {
        var b = new Buf(be.Allocate(DType.Float32, n), 0, n);
        be.MapIndexed(Uniform(seed), b, b);
        return b;
    }

    private static void RunGpu(IlgpuBackend be, List<FoundationResult> results, bool small, int reps)
    {
        string dev = be.Device.ToString();
        int n = small ? 1 << 16 : 1 << 28;
        var a = DeviceUniform(be, n, 1); var b = DeviceUniform(be, n, 2); var y = new Buf(be.Allocate(DType.Float32, n), 0, n);

        // add: check sampled windows, then time. 12 bytes move per element.
        be.Map(new AddOp(), a, b, y);
        CheckSamples(be, y, n, i => Uniform(1).Apply(i, 0f) + Uniform(2).Apply(i, 0f), "add");
        double ms = MedianMs(() => be.Map(new AddOp(), a, b, y), be.Synchronize, reps);
        double gbs = 12.0 * n / (ms * 1e6);
        results.Add(new("elementwise add f32", dev, $"2^{Log2(n)}", ms, "GB/s", gbs, "H200 4129 GB/s", gbs / H200Bandwidth));

        // sum: 4 bytes per element; check against a float64 host sum.
        var s = new Buf(be.Allocate(DType.Float32, 1), 0, 1);
        be.Reduce(new SumOp(), a, s, 1, n, 1);
        var host = new float[1]; be.Download<float>(s, host);
        var ha = HostUniform(n, 1);
        double exact = 0; foreach (var v in ha) exact += v;
        Check(Near(exact, host[0], 1e-4), $"sum (expected {exact}, got {host[0]})");
        ms = MedianMs(() => be.Reduce(new SumOp(), a, s, 1, n, 1), be.Synchronize, reps);
        gbs = 4.0 * n / (ms * 1e6);
        results.Add(new("sum f32 (full reduce)", dev, $"2^{Log2(n)}", ms, "GB/s", gbs, "H200 4129 GB/s", gbs / H200Bandwidth));
        foreach (var t in new[] { a, b, y, s }) t.Storage.Release();

        RunGpuGemm(be, results, small ? 128 : 8192, reps);
    }

    private static void CheckSamples(IBackend be, Buf y, int n, Func<int, float> expected, string what)
    {
        foreach (int start in new[] { 0, n / 3, Math.Max(0, n - 4096) })
        {
            int len = Math.Min(4096, n - start);
            var got = new float[len];
            be.Download<float>(new Buf(y.Storage, y.Offset + start, len), got);
            for (int i = 0; i < len; i++) Check(Near(expected(start + i), got[i], 1e-6), $"{what} at {start + i}");
        }
    }

    internal static int Log2(long n) => 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)n);
}
