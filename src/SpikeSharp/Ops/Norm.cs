using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// Batch and layer normalisation, composed of differentiable primitives (their gradients follow).
public sealed partial class Tensor
{
    /// <summary>
    /// Batch normalisation over every dim but 1. x: (N, C, ...); running statistics (C) are updated in place
    /// (momentum, unbiased variance) when <paramref name="training"/>, else used to normalise. weight and
    /// bias (C) are optional.
    /// </summary>
    /// <remarks>y = (x − μ) / √(σ² + ε) · γ + β, with μ, σ² the biased batch statistics in training.</remarks>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        x.CheckFloat("batch_norm");
        if (x.Rank < 2) throw new ArgumentException($"batch_norm: expected (N, C, ...), got {ShapeUtil.Format(x._shape)}", nameof(x));
        int c = x._shape[1];
        foreach (var (t, nm) in new[] { (runningMean, "runningMean"), (runningVar, "runningVar"), (weight, "weight"), (bias, "bias") })
            if (t != null && t.Numel != c)
                throw new ArgumentException($"batch_norm: {nm} must have C = {c} elements for input {ShapeUtil.Format(x._shape)}, got {ShapeUtil.Format(t._shape)}", nm);
        var bshape = Enumerable.Range(0, x.Rank).Select(i => i == 1 ? c : 1).ToArray();
        Tensor y;
        if (training || runningMean == null || runningVar == null)
        {
            var dims = Enumerable.Range(0, x.Rank).Where(i => i != 1).ToArray();
            int count = x.Numel / Math.Max(c, 1);
            if (training && count <= 1)
                throw new ArgumentException($"batch_norm: training needs more than one value per channel, input {ShapeUtil.Format(x._shape)}", nameof(x));
            var mean = x.Mean(dims, keepDim: true);
            var xc = x.Sub(mean);
            var v = xc.Mul(xc).Mean(dims, keepDim: true);
            y = xc.Mul(v.AddScalar(eps).Pow(-0.5f));
            if (training && runningMean != null && runningVar != null)
            {
                runningMean.DropBf16Exact(); runningVar.DropBf16Exact(); // updated in place
                x.Backend.Map(new EmaOp(momentum, 1f), runningMean.Buf, mean.Buf, runningMean.Buf);
                x.Backend.Map(new EmaOp(momentum, count / (count - 1f)), runningVar.Buf, v.Buf, runningVar.Buf);
            }
        }
        else
        {
            using var rm = runningMean.ReshapeNoGrad(bshape);
            using var rv = runningVar.ReshapeNoGrad(bshape);
            using var inv = Unary(rv, new AffineOp(1f, eps), "batch_norm");
            x.Backend.Map(new PowOp(-0.5f), inv.Buf, inv.Buf);
            y = x.Sub(rm).Mul(inv);
        }
        if (weight != null) y = y.Mul(weight.Reshape(bshape));
        if (bias != null) y = y.Add(bias.Reshape(bshape));
        return y;
    }

    /// <summary>
    /// Layer normalisation over the last <paramref name="normalizedDims"/> dims; weight and bias have the shape of
    /// those dims (or are null).
    /// </summary>
    /// <remarks>y = (x − μ) / √(σ² + ε) · γ + β, with μ, σ² (biased) over the normalised dims.</remarks>
    public static Tensor LayerNorm(Tensor x, int normalizedDims, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        x.CheckFloat("layer_norm");
        if (normalizedDims < 1 || normalizedDims > x.Rank)
            throw new ArgumentException($"layer_norm: normalizedDims must be in [1, {x.Rank}] for input {ShapeUtil.Format(x._shape)}, got {normalizedDims}", nameof(normalizedDims));
        var nshape = x._shape.Skip(x.Rank - normalizedDims).ToArray();
        foreach (var (t, nm) in new[] { (weight, "weight"), (bias, "bias") })
            if (t != null && !t._shape.AsSpan().SequenceEqual(nshape))
                throw new ArgumentException($"layer_norm: {nm} must have shape {ShapeUtil.Format(nshape)}, got {ShapeUtil.Format(t._shape)}", nm);
        var dims = Enumerable.Range(x.Rank - normalizedDims, normalizedDims).ToArray();
        var mean = x.Mean(dims, keepDim: true);
        var xc = x.Sub(mean);
        var v = xc.Mul(xc).Mean(dims, keepDim: true);
        var y = xc.Mul(v.AddScalar(eps).Pow(-0.5f));
        if (weight != null) y = y.Mul(weight);
        if (bias != null) y = y.Add(bias);
        return y;
    }
}
