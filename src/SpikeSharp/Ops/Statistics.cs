using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// Square, minimum, variance and standard deviation.
public sealed partial class Tensor
{
    /// <summary>x² (backward 2x·g).</summary>
    public Tensor Square()
    {
        var y = Unary(this, new SquareOp(), "square");
        var x = this;
        return Tape.Record("square", y, Saves.Of(x),
            g => new[] { Binary(x, g, new SquareGradOp(), "square_backward") }, this);
    }

    /// <summary>Minimum over <paramref name="dims"/> (all when null). The gradient goes to every minimal element.</summary>
    public Tensor Min(int[]? dims = null, bool keepDim = false) => Extreme(new MinOp(), dims, keepDim, "min");

    /// <summary>Minimum over one dim.</summary>
    public Tensor Min(int dim, bool keepDim = false) => Min(new[] { dim }, keepDim);

    /// <summary>
    /// Variance over <paramref name="dims"/> (all when null): Σ(x − mean)² / (n − 1) when <paramref name="unbiased"/>,
    /// else / n. With n = 1 and unbiased the result is NaN, as in PyTorch.
    /// </summary>
    public Tensor Var(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        CheckFloat("var");
        var d = NormDims(dims, "var");
        long n = 1; foreach (var i in d) n *= _shape[i];
        long denom = unbiased ? n - 1 : n;
        // A composition of differentiable ops, so its gradient needs no rule of its own.
        var mean = Mean(d, keepDim: true);
        var centred = Sub(mean);
        var sq = centred.Square();
        var s = sq.Sum(d, keepDim);
        var y = s.MulScalar(denom <= 0 ? float.NaN : 1f / denom);
        mean.Release(); centred.Release(); sq.Release(); s.Release();
        return y;
    }

    /// <summary>Variance over one dim.</summary>
    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var(new[] { dim }, unbiased, keepDim);

    /// <summary>Standard deviation √Var over <paramref name="dims"/> (all when null).</summary>
    public Tensor Std(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        var v = Var(dims, unbiased, keepDim);
        var y = v.Sqrt();
        v.Release();
        return y;
    }

    /// <summary>Standard deviation over one dim.</summary>
    public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) => Std(new[] { dim }, unbiased, keepDim);
}
