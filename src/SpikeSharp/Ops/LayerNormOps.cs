using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;

namespace SpikeSharp;

/// <summary>
/// Layer normalisation through the backend's <see cref="ILayerNormKernels"/>, optionally followed by a learnt
/// scalar: y = ((x − μ)·rstd·γ + β)·s over the last dimension. Only x and the per-row mean and rstd are kept for
/// the backward pass (x̂ is recomputed there), and the scalar costs neither a pass nor a saved tensor.
/// </summary>
public static class LayerNormOps
{
    extension(Tensor x)
    {
        /// <summary>
        /// LayerNorm over the last dimension times a one-element <paramref name="scale"/>:
        /// y = ((x − μ)/√(σ² + ε)·γ + β)·s (γ, β of shape (D) or null; s of one element or null). Falls back to
        /// <see cref="NormOps.LayerNorm"/> followed by a multiplication on a backend without layer-norm kernels.
        /// </summary>
        /// <exception cref="ArgumentException">A shape, dtype or device disagrees (naming the parameter).</exception>
        public Tensor ScaledLayerNorm(Tensor? weight, Tensor? bias, Tensor? scale, float eps = 1e-5f)
        {
            x.CheckFloat("layer_norm");
            if (x.Rank < 1)
                throw new ArgumentException("layer_norm: x must have at least one dimension, got a scalar", nameof(x));
            if (scale != null)
            {
                x.CheckSameDevice(scale, "layer_norm");
                if (scale.Numel != 1 || scale.DType != DType.Float32)
                    throw new ArgumentException(
                        $"layer_norm: scale must be one float32 value, got {scale.DType.Name()} "
                        + ShapeUtil.Format(scale.Shape), nameof(scale));
            }
            if (Fused(x, 1, weight, bias, scale, eps) is { } y) return y;
            var n = Tensor.LayerNorm(x, 1, weight, bias, eps);
            return scale == null ? n : Tensor.Releasing(n, n.Mul(scale));
        }
    }

    /// <summary>
    /// The kernel-family path of <see cref="NormOps.LayerNorm"/> (arguments already checked there; scale checked by
    /// the caller): null when the backend has no <see cref="ILayerNormKernels"/>.
    /// </summary>
    internal static Tensor? Fused(Tensor x, int normalizedDims, Tensor? weight, Tensor? bias, Tensor? scale,
        float eps)
    {
        if (Tensor.GenericNormPoolOnly || x.Backend.Family<ILayerNormKernels>() is not { } k) return null;
        var nshape = x.Shape[(x.Rank - normalizedDims)..];
        foreach (var (t, nm) in new[] { (weight, "weight"), (bias, "bias") })
        {
            if (t == null) continue;
            x.CheckSameDevice(t, "layer_norm");
            if (!t.Shape.AsSpan().SequenceEqual(nshape))
                throw new ArgumentException($"layer_norm: {nm} must have shape {ShapeUtil.Format(nshape)}, got "
                    + ShapeUtil.Format(t.Shape), nm);
        }
        int d = (int)ShapeUtil.Numel(nshape), rows = d == 0 ? 0 : x.Numel / d;
        var s = new LayerNormShape(rows, d);
        var dev = x.Device;
        var y = Tensor.Empty(x.Shape, DType.Float32, dev);
        var mean = Tensor.Empty(new[] { rows }, DType.Float32, dev);
        var rstd = Tensor.Empty(new[] { rows }, DType.Float32, dev);
        k.Forward(s, x.Buf, weight?.Buf, bias?.Buf, scale?.Buf, eps, y.Buf, mean.Buf, rstd.Buf);
        bool gx = x.RequiresGrad, gw = weight is { RequiresGrad: true }, gb = bias is { RequiresGrad: true };
        bool gs = scale is { RequiresGrad: true };
        bool any = gx || gw || gb || gs;
        Tape.Record("layer_norm", new[] { y }, new[] { x, weight, bias, scale },
            Saves.Of(any ? x : null, any ? mean : null, any ? rstd : null, weight, bias, scale), g =>
        {
            var gy = g[0];
            Tensor? dx = gx ? Tensor.Empty(x.Shape, DType.Float32, dev) : null;
            Tensor? dw = gw ? Tensor.Empty(weight!.Shape, DType.Float32, dev) : null;
            Tensor? db = gb ? Tensor.Empty(bias!.Shape, DType.Float32, dev) : null;
            Tensor? ds = gs ? Tensor.Empty(scale!.Shape, DType.Float32, dev) : null;
            if (gy == null || s.Numel == 0)
            {
                foreach (var t in new[] { dx, dw, db, ds }) if (t is { Numel: > 0 }) t.Backend.Fill(t.Buf, 0f);
                return new[] { dx, dw, db, ds };
            }
            if (dx != null) k.BackwardData(s, gy.Buf, x.Buf, mean.Buf, rstd.Buf, weight?.Buf, scale?.Buf, dx.Buf);
            if (gw || gb || gs)
            {
                using var parts = gs ? Tensor.Empty(new[] { d }, DType.Float32, dev) : null;
                k.BackwardParams(s, gy.Buf, x.Buf, mean.Buf, rstd.Buf, weight?.Buf, bias?.Buf, scale?.Buf, dw?.Buf,
                    db?.Buf, parts?.Buf);
                if (ds != null) x.Backend.Reduce(new SumOp(), parts!.Buf, ds.Buf, 1, d, 1);
            }
            return new[] { dx, dw, db, ds };
        });
        mean.Release();
        rstd.Release();
        return y;
    }
}
