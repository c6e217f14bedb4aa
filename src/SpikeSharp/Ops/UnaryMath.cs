using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>exp, log, sqrt, abs, pow, relu, sigmoid, tanh, clamp: forward and backward side by side.</summary>
public static class UnaryMathOps
{
    extension(Tensor)
    {
        /// <summary>Elementwise select: cond (float32, nonzero = true) ? a : b; all three the same shape.</summary>
        public static Tensor Where(Tensor cond, Tensor a, Tensor b)
        {
            cond.CheckFloat("where"); a.CheckFloat("where"); b.CheckFloat("where");
            if (!cond.Dims.AsSpan().SequenceEqual(a.Dims) || !a.Dims.AsSpan().SequenceEqual(b.Dims))
                throw new ArgumentException($"where: cond {ShapeUtil.Format(cond.Dims)}, "
                    + $"a {ShapeUtil.Format(a.Dims)} and b {ShapeUtil.Format(b.Dims)} must have the same shape");
            a.CheckSameDevice(b, "where"); a.CheckSameDevice(cond, "where");
            var y = Empty(a.Dims, DType.Float32, a.Device);
            a.Backend.Map(new WhereOp(), cond.Buf, a.Buf, b.Buf, y.Buf);
            return Tape.Record("where", y, Saves.Of(cond), g =>
            {
                using var z = ZerosLike(g);
                var ga = Empty(g.Dims, DType.Float32, g.Device); g.Backend.Map(new WhereOp(), cond.Buf,
                    g.Buf, z.Buf, ga.Buf);
                var gb = Empty(g.Dims, DType.Float32, g.Device); g.Backend.Map(new WhereOp(), cond.Buf,
                    z.Buf, g.Buf, gb.Buf);
                return new Tensor?[] { null, ga, gb };
            }, cond, a, b);
        }
    }

    extension(Tensor x)
    {
        /// <summary>eˣ.</summary>
        public Tensor Exp()
        {
            var y = Unary(x, new ExpOp(), "exp");
            return Tape.Record("exp", y, Saves.Of(y), g => new[] { g.Mul(y) }, x);
        }

        /// <summary>Natural log.</summary>
        public Tensor Log()
        {
            var y = Unary(x, new LogOp(), "log");
            return Tape.Record("log", y, Saves.Of(x), g => new[] { g.Div(x) }, x);
        }

        /// <summary>√x.</summary>
        public Tensor Sqrt()
        {
            var y = Unary(x, new SqrtOp(), "sqrt");
            return Tape.Record("sqrt", y, Saves.Of(y), g =>
            {
                using var q = Binary(g, y, new DivOp(), "sqrt_backward");
                return new[] { Unary(q, new AffineOp(0.5f, 0f), "sqrt_backward") };
            }, x);
        }

        /// <summary>|x| (gradient sign(x), 0 at 0).</summary>
        public Tensor Abs()
        {
            var y = Unary(x, new AbsOp(), "abs");
            return Tape.Record("abs", y, Saves.Of(x), g =>
            {
                using var s = Unary(x, new SignOp(), "sign");
                return new[] { g.Mul(s) };
            }, x);
        }

        /// <summary>xᵖ for a scalar exponent.</summary>
        public Tensor Pow(float p)
        {
            var y = Unary(x, new PowOp(p), "pow");
            return Tape.Record("pow", y, Saves.Of(x), g =>
                new[] { Binary(x, g, new PowGradOp(p), "pow_backward") }, x);
        }

        /// <summary>max(x, 0).</summary>
        public Tensor Relu()
        {
            var y = Unary(x, new ReluOp(), "relu");
            return Tape.Record("relu", y, Saves.Of(x),
                g => new[] { Binary(x, g, new ReluGradOp(), "relu_backward") }, x);
        }

        /// <summary>1 / (1 + e⁻ˣ).</summary>
        public Tensor Sigmoid()
        {
            var y = Unary(x, new SigmoidOp(), "sigmoid");
            return Tape.Record("sigmoid", y, Saves.Of(y),
                g => new[] { Binary(y, g, new SigmoidGradOp(), "sigmoid_backward") }, x);
        }

        /// <summary>tanh(x).</summary>
        public Tensor Tanh()
        {
            var y = Unary(x, new TanhOp(), "tanh");
            return Tape.Record("tanh", y, Saves.Of(y),
                g => new[] { Binary(y, g, new TanhGradOp(), "tanh_backward") }, x);
        }

        /// <summary>min(max(x, lo), hi) (gradient passes inside [lo, hi]).</summary>
        public Tensor Clamp(float lo, float hi)
        {
            if (lo > hi) throw new ArgumentException($"clamp: lo {lo} is greater than hi {hi}", nameof(lo));
            var y = Unary(x, new ClampOp(lo, hi), "clamp");
            return Tape.Record("clamp", y, Saves.Of(x),
                g => new[] { Binary(x, g, new ClampGradOp(lo, hi), "clamp_backward") }, x);
        }

        private Tensor Compare(Tensor other, int kind, string name) => Binary(x, other, new CompareOp(kind), name);

        private Tensor CompareScalar(float s, int kind, string name)
        {
            using var t = Full(Array.Empty<int>(), s, DType.Float32, x.Device);
            return Binary(x, t, new CompareOp(kind), name);
        }

        /// <summary>1 where equal, else 0 (not differentiable; broadcasting).</summary>
        public Tensor Eq(Tensor o) => x.Compare(o, 0, "eq");

        /// <summary>1 where different.</summary>
        public Tensor Ne(Tensor o) => x.Compare(o, 1, "ne");

        /// <summary>1 where this &lt; o.</summary>
        public Tensor Lt(Tensor o) => x.Compare(o, 2, "lt");

        /// <summary>1 where this ≤ o.</summary>
        public Tensor Le(Tensor o) => x.Compare(o, 3, "le");

        /// <summary>1 where this &gt; o.</summary>
        public Tensor Gt(Tensor o) => x.Compare(o, 4, "gt");

        /// <summary>1 where this ≥ o.</summary>
        public Tensor Ge(Tensor o) => x.Compare(o, 5, "ge");

        /// <summary>1 where this == s.</summary>
        public Tensor Eq(float s) => x.CompareScalar(s, 0, "eq");

        /// <summary>1 where this &gt; s.</summary>
        public Tensor Gt(float s) => x.CompareScalar(s, 4, "gt");

        /// <summary>1 where this ≥ s.</summary>
        public Tensor Ge(float s) => x.CompareScalar(s, 5, "ge");

        /// <summary>1 where this &lt; s.</summary>
        public Tensor Lt(float s) => x.CompareScalar(s, 2, "lt");
    }
}
