using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Attention;

/// <summary>The ILGPU causal accumulation: launches <see cref="CausalAccumulationKernels"/>, one thread per state
/// element.</summary>
internal sealed class IlgpuCausalAccumulation(IlgpuBackend backend) : ICausalAccumulationKernels
{
    /// <inheritdoc/>
    public void Forward(Buf q, Buf k, Buf v, Buf? s0, Buf output, Buf state, Buf? packed, int steps, int n)
    {
        long tn = (long)steps * n;
        Check(tn, "q", q); Check(tn, "k", k); Check(tn, "v", v);
        Check(tn, "out", output); Check(n, "state", state);
        if (s0 is { } s) Check(n, "s0", s);
        if (packed is { } p) CheckBytes(tn, p);
        if (n == 0) return;
        var kernel = backend.Kernel("causal_accumulation_forward", a => a.LoadKernel<ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>,
            int, int, int, int>(CausalAccumulationKernels.Forward));
        var vq = View(q);
        // Absent optional buffers are replaced by a valid view the kernel never reads (its flag is off).
        var bits = packed is { } pb ? backend.View<byte>(pb) : vq.Cast<byte>();
        kernel(backend.Stream, backend.Launch1D(n), vq, View(k), View(v), s0 is { } b0 ? View(b0) : vq,
            View(output), View(state), bits, steps, n, s0 != null ? 1 : 0, packed != null ? 1 : 0);
    }

    /// <inheritdoc/>
    public void Backward(Buf q, Buf k, Buf v, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        long tn = (long)steps * n;
        Check(tn, "q", q); Check(tn, "k", k); Check(tn, "v", v);
        var src = new FloatQkvSource { Qs = View(q), Ks = View(k), Vs = View(v) };
        Launch("causal_accumulation_backward", src, s0, gOut, gState, gq, gk, gv, gs0, steps, n);
    }

    /// <inheritdoc/>
    public void BackwardPacked(Buf packed, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        CheckBytes((long)steps * n, packed);
        var src = new PackedQkvSource { Bits = backend.View<byte>(packed) };
        Launch("causal_accumulation_backward_packed", src, s0, gOut, gState, gq, gk, gv, gs0, steps, n);
    }

    private void Launch<TSource>(string name, TSource src, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n) where TSource : struct, IQkvSource
    {
        long tn = (long)steps * n;
        Check(tn, "gq", gq); Check(tn, "gk", gk); Check(tn, "gv", gv);
        if (gOut is { } go) Check(tn, "grad out", go);
        if (gState is { } gs) Check(n, "grad state", gs);
        if (gs0 is { } g0) Check(n, "gs0", g0);
        if (n == 0) return;
        var kernel = backend.Kernel(name, a => a.LoadKernel<TSource, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
            int>(CausalAccumulationKernels.Backward));
        var any = View(gq);
        int flags = (s0 != null ? 1 : 0) | (gOut != null ? 2 : 0) | (gState != null ? 4 : 0) | (gs0 != null ? 8 : 0);
        // Absent optional buffers are replaced by a valid view the kernel never reads (its flag is off).
        ArrayView<float> Or(Buf? b) => b is { } x ? View(x) : any;
        kernel(backend.Stream, backend.Launch1D(n), src, Or(s0), Or(gOut), Or(gState),
            any, View(gk), View(gv), Or(gs0), steps, n, flags);
    }

    private ArrayView<float> View(Buf b) => backend.View<float>(b);

    private static void Check(long expected, string name, Buf b)
    {
        if (b.Length != expected)
            throw new ArgumentException($"causal_accumulation: {name} has {b.Length} elements, expected {expected}",
                name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"causal_accumulation: {name} must be float32, got {b.DType.Name()}", name);
    }

    private static void CheckBytes(long expected, Buf b)
    {
        if (b.Length != expected || b.DType != DType.UInt8)
            throw new ArgumentException($"causal_accumulation: packed must be {expected} uint8 values, got "
                + $"{b.Length} {b.DType.Name()}", "packed");
    }
}
