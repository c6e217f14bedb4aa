using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Square, minimum, variance and standard deviation.</summary>
public static class StatisticsOps
{
    extension(Tensor x)
    {
        /// <summary>x² (backward 2x·g).</summary>
        public Tensor Square()
        {
            var y = Unary(x, new SquareOp(), "square");
            return Tape.Record("square", y, Saves.Of(x),
                g => new[] { Binary(x, g, new SquareGradOp(), "square_backward") }, x);
        }

        /// <summary>
        /// Minimum over <paramref name="dims"/> (all when null). The gradient goes to every minimal element.
        /// </summary>
        public Tensor Min(int[]? dims = null, bool keepDim = false) => x.Extreme(new MinOp(), dims, keepDim, "min");

        /// <summary>Minimum over one dim.</summary>
        public Tensor Min(int dim, bool keepDim = false) => x.Min(new[] { dim }, keepDim);

        /// <summary>
        /// Variance over <paramref name="dims"/> (all when null): Σ(x − mean)² / (n − 1) when
        /// <paramref name="unbiased"/>, else / n. With n = 1 and unbiased the result is NaN, as in PyTorch.
        /// </summary>
        public Tensor Var(int[]? dims = null, bool unbiased = true, bool keepDim = false)
        {
            x.CheckFloat("var");
            var d = x.NormDims(dims, "var");
            long n = 1; foreach (var i in d) n *= x.Dims[i];
            long denom = unbiased ? n - 1 : n;
            // A composition of differentiable ops, so its gradient needs no rule of its own.
            var mean = x.Mean(d, keepDim: true);
            var centred = x.Sub(mean);
            var sq = centred.Square();
            var s = sq.Sum(d, keepDim);
            var y = s.MulScalar(denom <= 0 ? float.NaN : 1f / denom);
            mean.Release(); centred.Release(); sq.Release(); s.Release();
            return y;
        }

        /// <summary>Variance over one dim.</summary>
        public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) =>
            x.Var(new[] { dim }, unbiased, keepDim);

        /// <summary>Standard deviation √Var over <paramref name="dims"/> (all when null).</summary>
        public Tensor Std(int[]? dims = null, bool unbiased = true, bool keepDim = false)
        {
            var v = x.Var(dims, unbiased, keepDim);
            var y = v.Sqrt();
            v.Release();
            return y;
        }

        /// <summary>Standard deviation over one dim.</summary>
        public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) =>
            x.Std(new[] { dim }, unbiased, keepDim);
    }
}
