using System.Diagnostics;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Kernels;
using static SpikeSharp.Bench.FoundationTiming;

namespace SpikeSharp.Bench;

internal static partial class FoundationBench
{
    private static void RunGpuGemm(IlgpuBackend be, List<FoundationResult> results, int n, int reps)
    {
        string dev = be.Device.ToString(), size = $"{n}^3";
        var ha = HostUniform(n * n, 3); var hb = HostUniform(n * n, 4);
        Buf Up(float[] h) { var x = new Buf(be.Allocate(DType.Float32, h.Length), 0, h.Length); be.Upload<float>(h, x); return x; }
        var a = Up(ha); var b = Up(hb); var c = new Buf(be.Allocate(DType.Float32, n * n), 0, n * n);
        double flops = 2.0 * n * n * n;
        int gemmReps = Math.Max(3, reps / 2);

        void Spike() => be.Gemm(false, false, n, n, n, 1f, a, b, 0f, c);
        double spikeMs = double.NaN;
        bool fallbackSaved = be.ForceGemmFallback;
        if (be.UsesCublas)
        {
            Spike(); CheckGemm(be, c, ha, hb, n, "gemm (cuBLAS)");
            spikeMs = MedianMs(Spike, be.Synchronize, gemmReps);
            double direct = MedianMs(() => DirectSgemm(be, a, b, c, n), be.Synchronize, gemmReps);
            double tf = flops / (spikeMs * 1e9);
            results.Add(new("matmul f32 (SpikeSharp)", dev, size, spikeMs, "TFLOP/s", tf, "cuBLAS direct", direct / spikeMs));  // ratio > 1: SpikeSharp faster
            results.Add(new("matmul f32 (cuBLAS direct)", dev, size, direct, "TFLOP/s", flops / (direct * 1e9), "", null));
        }
        be.ForceGemmFallback = true;
        try
        {
            Spike(); CheckGemm(be, c, ha, hb, n, "gemm (fallback kernel)");
            double fb = MedianMs(Spike, be.Synchronize, gemmReps);
            results.Add(new("matmul f32 (fallback kernel)", dev, size, fb, "TFLOP/s", flops / (fb * 1e9),
                double.IsNaN(spikeMs) ? "" : "SpikeSharp cuBLAS", double.IsNaN(spikeMs) ? null : spikeMs / fb));
        }
        finally { be.ForceGemmFallback = fallbackSaved; }
        foreach (var t in new[] { a, b, c }) t.Storage.Release();
    }

    private static unsafe void DirectSgemm(IlgpuBackend be, Buf a, Buf b, Buf c, int n)
    {
        var api = Cublas.Instance!;
        be.EnsureBound();
        float alpha = 1f, beta = 0f;
        Cublas.Check(api.Sgemm(be.CublasHandle, Cublas.OpN, Cublas.OpN, n, n, n, &alpha,
            be.DevicePointer(b), n, be.DevicePointer(a), n,
            &beta, be.DevicePointer(c), n), "cublasSgemm");
    }

    // A few entries against float64 dot products.
    private static void CheckGemm(IBackend be, Buf c, float[] ha, float[] hb, int n, string what)
    {
        var rnd = new Random(1);
        for (int s = 0; s < 16; s++)
        {
            int i = rnd.Next(n), j = rnd.Next(n);
            double exact = 0;
            for (int p = 0; p < n; p++) exact += (double)ha[i * n + p] * hb[p * n + j];
            var got = new float[1];
            be.Download<float>(new Buf(c.Storage, c.Offset + i * n + j, 1), got);
            Check(Near(exact, got[0], 1e-3), $"{what} C[{i},{j}] (expected {exact}, got {got[0]})");
        }
    }

    private static void RunCpu(List<FoundationResult> results, bool small, int reps)
    {
        var be = CpuBackend.Instance;
        int n = small ? 1 << 16 : 1 << 24;
        var ha = HostUniform(n, 1); var hb = HostUniform(n, 2);
        Buf Up(float[] h) { var x = new Buf(be.Allocate(DType.Float32, h.Length), 0, h.Length); be.Upload<float>(h, x); return x; }
        var a = Up(ha); var b = Up(hb); var y = new Buf(be.Allocate(DType.Float32, n), 0, n);
        be.Map(new AddOp(), a, b, y);
        var hy = new float[n]; be.Download<float>(y, hy);
        for (int i = 0; i < n; i += 997) Check(hy[i] == ha[i] + hb[i], "cpu add");
        double ms = MedianMs(() => be.Map(new AddOp(), a, b, y), () => { }, reps);
        var naive = new float[n];
        double naiveMs = MedianMs(() => { for (int i = 0; i < naive.Length; i++) naive[i] = ha[i] + hb[i]; }, () => { }, reps);
        results.Add(new("elementwise add f32", "cpu", $"2^{Log2(n)}", ms, "GB/s", 12.0 * n / (ms * 1e6), "naive 1-thread loop", naiveMs / ms));
        results.Add(new("elementwise add f32 (naive)", "cpu", $"2^{Log2(n)}", naiveMs, "GB/s", 12.0 * n / (naiveMs * 1e6), "", null));

        int m = small ? 128 : 1024;
        var ga = HostUniform(m * m, 3); var gb = HostUniform(m * m, 4);
        var A = Up(ga); var B = Up(gb); var C = new Buf(be.Allocate(DType.Float32, m * m), 0, m * m);
        be.Gemm(false, false, m, m, m, 1f, A, B, 0f, C);
        CheckGemm(be, C, ga, gb, m, "cpu gemm");
        double flops = 2.0 * m * m * m;
        double gm = MedianMs(() => be.Gemm(false, false, m, m, m, 1f, A, B, 0f, C), () => { }, Math.Max(3, reps / 2));
        var nc = new float[m * m];
        double nm = MedianMs(() => NaiveGemm(ga, gb, nc, m), () => { }, small ? 3 : 1, warmup: small ? 1 : 0);
        results.Add(new("matmul f32", "cpu", $"{m}^3", gm, "GFLOP/s", flops / (gm * 1e6), "naive triple loop", nm / gm));
        results.Add(new("matmul f32 (naive triple loop)", "cpu", $"{m}^3", nm, "GFLOP/s", flops / (nm * 1e6), "", null));
    }

    private static void NaiveGemm(float[] a, float[] b, float[] c, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < n; p++) s += a[i * n + p] * b[p * n + j];
                c[i * n + j] = s;
            }
    }
}
