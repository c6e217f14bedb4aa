using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// Batch and layer normalisation as single ops with written-out backward rules. Batch norm runs on the backend's
/// IBatchNormKernels family where it has one (BatchNormFused.cs); the generic paths here keep only the normalised input
/// x̂ and the per-channel (per-row) 1/σ for their backward, and build their output in the buffer of the squares they no
/// longer need, instead of the five input-sized tensors a composition of primitives would keep.
/// </summary>
public static partial class NormOps
{
    extension(Tensor)
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
            if (x.Rank < 2) throw new ArgumentException($"batch_norm: expected (N, C, ...), "
                + $"got {ShapeUtil.Format(x.Dims)}", nameof(x));
            int c = x.Dims[1];
            foreach (var (t, nm) in new[] { (runningMean, "runningMean"), (runningVar, "runningVar"),
                (weight, "weight"), (bias, "bias") })
                if (t != null && t.Numel != c)
                    throw new ArgumentException($"batch_norm: {nm} must have C = {c} elements for "
                        + $"input {ShapeUtil.Format(x.Dims)}, got {ShapeUtil.Format(t.Dims)}", nm);
            int n = x.Dims[0], sp = c == 0 || n == 0 ? 0 : x.Numel / (n * c);
            int count = n * sp;
            if (training && count <= 1)
                throw new ArgumentException("batch_norm: training needs more than one value per channel, input "
                    + ShapeUtil.Format(x.Dims), nameof(x));
            foreach (var t in new[] { runningMean, runningVar, weight, bias })
                if (t != null) x.CheckSameDevice(t, "batch_norm");
            var family = Tensor.GenericNormPoolOnly ? null : x.Backend.Family<IBatchNormKernels>();
            return family != null
                ? BatchNormFused(family, x, runningMean, runningVar, weight, bias, training, momentum, eps, n, c, sp)
                : BatchNormGeneric(x, runningMean, runningVar, weight, bias, training, momentum, eps, n, c, sp);
        }

        /// <summary>
        /// Layer normalisation over the last <paramref name="normalizedDims"/> dims; weight and bias have the shape of
        /// those dims (or are null).
        /// </summary>
        /// <remarks>y = (x − μ) / √(σ² + ε) · γ + β, with μ, σ² (biased) over the normalised dims.</remarks>
        public static Tensor LayerNorm(Tensor x, int normalizedDims, Tensor? weight = null,
            Tensor? bias = null, float eps = 1e-5f)
        {
            x.CheckFloat("layer_norm");
            if (normalizedDims < 1 || normalizedDims > x.Rank)
                throw new ArgumentException($"layer_norm: normalizedDims must be in [1, {x.Rank}] for "
                    + $"input {ShapeUtil.Format(x.Dims)}, got {normalizedDims}", nameof(normalizedDims));
            var nshape = x.Dims.Skip(x.Rank - normalizedDims).ToArray();
            foreach (var (t, nm) in new[] { (weight, "weight"), (bias, "bias") })
                if (t != null && !t.Dims.AsSpan().SequenceEqual(nshape))
                    throw new ArgumentException($"layer_norm: {nm} must have shape {ShapeUtil.Format(nshape)}, "
                        + $"got {ShapeUtil.Format(t.Dims)}", nm);
            foreach (var t in new[] { weight, bias }) if (t != null) x.CheckSameDevice(t, "layer_norm");
            if (LayerNormOps.Fused(x, normalizedDims, weight, bias, null, eps) is { } fused) return fused;
            int d = (int)ShapeUtil.Numel(nshape), rows = d == 0 ? 0 : x.Numel / d;
            var be = x.Backend; var dev = x.Device;
            // x viewed as (R, D); per-row values broadcast as (R, 1), weight and bias as (1, D).
            var (full, perRow) = Broadcasting.Indices(new[] { rows, d }, new[] { rows, d }, new[] { rows, 1 });
            var (_, perCol) = Broadcasting.Indices(new[] { rows, d }, new[] { rows, d }, new[] { 1, d });
            Tensor xhat, rstd, y;
            using (MemoryProfile.Label("layer_norm"))
            {
                xhat = Empty(x.Dims, DType.Float32, dev);
                rstd = Empty(new[] { rows }, DType.Float32, dev);
                if (x.Numel > 0)
                {
                    using var mean = Empty(new[] { rows }, DType.Float32, dev);
                    be.Reduce(new SumOp(), x.Buf, mean.Buf, rows, d, 1);
                    be.Map(new AffineOp(1f / d, 0f), mean.Buf, mean.Buf);
                    be.MapBroadcast(new SubOp(), x.Buf, full, mean.Buf, perRow, xhat.Buf);
                }
                // The squares' buffer becomes the output once the variance is taken.
                y = Unary(xhat, new SquareOp(), "layer_norm");
                if (x.Numel > 0)
                {
                    be.Reduce(new SumOp(), y.Buf, rstd.Buf, rows, d, 1);
                    be.Map(new AffineOp(1f / d, eps), rstd.Buf, rstd.Buf);
                    be.Map(new PowOp(-0.5f), rstd.Buf, rstd.Buf);
                    be.MapBroadcast(new MulOp(), xhat.Buf, full, rstd.Buf, perRow, xhat.Buf);
                    if (weight != null) be.MapBroadcast(new MulOp(), xhat.Buf, full, weight.Buf, perCol, y.Buf);
                    else be.Copy(xhat.Buf, y.Buf);
                    if (bias != null) be.MapBroadcast(new AddOp(), y.Buf, full, bias.Buf, perCol, y.Buf);
                }
            }
            bool gx = x.RequiresGrad, gw = weight is { RequiresGrad: true }, gb = bias is { RequiresGrad: true };
            Tape.Record("layer_norm", y, Saves.Of(gx || gw ? xhat : null, gx ? rstd : null, gx ? weight : null), gy =>
            {
                if (gy.Numel == 0)
                    return new[]
                    {
                        gx ? ZerosLike(gy) : null, gw ? ZerosLike(weight!) : null, gb ? ZerosLike(bias!) : null,
                    };
                // u = g ⊙ x̂ gives dγ (summed over rows); then g·γ and u·γ give
                // dx = rstd · (gγ − mean_D(gγ) − x̂ · mean_D(gγ ⊙ x̂)).
                Tensor? dw = null, db = null, dx = null;
                if (gb)
                {
                    db = Empty(bias!.Dims, DType.Float32, gy.Device);
                    be.Reduce(new SumOp(), gy.Buf, db.Buf, 1, rows, d);
                }
                var u = gw || gx ? Binary(gy, xhat, new MulOp(), "layer_norm_backward") : null;
                if (gw)
                {
                    dw = Empty(weight!.Dims, DType.Float32, gy.Device);
                    be.Reduce(new SumOp(), u!.Buf, dw.Buf, 1, rows, d);
                }
                if (gx)
                {
                    using var gg = weight != null ? Empty(gy.Dims, DType.Float32, gy.Device) : null;
                    if (gg != null)
                    {
                        be.MapBroadcast(new MulOp(), gy.Buf, full, weight!.Buf, perCol, gg.Buf);
                        be.MapBroadcast(new MulOp(), u!.Buf, full, weight.Buf, perCol, u.Buf);
                    }
                    var ggBuf = gg?.Buf ?? gy.Buf;
                    using var k1 = Empty(new[] { rows }, DType.Float32, gy.Device);
                    using var k2 = Empty(new[] { rows }, DType.Float32, gy.Device);
                    be.Reduce(new SumOp(), u!.Buf, k1.Buf, rows, d, 1);
                    be.Map(new AffineOp(1f / d, 0f), k1.Buf, k1.Buf);
                    be.Reduce(new SumOp(), ggBuf, k2.Buf, rows, d, 1);
                    be.Map(new AffineOp(1f / d, 0f), k2.Buf, k2.Buf);
                    dx = u;
                    u = null;
                    be.MapBroadcast(new MulOp(), xhat.Buf, full, k1.Buf, perRow, dx.Buf);
                    be.Map(new SubOp(), ggBuf, dx.Buf, dx.Buf);
                    be.MapBroadcast(new SubOp(), dx.Buf, full, k2.Buf, perRow, dx.Buf);
                    be.MapBroadcast(new MulOp(), dx.Buf, full, rstd.Buf, perRow, dx.Buf);
                }
                u?.Dispose();
                return new[] { dx, dw, db };
            }, x, weight, bias);
            xhat.Release();
            rstd.Release();
            return y;
        }
    }

    // The composition of primitives (for backends without IBatchNormKernels, and the tests' reference): keeps x̂
    // and 1/σ for the backward pass.
    private static Tensor BatchNormGeneric(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight,
        Tensor? bias, bool training, float momentum, float eps, int n, int c, int sp)
    {
        bool batchStats = training || runningMean == null || runningVar == null;
        int count = n * sp;
        var be = x.Backend; var dev = x.Device;
        // x viewed as (N, C, S); per-channel values broadcast as (1, C, 1).
        var (full, chan) = Broadcasting.Indices(new[] { n, c, sp }, new[] { n, c, sp }, new[] { 1, c, 1 });
        bool recording = Tape.Needs(x, weight, bias);
        bool gx = recording && x.RequiresGrad, gw = recording && weight is { RequiresGrad: true };
        bool gb = recording && bias is { RequiresGrad: true };
        bool keepXhat = gw || (gx && batchStats);
        Tensor? xhat;
        Tensor rstd, y;
        using (MemoryProfile.Label("batch_norm"))
        {
            if (batchStats)
            {
                xhat = Empty(x.Dims, DType.Float32, dev);
                using var mean = ChannelSum(be, dev, x.Buf, n, c, sp);
                be.Map(new AffineOp(1f / count, 0f), mean.Buf, mean.Buf);
                be.MapBroadcast(new SubOp(), x.Buf, full, mean.Buf, chan, xhat.Buf);
                // The squares' buffer becomes the output once the variance is taken.
                y = Unary(xhat, new SquareOp(), "batch_norm");
                rstd = ChannelSum(be, dev, y.Buf, n, c, sp);
                be.Map(new AffineOp(1f / count, 0f), rstd.Buf, rstd.Buf);
                if (training && runningMean != null && runningVar != null)
                {
                    runningMean.DropBf16Exact(); runningVar.DropBf16Exact(); // updated in place
                    be.Map(new EmaOp(momentum, 1f), runningMean.Buf, mean.Buf, runningMean.Buf);
                    be.Map(new EmaOp(momentum, count / (count - 1f)), runningVar.Buf, rstd.Buf, runningVar.Buf);
                }
            }
            else
            {
                // Running statistics: x̂ is kept only for the weight's gradient; else y is built in place.
                xhat = keepXhat ? Empty(x.Dims, DType.Float32, dev) : null;
                y = Empty(x.Dims, DType.Float32, dev);
                be.MapBroadcast(new SubOp(), x.Buf, full, runningMean!.Buf, chan, (xhat ?? y).Buf);
                rstd = Empty(new[] { c }, DType.Float32, dev);
                be.Copy(runningVar!.Buf, rstd.Buf);
            }
            be.Map(new AffineOp(1f, eps), rstd.Buf, rstd.Buf);
            be.Map(new PowOp(-0.5f), rstd.Buf, rstd.Buf);
            var centred = xhat ?? y;
            be.MapBroadcast(new MulOp(), centred.Buf, full, rstd.Buf, chan, centred.Buf);
            if (weight != null) be.MapBroadcast(new MulOp(), centred.Buf, full, weight.Buf, chan, y.Buf);
            else if (xhat != null) be.Copy(xhat.Buf, y.Buf);
            if (bias != null) be.MapBroadcast(new AddOp(), y.Buf, full, bias.Buf, chan, y.Buf);
        }
        Tape.Record("batch_norm", y, Saves.Of(keepXhat ? xhat : null, gx ? rstd : null, gx ? weight : null), gy =>
        {
            Tensor? sumG = gb || (gx && batchStats) ? ChannelSum(gy.Backend, gy.Device, gy.Buf, n, c, sp) : null;
            Tensor? sumGx = null, t = null;
            if (keepXhat)
            {
                t = Binary(gy, xhat!, new MulOp(), "batch_norm_backward");
                sumGx = ChannelSum(gy.Backend, gy.Device, t.Buf, n, c, sp);
            }
            Tensor? dx = null;
            if (gx)
            {
                // scale = rstd·γ; with batch statistics dx = scale · (g − mean(g) − x̂ · mean(g·x̂)),
                // else scale · g.
                using var scale = weight != null
                    ? Binary(rstd, weight, new MulOp(), "batch_norm_backward") : rstd.Clone();
                if (batchStats)
                {
                    using var k1 = Unary(sumGx!, new AffineOp(1f / count, 0f), "batch_norm_backward");
                    using var k2 = Unary(sumG!, new AffineOp(1f / count, 0f), "batch_norm_backward");
                    dx = t!;
                    t = null;
                    be.MapBroadcast(new MulOp(), xhat!.Buf, full, k1.Buf, chan, dx.Buf);
                    be.Map(new SubOp(), gy.Buf, dx.Buf, dx.Buf);
                    be.MapBroadcast(new SubOp(), dx.Buf, full, k2.Buf, chan, dx.Buf);
                    be.MapBroadcast(new MulOp(), dx.Buf, full, scale.Buf, chan, dx.Buf);
                }
                else
                {
                    dx = Empty(gy.Dims, DType.Float32, gy.Device);
                    be.MapBroadcast(new MulOp(), gy.Buf, full, scale.Buf, chan, dx.Buf);
                }
            }
            t?.Dispose();
            var dw = gw ? sumGx!.ReshapeNoGrad(weight!.Dims) : null;
            var db = gb ? sumG!.ReshapeNoGrad(bias!.Dims) : null;
            sumGx?.Dispose(); sumG?.Dispose();
            return new[] { dx, null, null, dw, db };
        }, x, runningMean, runningVar, weight, bias);
        xhat?.Release();
        rstd.Release();
        return y;
    }

    // Σ over N and S of x viewed as (N, C, S): a (C) tensor.
    private static Tensor ChannelSum(Backends.IBackend be, Device dev, Backends.Buf x, int n, int c, int s)
    {
        var r = Empty(new[] { c }, DType.Float32, dev);
        if (c == 0) return r;
        if (n * s == 0) { be.Fill(r.Buf, 0f); return r; }
        if (n == 1) { be.Reduce(new SumOp(), x, r.Buf, c, s, 1); return r; }
        if (s == 1) { be.Reduce(new SumOp(), x, r.Buf, 1, n, c); return r; }
        using var perCs = Empty(new[] { c * s }, DType.Float32, dev);
        be.Reduce(new SumOp(), x, perCs.Buf, 1, n, c * s);
        be.Reduce(new SumOp(), perCs.Buf, r.Buf, c, s, 1);
        return r;
    }
}
