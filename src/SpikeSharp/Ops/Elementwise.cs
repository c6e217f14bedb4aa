using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// Elementwise arithmetic with numpy broadcasting, forward beside backward.
public sealed partial class Tensor
{
    /// <summary>Applies a binary op with broadcasting; no autograd.</summary>
    internal static Tensor Binary<TOp>(Tensor a, Tensor b, TOp op, string name) where TOp : struct, IBinaryOp
    {
        a.CheckFloat(name); b.CheckFloat(name); a.CheckSameDevice(b, name);
        if (a._shape.AsSpan().SequenceEqual(b._shape))
        {
            var y = Empty(a._shape, DType.Float32, a.Device);
            a.Backend.Map(op, a.Buf, b.Buf, y.Buf);
            return y;
        }
        var shape = ShapeUtil.Broadcast(a._shape, b._shape, name);
        var r = Empty(shape, DType.Float32, a.Device);
        if (r.Numel == 0) return r;
        var (ia, ib) = Broadcasting.Indices(shape, a._shape, b._shape);
        a.Backend.MapBroadcast(op, a.Buf, ia, b.Buf, ib, r.Buf);
        return r;
    }

    internal static Tensor Unary<TOp>(Tensor x, TOp op, string name) where TOp : struct, IUnaryOp
    {
        x.CheckFloat(name);
        var y = Empty(x._shape, DType.Float32, x.Device);
        x.Backend.Map(op, x.Buf, y.Buf);
        return y;
    }

    internal Tensor MapWith<TOp>(Tensor other, TOp op, string name) where TOp : struct, IBinaryOp => Binary(this, other, op, name);

    /// <summary>a + b (broadcasting).</summary>
    public Tensor Add(Tensor b)
    {
        var y = Binary(this, b, new AddOp(), "add");
        var (sa, sb) = (_shape, b._shape);
        return Tape.Record("add", y, Saves.None, g => new[] { g.SumTo(sa), g.SumTo(sb) }, this, b);
    }

    /// <summary>a − b (broadcasting).</summary>
    public Tensor Sub(Tensor b)
    {
        var y = Binary(this, b, new SubOp(), "sub");
        var (sa, sb) = (_shape, b._shape);
        return Tape.Record("sub", y, Saves.None, g => new[] { g.SumTo(sa), NegSumTo(g, sb) }, this, b);
    }

    /// <summary>a · b elementwise (broadcasting).</summary>
    public Tensor Mul(Tensor b)
    {
        var y = Binary(this, b, new MulOp(), "mul");
        var a = this;
        bool ga = a.RequiresGrad, gb = b.RequiresGrad;
        return Tape.Record("mul", y, Saves.Of(ga ? b : null, gb ? a : null), g => new[]
        {
            ga ? ProductSumTo(g, b, a._shape, "mul_backward") : null,
            gb ? ProductSumTo(g, a, b._shape, "mul_backward") : null,
        }, this, b);
    }

    /// <summary>a / b elementwise (broadcasting).</summary>
    public Tensor Div(Tensor b)
    {
        var y = Binary(this, b, new DivOp(), "div");
        var a = this;
        bool ga = a.RequiresGrad, gb = b.RequiresGrad;
        return Tape.Record("div", y, Saves.Of(b, gb ? y : null), g => new[]
        {
            ga ? Owned(Binary(g, b, new DivOp(), "div_backward"), t => t.SumTo(a._shape)) : null,
            gb ? DivGradB(g, y, b) : null,
        }, this, b);
    }

    /// <summary>Elementwise maximum (gradient to the larger; to a on ties).</summary>
    public Tensor Maximum(Tensor b)
    {
        var y = Binary(this, b, new MaxOp2(), "maximum");
        var a = this;
        return Tape.Record("maximum", y, Saves.Of(a, b), g =>
        {
            using var mask = Binary(a, b, new CompareOp(5), "maximum_backward");
            using var inv = Unary(mask, new AffineOp(-1f, 1f), "maximum_backward");
            return new[]
            {
                ProductSumTo(g, mask, a._shape, "maximum_backward"), ProductSumTo(g, inv, b._shape, "maximum_backward"),
            };
        }, this, b);
    }

    /// <summary>s · x + c, the affine map behind scalar add/sub/mul.</summary>
    public Tensor Affine(float scale, float shift)
    {
        var y = Unary(this, new AffineOp(scale, shift), "affine");
        return Tape.Record("affine", y, Saves.None,
            g => new[] { scale == 1f ? g : Unary(g, new AffineOp(scale, 0f), "affine_backward") }, this);
    }

    /// <summary>x + s.</summary>
    public Tensor AddScalar(float s) => Affine(1f, s);
    /// <summary>x · s.</summary>
    public Tensor MulScalar(float s) => Affine(s, 0f);
    /// <summary>s − x.</summary>
    public Tensor RSubScalar(float s) => Affine(-1f, s);
    /// <summary>−x.</summary>
    public Tensor Neg() => Affine(-1f, 0f);

    /// <summary>x / s.</summary>
    public Tensor DivScalar(float s) => Affine(1f / s, 0f);

    /// <summary>s / x.</summary>
    public Tensor RDivScalar(float s)
    {
        var y = Unary(this, new RDivOp(s), "rdiv");
        var x = this;
        return Tape.Record("rdiv", y, Saves.Of(x, y), g =>
        {
            using var gy = Binary(g, y, new MulOp(), "rdiv_backward");
            using var q = Binary(gy, x, new DivOp(), "rdiv_backward");
            return new[] { Unary(q, new AffineOp(-1f, 0f), "rdiv_backward") };
        }, this);
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
        return Owned(Unary(q, new AffineOp(-1f, 0f), "div_backward"), t => t.SumTo(b._shape));
    }

    // Applies f to a temporary this op owns and frees the temporary unless f returned it.
    private static Tensor Owned(Tensor t, Func<Tensor, Tensor> f)
    {
        var r = f(t);
        if (!ReferenceEquals(r, t)) t.Dispose();
        return r;
    }

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator +(Tensor a, float s) => a.AddScalar(s);
    public static Tensor operator +(float s, Tensor a) => a.AddScalar(s);
    public static Tensor operator -(Tensor a, float s) => a.AddScalar(-s);
    public static Tensor operator -(float s, Tensor a) => a.RSubScalar(s);
    public static Tensor operator *(Tensor a, float s) => a.MulScalar(s);
    public static Tensor operator *(float s, Tensor a) => a.MulScalar(s);
    public static Tensor operator /(Tensor a, float s) => a.DivScalar(s);
    public static Tensor operator /(float s, Tensor a) => a.RDivScalar(s);
    public static Tensor operator -(Tensor a) => a.Neg();
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
