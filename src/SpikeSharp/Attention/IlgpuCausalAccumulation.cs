using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Attention;

namespace SpikeSharp.Backends.Ilgpu;

// Launchers of the causal accumulation kernels (CausalAccumulationKernels): one thread per state element.
public sealed partial class IlgpuBackend : ICausalAccumulationBackend
{
    /// <inheritdoc/>
    public void CausalAccumulationForward(Buf q, Buf k, Buf v, Buf? s0, Buf output, Buf state, int steps, int n)
    {
        long tn = (long)steps * n;
        CheckAccumulation(tn, "q", q); CheckAccumulation(tn, "k", k); CheckAccumulation(tn, "v", v);
        CheckAccumulation(tn, "out", output); CheckAccumulation(n, "state", state);
        if (s0 is { } s) CheckAccumulation(n, "s0", s);
        if (n == 0) return;
        var kernel = Kernel("causal_accumulation_forward", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(CausalAccumulationKernels.Forward));
        var vq = View<float>(q);
        kernel(Stream, Launch1D(n), vq, View<float>(k), View<float>(v), s0 is { } b0 ? View<float>(b0) : vq,
            View<float>(output), View<float>(state), steps, n, s0 != null ? 1 : 0);
    }

    /// <inheritdoc/>
    public void CausalAccumulationBackward(Buf q, Buf k, Buf v, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        long tn = (long)steps * n;
        CheckAccumulation(tn, "gq", gq); CheckAccumulation(tn, "gk", gk); CheckAccumulation(tn, "gv", gv);
        if (gOut is { } go) CheckAccumulation(tn, "grad out", go);
        if (gState is { } gs) CheckAccumulation(n, "grad state", gs);
        if (gs0 is { } g0) CheckAccumulation(n, "gs0", g0);
        if (n == 0) return;
        var kernel = Kernel("causal_accumulation_backward", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int>(CausalAccumulationKernels.Backward));
        var vq = View<float>(q);
        int flags = (s0 != null ? 1 : 0) | (gOut != null ? 2 : 0) | (gState != null ? 4 : 0) | (gs0 != null ? 8 : 0);
        // Absent optional buffers are replaced by a valid view the kernel never reads (its flag is off).
        kernel(Stream, Launch1D(n), vq, View<float>(k), View<float>(v), s0 is { } b0 ? View<float>(b0) : vq,
            gOut is { } bo ? View<float>(bo) : vq, gState is { } bs ? View<float>(bs) : vq,
            View<float>(gq), View<float>(gk), View<float>(gv), gs0 is { } b1 ? View<float>(b1) : vq, steps, n, flags);
    }

    private static void CheckAccumulation(long expected, string name, Buf b)
    {
        if (b.Length != expected)
            throw new ArgumentException($"causal_accumulation: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"causal_accumulation: {name} must be float32, got {b.DType.Name()}", name);
    }
}
