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
    public void Forward(Buf q, Buf k, Buf v, Buf? s0, Buf output, Buf state, int steps, int n)
    {
        long tn = (long)steps * n;
        Check(tn, "q", q); Check(tn, "k", k); Check(tn, "v", v);
        Check(tn, "out", output); Check(n, "state", state);
        if (s0 is { } s) Check(n, "s0", s);
        if (n == 0) return;
        var kernel = backend.Kernel("causal_accumulation_forward", a => a.LoadKernel<ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
            int>(CausalAccumulationKernels.Forward));
        var vq = View(q);
        // An absent s0 is replaced by a valid view the kernel never reads (its flag is off).
        kernel(backend.Stream, backend.Launch1D(n), vq, View(k), View(v), s0 is { } b0 ? View(b0) : vq,
            View(output), View(state), steps, n, s0 != null ? 1 : 0);
    }

    /// <inheritdoc/>
    public void Backward(Buf q, Buf k, Buf v, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        long tn = (long)steps * n;
        Check(tn, "gq", gq); Check(tn, "gk", gk); Check(tn, "gv", gv);
        if (gOut is { } go) Check(tn, "grad out", go);
        if (gState is { } gs) Check(n, "grad state", gs);
        if (gs0 is { } g0) Check(n, "gs0", g0);
        if (n == 0) return;
        var kernel = backend.Kernel("causal_accumulation_backward", a => a.LoadKernel<ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
            int>(CausalAccumulationKernels.Backward));
        var vq = View(q);
        int flags = (s0 != null ? 1 : 0) | (gOut != null ? 2 : 0) | (gState != null ? 4 : 0) | (gs0 != null ? 8 : 0);
        // Absent optional buffers are replaced by a valid view the kernel never reads (its flag is off).
        ArrayView<float> Or(Buf? b) => b is { } x ? View(x) : vq;
        kernel(backend.Stream, backend.Launch1D(n), vq, View(k), View(v), Or(s0), Or(gOut), Or(gState),
            View(gq), View(gk), View(gv), Or(gs0), steps, n, flags);
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
}
