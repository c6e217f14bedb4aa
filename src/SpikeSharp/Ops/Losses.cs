using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>How a loss combines its per-sample values.</summary>
public enum Reduction
{
    /// <summary>The mean over samples (the default).</summary>
    Mean,
    /// <summary>The sum over samples.</summary>
    Sum,
    /// <summary>No reduction: one value per sample (per element for <see cref="LossOps.Mse"/>).</summary>
    None,
}

/// <summary>Losses and metrics: cross-entropy (with label smoothing), mean squared error, accuracy.</summary>
public static class LossOps
{
    extension(Tensor)
    {
        /// <summary>
        /// Cross-entropy of <paramref name="logits"/> (N, C) against int32 class <paramref name="labels"/> (N):
        /// lossᵢ = −Σ_c qᵢc · log softmax(logitsᵢ)_c with q = (1 − ε)·onehot(label) + ε / C, ε =
        /// <paramref name="labelSmoothing"/>.
        /// </summary>
        /// <remarks>Backward: g' = (softmax(logits) − q) · g, divided by N for <see cref="Reduction.Mean"/>.
        /// Labels outside [0, C) fail with <see cref="IndexOutOfRangeException"/> before anything is
        /// computed.</remarks>
        public static Tensor CrossEntropy(Tensor logits, Tensor labels, Reduction reduction = Reduction.Mean,
            float labelSmoothing = 0f)
        {
            const string op = "cross_entropy";
            CheckLogitsAndLabels(logits, labels, op);
            if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
                throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"{op}: label smoothing must be in [0, "
                    + $"1], got {labelSmoothing}");
            int n = logits.Dims[0], c = logits.Dims[1];

            var q = Tensor.OneHot(labels, c); // validates the labels before any work
            if (labelSmoothing > 0f) q.Backend.Map(new AffineOp(1f - labelSmoothing, labelSmoothing / c), q.Buf, q.Buf);
            var lsm = logits.LogSoftmaxRaw(1);
            Tensor y;
            using (var prod = Binary(q, lsm, new MulOp(), op))
            using (var row = prod.ReduceDim(new SumOp(), 1, op))
            {
                if (reduction == Reduction.None)
                {
                    y = Unary(row, new AffineOp(-1f, 0f), op);
                    y = ReshapeOwned(y, new[] { n });
                }
                else
                {
                    using var tot = row.ReduceRaw(new SumOp(), new[] { 0, 1 }, op);
                    float scale = reduction == Reduction.Mean ? -1f / n : -1f;
                    y = Unary(tot, new AffineOp(scale, 0f), op);
                    y = ReshapeOwned(y, Array.Empty<int>());
                }
            }
            if (!Tape.Needs(logits)) { q.Dispose(); lsm.Dispose(); return y; }
            Tape.Record(op, y, Saves.Of(lsm, q), g =>
            {
                using var p = Unary(lsm, new ExpOp(), "cross_entropy_backward");
                using var diff = Binary(p, q, new SubOp(), "cross_entropy_backward");
                using var gk = g.ReshapeNoGrad(reduction == Reduction.None ? new[] { n, 1 } : Array.Empty<int>());
                var r = Binary(diff, gk, new MulOp(), "cross_entropy_backward");
                if (reduction == Reduction.Mean) r.Backend.Map(new AffineOp(1f / n, 0f), r.Buf, r.Buf);
                return new Tensor?[] { r };
            }, logits);
            // Kept by the backward rule only: freed once it has run.
            lsm.Release(); q.Release();
            return y;
        }

        /// <summary>
        /// Mean squared error: reduce((a − b)²). <paramref name="a"/> and <paramref name="b"/> must have the same
        /// shape.
        /// </summary>
        public static Tensor Mse(Tensor a, Tensor b, Reduction reduction = Reduction.Mean)
        {
            const string op = "mse";
            a.CheckFloat(op); b.CheckFloat(op); a.CheckSameDevice(b, op);
            if (!a.Dims.AsSpan().SequenceEqual(b.Dims))
                throw new ArgumentException($"{op}: input {ShapeUtil.Format(a.Dims)} and "
                    + $"target {ShapeUtil.Format(b.Dims)} must have the same shape", nameof(b));
            // A composition: its backward (2(a − b)·g, scaled) comes from sub, square and the reduction.
            var diff = a.Sub(b);
            var sq = diff.Square();
            var y = reduction switch
            {
                Reduction.Mean => sq.Mean(),
                Reduction.Sum => sq.Sum(),
                _ => sq,
            };
            diff.Release();
            if (!ReferenceEquals(sq, y)) sq.Release();
            return y;
        }

        /// <summary>
        /// Fraction of rows of <paramref name="logits"/> (N, C) whose first maximum is the int32 label: a float32
        /// scalar on the device (read it with <see cref="Tensor.Item"/> when a host value is wanted). Not
        /// differentiable.
        /// </summary>
        public static Tensor Accuracy(Tensor logits, Tensor labels)
        {
            const string op = "accuracy";
            CheckLogitsAndLabels(logits, labels, op);
            using var _ = Tape.NoGrad();
            using var am = logits.ArgMax(1);
            using var pf = am.To(DType.Float32);
            using var lf = labels.To(DType.Float32);
            using var eq = pf.Eq(lf);
            return eq.Mean();
        }
    }

    // Reshapes a tensor this op owns, handing its storage to the result.
    private static Tensor ReshapeOwned(Tensor t, int[] shape)
    {
        if (t.Dims.AsSpan().SequenceEqual(shape)) return t;
        var r = t.ReshapeNoGrad(shape);
        t.Dispose();
        return r;
    }

    // logits (N, C) float32 and labels (N) int32 on one device.
    private static void CheckLogitsAndLabels(Tensor logits, Tensor labels, string op)
    {
        logits.CheckFloat(op);
        if (logits.Rank != 2)
            throw new ArgumentException($"{op}: logits must be (N, C), "
                + $"got {ShapeUtil.Format(logits.Dims)}", nameof(logits));
        if (labels.DType != DType.Int32 || labels.Rank != 1 || labels.Dims[0] != logits.Dims[0])
            throw new ArgumentException($"{op}: labels must be int32 ({logits.Dims[0]}) for "
                + $"logits {ShapeUtil.Format(logits.Dims)}, "
                + $"got {labels.DType.Name()} {ShapeUtil.Format(labels.Dims)}", nameof(labels));
        logits.CheckSameDevice(labels, op);
    }
}
