using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

// Batch norm on the backend's IBatchNormKernels family: in training two reduction passes (mean, centred squares) and
// one normalising pass; the backward pass one fused reduction (Σg, Σg·x̂ with x̂ recomputed) and one pass for dx. It
// keeps x itself (which its producer made anyway) and the per-channel mean and 1/σ, never x̂.
public static partial class NormOps
{
    // A test and benchmark switch, kept on Tensor where its callers look for it.
    extension(Tensor)
    {
        /// <summary>While true in the calling flow, batch norm and pooling skip the backend's
        /// <see cref="IBatchNormKernels"/> and <see cref="IPool2dKernels"/> families and take their generic paths
        /// (tests compare the two; benchmarks time both).</summary>
        internal static bool GenericNormPoolOnly
        {
            get => _genericNormPoolOnly.Value;
            set => _genericNormPoolOnly.Value = value;
        }
    }

    private static readonly AsyncLocal<bool> _genericNormPoolOnly = new();

    private static Tensor BatchNormFused(IBatchNormKernels k, Tensor x, Tensor? runningMean, Tensor? runningVar,
        Tensor? weight, Tensor? bias, bool training, float momentum, float eps, int n, int c, int sp)
    {
        bool batchStats = training || runningMean == null || runningVar == null;
        var be = x.Backend; var dev = x.Device;
        var s = new BatchNormShape(n, c, sp);
        bool recording = Tape.Needs(x, weight, bias);
        bool gx = recording && x.RequiresGrad, gw = recording && weight is { RequiresGrad: true };
        bool gb = recording && bias is { RequiresGrad: true };
        // Σg and Σg·x̂ come from one pass that reads x: needed for γ, β, and dx with batch statistics.
        bool reduce = gw || gb || (gx && batchStats);
        var y = Empty(x.Dims, DType.Float32, dev);
        var mean = Empty(new[] { c }, DType.Float32, dev);
        var rstd = Empty(new[] { c }, DType.Float32, dev);
        using (MemoryProfile.Label("batch_norm"))
        {
            if (batchStats)
            {
                bool update = training && runningMean != null && runningVar != null;
                if (update) { runningMean!.DropBf16Exact(); runningVar!.DropBf16Exact(); } // updated in place
                k.Statistics(s, x.Buf, eps, momentum, mean.Buf, rstd.Buf, update ? runningMean!.Buf : null,
                    update ? runningVar!.Buf : null);
            }
            else if (c > 0)
            {
                be.Copy(runningMean!.Buf, mean.Buf);
                be.Map(new RstdOp(eps), runningVar!.Buf, rstd.Buf);
            }
            k.Normalize(s, x.Buf, mean.Buf, rstd.Buf, weight?.Buf, bias?.Buf, y.Buf);
        }
        Tape.Record("batch_norm", y, Saves.Of(reduce ? x : null, mean, rstd, gx ? weight : null), g =>
        {
            Tensor? sumG = null, sumGXhat = null, dx = null;
            if (reduce)
            {
                sumG = Empty(new[] { c }, DType.Float32, g.Device);
                sumGXhat = Empty(new[] { c }, DType.Float32, g.Device);
                k.BackwardReduce(s, g.Buf, x.Buf, mean.Buf, rstd.Buf, sumG.Buf, sumGXhat.Buf);
            }
            if (gx)
            {
                dx = Empty(g.Dims, DType.Float32, g.Device);
                k.BackwardData(s, g.Buf, batchStats ? x.Buf : null, batchStats ? mean.Buf : null, rstd.Buf,
                    weight?.Buf, batchStats ? sumG!.Buf : null, batchStats ? sumGXhat!.Buf : null, dx.Buf);
            }
            var dw = gw ? sumGXhat!.ReshapeNoGrad(weight!.Dims) : null;
            var db = gb ? sumG!.ReshapeNoGrad(bias!.Dims) : null;
            sumGXhat?.Dispose(); sumG?.Dispose();
            return new[] { dx, null, null, dw, db };
        }, x, runningMean, runningVar, weight, bias);
        mean.Release();
        rstd.Release();
        return y;
    }
}
