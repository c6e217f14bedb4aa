using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// The ILGPU layer normalisation (<see cref="ILayerNormKernels"/>): the forward pass in one launch (one warp per
/// row), the input gradient in one, the parameter gradients in two (partials over row ranges, then one thread per
/// column adding them in order). Kernels: <see cref="IlgpuLayerNormKernels"/>.
/// </summary>
internal sealed class IlgpuLayerNorm(IlgpuBackend backend) : ILayerNormKernels
{
    /// <summary>Rows per range of the column reductions when positive (tests exercise several ranges and a ragged
    /// last one on small shapes).</summary>
    [ThreadStatic] internal static int ChunkOverride;

    private const int WarpThreads = 32;

    /// <inheritdoc/>
    public void Forward(in LayerNormShape s, Buf x, Buf? weight, Buf? bias, Buf? scale, float eps, Buf y, Buf mean,
        Buf rstd)
    {
        CheckLen(s.Numel, x, "x"); CheckLen(s.Numel, y, "y");
        CheckLen(s.Rows, mean, "mean"); CheckLen(s.Rows, rstd, "rstd");
        var v = Views(s, weight, bias, scale);
        if (s.Rows == 0) return;
        v.X = View(x); v.Out = View(y); v.Mean = View(mean); v.Rstd = View(rstd); v.Eps = eps;
        var k = backend.Kernel("layer_norm_forward", a => a.LoadKernel<LnViews>(IlgpuLayerNormKernels.Forward));
        k(backend.Stream, backend.Launch1D((long)s.Rows * WarpThreads), Complete(v));
    }

    /// <inheritdoc/>
    public void BackwardData(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? scale, Buf dx)
    {
        CheckLen(s.Numel, g, "g"); CheckLen(s.Numel, x, "x"); CheckLen(s.Numel, dx, "dx");
        CheckLen(s.Rows, mean, "mean"); CheckLen(s.Rows, rstd, "rstd");
        var v = Views(s, weight, null, scale);
        if (s.Numel == 0) return;
        v.G = View(g); v.X = View(x); v.Out = View(dx); v.Mean = View(mean); v.Rstd = View(rstd);
        var k = backend.Kernel("layer_norm_backward_data", a =>
            a.LoadKernel<LnViews>(IlgpuLayerNormKernels.BackwardData));
        k(backend.Stream, backend.Launch1D((long)s.Rows * WarpThreads), Complete(v));
    }

    /// <inheritdoc/>
    public void BackwardParams(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias,
        Buf? scale, Buf? dWeight, Buf? dBias, Buf? dScaleParts)
    {
        CheckLen(s.Numel, g, "g"); CheckLen(s.Numel, x, "x");
        CheckLen(s.Rows, mean, "mean"); CheckLen(s.Rows, rstd, "rstd");
        var v = Views(s, weight, bias, scale);
        if (dWeight is { } dw) { CheckLen(s.D, dw, "dWeight"); v.DW = View(dw); v.HasDW = 1; }
        if (dBias is { } db) { CheckLen(s.D, db, "dBias"); v.DB = View(db); v.HasDB = 1; }
        if (dScaleParts is { } ds) { CheckLen(s.D, ds, "dScaleParts"); v.DS = View(ds); v.HasDS = 1; }
        if (s.D == 0) return;
        v.Chunk = ChunkOverride > 0 ? ChunkOverride : 32;
        v.P = Math.Max(1, (s.Rows + v.Chunk - 1) / v.Chunk);
        var part = backend.Allocate(DType.Float32, 2 * v.P * s.D);
        try
        {
            v.G = View(g); v.X = View(x); v.Mean = View(mean); v.Rstd = View(rstd);
            v.PartA = View(new Buf(part, 0, v.P * s.D));
            v.PartB = View(new Buf(part, v.P * s.D, v.P * s.D));
            v = Complete(v);
            var k1 = backend.Kernel("layer_norm_param_partials", a =>
                a.LoadAutoGroupedKernel<Index1D, LnViews>(IlgpuLayerNormKernels.ParamPartials));
            k1(backend.Stream, v.P * s.D, v);
            var k2 = backend.Kernel("layer_norm_param_combine", a =>
                a.LoadAutoGroupedKernel<Index1D, LnViews>(IlgpuLayerNormKernels.ParamCombine));
            k2(backend.Stream, s.D, v);
        }
        finally { part.Release(); }
    }

    private LnViews Views(in LayerNormShape s, Buf? weight, Buf? bias, Buf? scale)
    {
        var v = new LnViews { Rows = s.Rows, D = s.D, InvD = s.D > 0 ? 1f / s.D : 0f, P = 1, Chunk = 1 };
        if (weight is { } w) { CheckLen(s.D, w, "weight"); v.Weight = View(w); v.HasWeight = 1; }
        if (bias is { } b) { CheckLen(s.D, b, "bias"); v.Bias = View(b); v.HasBias = 1; }
        if (scale is { } sc) { CheckLen(1, sc, "scale"); v.Scale = View(sc); v.HasScale = 1; }
        return v;
    }

    // Views a kernel does not read still have to be valid arguments: they alias one that is.
    private static LnViews Complete(LnViews v)
    {
        var any = v.X;
        static ArrayView<float> Or(ArrayView<float> a, ArrayView<float> b) => a.IsValid ? a : b;
        v.G = Or(v.G, any); v.Mean = Or(v.Mean, any); v.Rstd = Or(v.Rstd, any); v.Weight = Or(v.Weight, any);
        v.Bias = Or(v.Bias, any); v.Scale = Or(v.Scale, any); v.Out = Or(v.Out, any); v.PartA = Or(v.PartA, any);
        v.PartB = Or(v.PartB, any); v.DW = Or(v.DW, any); v.DB = Or(v.DB, any); v.DS = Or(v.DS, any);
        return v;
    }

    private ArrayView<float> View(Buf b) => backend.View<float>(b);

    private static void CheckLen(long expected, Buf b, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"layer_norm: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"layer_norm: {name} must be float32, got {b.DType.Name()}", name);
    }
}
