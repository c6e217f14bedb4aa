using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.ReductionOps;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// Softmax, log-softmax and log-sum-exp over one dim: shifted by the maximum for stability, with backward rules written
/// directly (cheaper and more accurate than differentiating the composition).
/// </summary>
public static class SoftmaxOps
{
    extension(Tensor x)
    {
        // The row maximum with infinities replaced by 0 (see FiniteOrZeroOp), keep-dim shape.
        private Tensor ShiftFor(int d, string op)
        {
            var m = x.ReduceDim(new MaxOp(), d, op);
            x.Backend.Map(new FiniteOrZeroOp(), m.Buf, m.Buf);
            return m;
        }

        // log Σ exp(x) over dim d, keep-dim shape, no autograd.
        private Tensor LogSumExpRaw(int d, string op)
        {
            using var m = x.ShiftFor(d, op);
            using var e = Binary(x, m, new ExpSubOp(), op);
            using var s = e.ReduceDim(new SumOp(), d, op);
            using var ls = Unary(s, new LogOp(), op);
            return Binary(ls, m, new AddOp(), op);
        }

        private int SoftmaxDim(int dim, string op)
        {
            x.CheckFloat(op);
            if (x.Rank == 0)
                throw new ArgumentException($"{op}: expected a tensor with at least one dim, got a scalar", "input");
            return ShapeUtil.NormDim(dim, x.Rank, op);
        }

        /// <summary>
        /// softmax(x)ᵢ = e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x) over <paramref name="dim"/> (default: the last).
        /// </summary>
        /// <remarks>Backward: g' = y ⊙ (g − Σ g ⊙ y).</remarks>
        public Tensor Softmax(int dim = -1)
        {
            int d = x.SoftmaxDim(dim, "softmax");
            Tensor y;
            using (var m = x.ShiftFor(d, "softmax"))
            using (var e = Binary(x, m, new ExpSubOp(), "softmax"))
            using (var s = e.ReduceDim(new SumOp(), d, "softmax"))
                y = Binary(e, s, new DivOp(), "softmax");
            return Tape.Record("softmax", y, Saves.Of(y), g =>
            {
                using var gy = Binary(g, y, new MulOp(), "softmax_backward");
                using var s = gy.ReduceDim(new SumOp(), d, "softmax_backward");
                using var t = Binary(g, s, new SubOp(), "softmax_backward");
                return new[] { Binary(y, t, new MulOp(), "softmax_backward") };
            }, x);
        }

        /// <summary>
        /// log softmax(x) = x − log Σ eˣ over <paramref name="dim"/> (default: the last), computed stably.
        /// </summary>
        /// <remarks>Backward: g' = g − softmax(x) · Σ g.</remarks>
        public Tensor LogSoftmax(int dim = -1)
        {
            int d = x.SoftmaxDim(dim, "log_softmax");
            var y = x.LogSoftmaxRaw(d);
            return Tape.Record("log_softmax", y, Saves.Of(y), g => new[] { LogSoftmaxBackward(y, g, d) }, x);
        }

        internal Tensor LogSoftmaxRaw(int d)
        {
            // (x − m) − log Σ e^(x − m): subtracting m first keeps the small differences exact for large logits.
            using var m = x.ShiftFor(d, "log_softmax");
            using var shifted = Binary(x, m, new SubOp(), "log_softmax");
            using var e = Unary(shifted, new ExpOp(), "log_softmax");
            using var s = e.ReduceDim(new SumOp(), d, "log_softmax");
            using var ls = Unary(s, new LogOp(), "log_softmax");
            return Binary(shifted, ls, new SubOp(), "log_softmax");
        }

        /// <summary>log Σ eˣ over <paramref name="dim"/>, computed stably (rows of −inf give −inf).</summary>
        /// <remarks>Backward: g' = g · e^(x − y), the softmax of x.</remarks>
        public Tensor LogSumExp(int dim, bool keepDim = false)
        {
            int d = x.SoftmaxDim(dim, "logsumexp");
            var k = x.LogSumExpRaw(d, "logsumexp");
            var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(x.Dims, new[] { d }, false));
            if (!keepDim) k.Dispose();
            var kShape = (int[])x.Dims.Clone(); kShape[d] = 1;
            return Tape.Record("logsumexp", y, Saves.Of(x, y), g =>
            {
                using var yk = y.ReshapeNoGrad(kShape);
                using var gk = g.ReshapeNoGrad(kShape);
                using var p = Binary(x, yk, new ExpSubOp(), "logsumexp_backward");
                return new[] { Binary(p, gk, new MulOp(), "logsumexp_backward") };
            }, x);
        }

        /// <summary>log Σ eˣ over all elements, a scalar of shape [].</summary>
        public Tensor LogSumExp()
        {
            if (x.Rank == 1) return x.LogSumExp(0);
            var flat = x.Reshape(-1);
            var y = flat.LogSumExp(0);
            flat.Release();
            return y;
        }
    }

    private static Tensor LogSoftmaxBackward(Tensor y, Tensor g, int d)
    {
        using var sg = g.ReduceDim(new SumOp(), d, "log_softmax_backward");
        using var p = Unary(y, new ExpOp(), "log_softmax_backward");
        using var t = Binary(p, sg, new MulOp(), "log_softmax_backward");
        return Binary(g, t, new SubOp(), "log_softmax_backward");
    }
}
