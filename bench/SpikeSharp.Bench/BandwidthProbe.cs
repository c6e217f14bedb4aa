using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Bench;

/// <summary>Four floats moved as one 16-byte access (ILGPU emits ld/st.global.v4 for aligned views of it).</summary>
public struct Vec4 { public float X, Y, Z, W; }

/// <summary>
/// <c>bandwidth</c>: how close ILGPU kernels of a given access pattern come to the device copy rate, timed
/// with CUDA events. Device copy (cuMemcpy), scalar and 16-byte copies, and the forward pattern of a
/// T = 16 LIF over N = 4M neurons (read x, write spikes and h) one neuron per thread or four.
/// </summary>
internal static class BandwidthProbe
{
    public static int Run(string[] args)
    {
        if (args.Length > 0) { Console.Error.WriteLine($"bandwidth: takes no options, got '{args[0]}'"); return 2; }
        if (DeviceCatalog.CudaDeviceCount == 0) { Console.Error.WriteLine("bandwidth: needs a CUDA device; none was found"); return 2; }
        var be = (IlgpuBackend)BackendRegistry.Get(Device.Cuda(0));
        var acc = be.Accelerator; var st = be.Stream;
        const int T = 16, N = 4194304; long n = (long)T * N;
        using var a = acc.Allocate1D<float>(n); using var b = acc.Allocate1D<float>(n); using var c = acc.Allocate1D<float>(n);
        a.View.MemSetToZero(st); b.View.MemSetToZero(st); c.View.MemSetToZero(st);
        var rows = new List<(string, double, double)>();
        void Time(string name, double bytes, Action run)
        {
            double ms = GpuTiming.MedianMs(acc, st, run, 30);
            rows.Add((name, ms, bytes / (ms * 1e6)));
        }
        Time("memcpy d2d", 8.0 * n, () => a.View.CopyTo(st, b.View));
        var copy1 = acc.LoadKernel<ArrayView<float>, ArrayView<float>>(Copy1);
        var copy4 = acc.LoadKernel<ArrayView<Vec4>, ArrayView<Vec4>>(Copy4);
        foreach (int g in new[] { 128, 256, 512 })
            Time($"copy scalar b{g}", 8.0 * n, () => copy1(st, new KernelConfig((int)((n + g - 1) / g), g), a.View, b.View));
        var a4 = ((ArrayView<float>)a.View).Cast<Vec4>(); var b4 = ((ArrayView<float>)b.View).Cast<Vec4>();
        foreach (int g in new[] { 128, 256, 512 })
            Time($"copy vec4 b{g}", 8.0 * n, () => copy4(st, new KernelConfig((int)((n / 4 + g - 1) / g), g), a4, b4));
        var lif1 = acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(Lif16Scalar);
        var lif4 = acc.LoadKernel<ArrayView<Vec4>, ArrayView<Vec4>, ArrayView<Vec4>, int>(Lif16Vec4);
        foreach (int g in new[] { 64, 128, 256 })
            Time($"lif16 fwd scalar b{g}", 12.0 * n, () => lif1(st, new KernelConfig((N + g - 1) / g, g), a.View, b.View, c.View, N));
        var c4 = ((ArrayView<float>)c.View).Cast<Vec4>();
        foreach (int g in new[] { 32, 64, 128, 256 })
            Time($"lif16 fwd vec4 b{g}", 12.0 * n, () => lif4(st, new KernelConfig((N / 4 + g - 1) / g, g), a4, b4, c4, N / 4));
        Console.WriteLine($"{"pattern",-24} {"ms",8} {"GB/s",8}");
        foreach (var (name, ms, gbs) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {ms,8:F4} {gbs,8:F0}"));
        return 0;
    }

    private static void Copy1(ArrayView<float> a, ArrayView<float> b)
    {
        long i = Grid.GlobalLinearIndex;
        if (i < a.Length) b[i] = a[i];
    }

    private static void Copy4(ArrayView<Vec4> a, ArrayView<Vec4> b)
    {
        long i = Grid.GlobalLinearIndex;
        if (i < a.Length) b[i] = a[i];
    }

    private static float Step(float x, ref float u, out float h)
    {
        h = 0.5f * u + x;
        float s = h >= 1f ? 1f : 0f;
        u = s != 0f ? 0f : h;
        return s;
    }

    // One neuron per thread: all 16 loads issued before the first use.
    private static void Lif16Scalar(ArrayView<float> x, ArrayView<float> s, ArrayView<float> h, int N)
    {
        int n = Grid.GlobalIndex.X;
        if (n >= N) return;
        float x0 = x[n], x1 = x[N + n], x2 = x[2 * N + n], x3 = x[3 * N + n], x4 = x[4 * N + n], x5 = x[5 * N + n], x6 = x[6 * N + n], x7 = x[7 * N + n];
        float x8 = x[8 * N + n], x9 = x[9 * N + n], x10 = x[10 * N + n], x11 = x[11 * N + n], x12 = x[12 * N + n], x13 = x[13 * N + n], x14 = x[14 * N + n], x15 = x[15 * N + n];
        float u = 0f, hh;
        s[n] = Step(x0, ref u, out hh); h[n] = hh;
        s[N + n] = Step(x1, ref u, out hh); h[N + n] = hh;
        s[2 * N + n] = Step(x2, ref u, out hh); h[2 * N + n] = hh;
        s[3 * N + n] = Step(x3, ref u, out hh); h[3 * N + n] = hh;
        s[4 * N + n] = Step(x4, ref u, out hh); h[4 * N + n] = hh;
        s[5 * N + n] = Step(x5, ref u, out hh); h[5 * N + n] = hh;
        s[6 * N + n] = Step(x6, ref u, out hh); h[6 * N + n] = hh;
        s[7 * N + n] = Step(x7, ref u, out hh); h[7 * N + n] = hh;
        s[8 * N + n] = Step(x8, ref u, out hh); h[8 * N + n] = hh;
        s[9 * N + n] = Step(x9, ref u, out hh); h[9 * N + n] = hh;
        s[10 * N + n] = Step(x10, ref u, out hh); h[10 * N + n] = hh;
        s[11 * N + n] = Step(x11, ref u, out hh); h[11 * N + n] = hh;
        s[12 * N + n] = Step(x12, ref u, out hh); h[12 * N + n] = hh;
        s[13 * N + n] = Step(x13, ref u, out hh); h[13 * N + n] = hh;
        s[14 * N + n] = Step(x14, ref u, out hh); h[14 * N + n] = hh;
        s[15 * N + n] = Step(x15, ref u, out hh); h[15 * N + n] = hh;
    }

    private static Vec4 Step4(Vec4 x, ref Vec4 u, out Vec4 h)
    {
        Vec4 s;
        s.X = Step(x.X, ref u.X, out h.X); s.Y = Step(x.Y, ref u.Y, out h.Y);
        s.Z = Step(x.Z, ref u.Z, out h.Z); s.W = Step(x.W, ref u.W, out h.W);
        return s;
    }

    // Four neurons per thread (16-byte accesses), loads of 8 steps issued before their use.
    private static void Lif16Vec4(ArrayView<Vec4> x, ArrayView<Vec4> s, ArrayView<Vec4> h, int N4)
    {
        int n = Grid.GlobalIndex.X;
        if (n >= N4) return;
        Vec4 u = default, hh;
        for (int t0 = 0; t0 < 16; t0 += 8)
        {
            int b = t0 * N4 + n;
            Vec4 x0 = x[b], x1 = x[b + N4], x2 = x[b + 2 * N4], x3 = x[b + 3 * N4], x4 = x[b + 4 * N4], x5 = x[b + 5 * N4], x6 = x[b + 6 * N4], x7 = x[b + 7 * N4];
            s[b] = Step4(x0, ref u, out hh); h[b] = hh;
            s[b + N4] = Step4(x1, ref u, out hh); h[b + N4] = hh;
            s[b + 2 * N4] = Step4(x2, ref u, out hh); h[b + 2 * N4] = hh;
            s[b + 3 * N4] = Step4(x3, ref u, out hh); h[b + 3 * N4] = hh;
            s[b + 4 * N4] = Step4(x4, ref u, out hh); h[b + 4 * N4] = hh;
            s[b + 5 * N4] = Step4(x5, ref u, out hh); h[b + 5 * N4] = hh;
            s[b + 6 * N4] = Step4(x6, ref u, out hh); h[b + 6 * N4] = hh;
            s[b + 7 * N4] = Step4(x7, ref u, out hh); h[b + 7 * N4] = hh;
        }
    }
}

/// <summary>GPU-side timing with CUDA events (ILGPU profiling markers): launch overhead and host work are
/// excluded as long as the host keeps ahead of the device.</summary>
internal static class GpuTiming
{
    public static double MedianMs(Accelerator acc, AcceleratorStream st, Action run, int reps, int warmup = 3)
    {
        for (int i = 0; i < warmup; i++) run();
        st.Synchronize();
        var marks = new ProfilingMarker[reps + 1];
        marks[0] = st.AddProfilingMarker();
        for (int i = 0; i < reps; i++) { run(); marks[i + 1] = st.AddProfilingMarker(); }
        st.Synchronize();
        var times = new double[reps];
        for (int i = 0; i < reps; i++) times[i] = (marks[i + 1] - marks[i]).TotalMilliseconds;
        foreach (var m in marks) m.Dispose();
        Array.Sort(times);
        return reps % 2 == 1 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    }
}
