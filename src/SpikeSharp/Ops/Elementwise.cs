using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Elementwise arithmetic with numpy broadcasting, forward beside backward.</summary>
public static class ElementwiseOps
{
    extension(Tensor a)
    {
        /// <summary>a + b (broadcasting).</summary>
        public Tensor Add(Tensor b)
        {
            var y = Binary(a, b, new AddOp(), "add");
            var (sa, sb) = (a.Dims, b.Dims);
            return Tape.Record("add", y, Saves.None, g => new[] { g.SumTo(sa), g.SumTo(sb) }, a, b);
        }

        /// <summary>a − b (broadcasting).</summary>
        public Tensor Sub(Tensor b)
        {
            var y = Binary(a, b, new SubOp(), "sub");
            var (sa, sb) = (a.Dims, b.Dims);
            return Tape.Record("sub", y, Saves.None, g => new[] { g.SumTo(sa), NegSumTo(g, sb) }, a, b);
        }

        /// <summary>a · b elementwise (broadcasting).</summary>
        public Tensor Mul(Tensor b)
        {
            var y = Binary(a, b, new MulOp(), "mul");
            bool ga = a.RequiresGrad, gb = b.RequiresGrad;
            return Tape.Record("mul", y, Saves.Of(ga ? b : null, gb ? a : null), g => new[]
            {
                ga ? ProductSumTo(g, b, a.Dims, "mul_backward") : null,
                gb ? ProductSumTo(g, a, b.Dims, "mul_backward") : null,
            }, a, b);
        }

        /// <summary>a / b elementwise (broadcasting).</summary>
        public Tensor Div(Tensor b)
        {
            var y = Binary(a, b, new DivOp(), "div");
            bool ga = a.RequiresGrad, gb = b.RequiresGrad;
            return Tape.Record("div", y, Saves.Of(b, gb ? y : null), g => new[]
            {
                ga ? Owned(Binary(g, b, new DivOp(), "div_backward"), t => t.SumTo(a.Dims)) : null,
                gb ? DivGradB(g, y, b) : null,
            }, a, b);
        }

        /// <summary>Elementwise maximum (gradient to the larger; to a on ties).</summary>
        public Tensor Maximum(Tensor b)
        {
            var y = Binary(a, b, new MaxOp2(), "maximum");
            return Tape.Record("maximum", y, Saves.Of(a, b), g =>
            {
                using var mask = Binary(a, b, new CompareOp(5), "maximum_backward");
                using var inv = Unary(mask, new AffineOp(-1f, 1f), "maximum_backward");
                return new[]
                {
                    ProductSumTo(g, mask, a.Dims, "maximum_backward"), ProductSumTo(g, inv, b.Dims, "maximum_backward"),
                };
            }, a, b);
        }

        /// <summary>s · x + c, the affine map behind scalar add/sub/mul.</summary>
        public Tensor Affine(float scale, float shift)
        {
            var y = Unary(a, new AffineOp(scale, shift), "affine");
            return Tape.Record("affine", y, Saves.None,
                g => new[] { scale == 1f ? g : Unary(g, new AffineOp(scale, 0f), "affine_backward") }, a);
        }

        /// <summary>x + s.</summary>
        public Tensor AddScalar(float s) => a.Affine(1f, s);

        /// <summary>x · s.</summary>
        public Tensor MulScalar(float s) => a.Affine(s, 0f);

        /// <summary>s − x.</summary>
        public Tensor RSubScalar(float s) => a.Affine(-1f, s);

        /// <summary>−x.</summary>
        public Tensor Neg() => a.Affine(-1f, 0f);

        /// <summary>x / s.</summary>
        public Tensor DivScalar(float s) => a.Affine(1f / s, 0f);

        /// <summary>s / x.</summary>
        public Tensor RDivScalar(float s)
        {
            var y = Unary(a, new RDivOp(s), "rdiv");
            return Tape.Record("rdiv", y, Saves.Of(a, y), g =>
            {
                using var gy = Binary(g, y, new MulOp(), "rdiv_backward");
                using var q = Binary(gy, a, new DivOp(), "rdiv_backward");
                return new[] { Unary(q, new AffineOp(-1f, 0f), "rdiv_backward") };
            }, a);
        }
    }

    // (g ⊙ other) summed to `shape`, without keeping the full-size product when it is reduced.
    private static Tensor ProductSumTo(Tensor g, Tensor other, int[] shape, string name) =>
        Owned(Binary(g, other, new MulOp(), name), t => t.SumTo(shape));

    // −g summed to `shape` (no autograd).
    private static Tensor NegSumTo(Tensor g, int[] shape) =>
        Owned(Unary(g, new AffineOp(-1f, 0f), "sub_backward"), t => t.SumTo(shape));

    // ∂(a / b)/∂b · g = −g·y / b, summed to b's shape.
    private static Tensor DivGradB(Tensor g, Tensor y, Tensor b)
    {
        using var gy = Binary(g, y, new MulOp(), "div_backward");
        using var q = Binary(gy, b, new DivOp(), "div_backward");
        return Owned(Unary(q, new AffineOp(-1f, 0f), "div_backward"), t => t.SumTo(b.Dims));
    }

    // Applies f to a temporary this op owns and frees the temporary unless f returned it.
    private static Tensor Owned(Tensor t, Func<Tensor, Tensor> f)
    {
        var r = f(t);
        if (!ReferenceEquals(r, t)) t.Dispose();
        return r;
    }
}

/// <summary>Strided indices for broadcasting, with adjacent dims merged where the layout allows.</summary>
internal static class Broadcasting
{
    public static (StridedIndex a, StridedIndex b) Indices(int[] outShape, int[] aShape, int[] bShape)
    {
        var sa = Strides(outShape, aShape);
        var sb = Strides(outShape, bShape);
        var dims = new List<int>(); var la = new List<int>(); var lb = new List<int>();
        for (int i = 0; i < outShape.Length; i++)
        {
            if (outShape[i] == 1) continue;
            int n = dims.Count - 1;
            if (n >= 0 && la[n] == sa[i] * outShape[i] && lb[n] == sb[i] * outShape[i])
            {
                // Merge dim i into the previous one: both inputs step through it contiguously (or both broadcast).
                dims[n] *= outShape[i]; la[n] = sa[i]; lb[n] = sb[i];
            }
            else { dims.Add(outShape[i]); la.Add(sa[i]); lb.Add(sb[i]); }
        }
        return (StridedIndex.Create(dims.ToArray(), la.ToArray()), StridedIndex.Create(dims.ToArray(), lb.ToArray()));
    }

    // Strides of an input of shape `s` read at the positions of `outShape` (0 where broadcast).
    public static int[] Strides(int[] outShape, int[] s)
    {
        var st = new int[outShape.Length];
        int acc = 1;
        for (int i = outShape.Length - 1, j = s.Length - 1; i >= 0; i--, j--)
        {
            int d = j >= 0 ? s[j] : 1;
            st[i] = d == 1 ? 0 : acc;
            acc *= d;
        }
        return st;
    }
}
