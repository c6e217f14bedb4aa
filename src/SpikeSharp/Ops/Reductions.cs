using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// Sum, mean, max, argmax over all elements or given dims.
public sealed partial class Tensor
{
    // Reduces one dim with a raw kernel; keeps the dim as size 1.
    private Tensor ReduceDim<TOp>(TOp op, int d, string name) where TOp : struct, IReduceOp
    {
        var shape = (int[])_shape.Clone();
        int outer = ShapeUtil.Prod(_shape, 0, d), r = _shape[d], inner = ShapeUtil.Prod(_shape, d + 1, Rank);
        shape[d] = 1;
        var y = Empty(shape, DType.Float32, Device);
        if (r == 0) { Backend.Fill(y.Buf, op.Identity()); return y; }
        Backend.Reduce(op, Buf, y.Buf, outer, r, inner);
        return y;
    }

    private int[] NormDims(int[]? dims, string op)
    {
        if (dims == null || dims.Length == 0) return Enumerable.Range(0, Rank).ToArray();
        var d = dims.Select(x => ShapeUtil.NormDim(x, Rank, op)).Distinct().OrderBy(x => x).ToArray();
        if (d.Length != dims.Length) throw new ArgumentException($"{op}: repeated dim in [{string.Join(", ", dims)}]", nameof(dims));
        return d;
    }

    private static int[] Squeezed(int[] shape, int[] dims, bool keepDim) =>
        keepDim ? shape : shape.Where((_, i) => !dims.Contains(i)).ToArray();

    private Tensor ReduceRaw<TOp>(TOp op, int[] dims, string name) where TOp : struct, IReduceOp
    {
        if (dims.Length == Rank && Rank > 0 || Rank == 0)
        {
            // All elements: one flat reduction.
            var y = Empty(Enumerable.Repeat(1, Rank).ToArray(), DType.Float32, Device);
            if (Numel == 0) Backend.Fill(y.Buf, op.Identity()); else Backend.Reduce(op, Buf, y.Buf, 1, Numel, 1);
            return y;
        }
        Tensor cur = this;
        foreach (var d in dims)
        {
            var next = cur.ReduceDim(op, d, name);
            if (!ReferenceEquals(cur, this)) cur.Dispose();
            cur = next;
        }
        return cur;
    }

    /// <summary>Sum over <paramref name="dims"/> (all when null).</summary>
    public Tensor Sum(int[]? dims = null, bool keepDim = false)
    {
        CheckFloat("sum");
        var d = NormDims(dims, "sum");
        var k = ReduceRaw(new SumOp(), d, "sum");
        var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(_shape, d, false));
        if (!keepDim) k.DisposeIfNotSame(y);
        var inShape = _shape; var kShape = k._shape;
        return Tape.Record("sum", y, Saves.None, g => new[] { g.ReshapeNoGrad(kShape).ExpandTo(inShape) }, this);
    }

    /// <summary>Sum over one dim.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum(new[] { dim }, keepDim);

    /// <summary>Mean over <paramref name="dims"/> (all when null).</summary>
    public Tensor Mean(int[]? dims = null, bool keepDim = false)
    {
        var d = NormDims(dims, "mean");
        long n = 1; foreach (var i in d) n *= _shape[i];
        var s = Sum(d, keepDim);
        var y = s.MulScalar(n == 0 ? float.NaN : 1f / n);
        s.Release();
        return y;
    }

    /// <summary>Mean over one dim.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean(new[] { dim }, keepDim);

    /// <summary>Maximum over <paramref name="dims"/> (all when null). The gradient goes to every maximal element.</summary>
    public Tensor Max(int[]? dims = null, bool keepDim = false) => Extreme(new MaxOp(), dims, keepDim, "max");

    // Max or min over dims; the gradient goes to every element equal to the result.
    internal Tensor Extreme<TOp>(TOp op, int[]? dims, bool keepDim, string name) where TOp : struct, IReduceOp
    {
        CheckFloat(name);
        if (Numel == 0) throw new ArgumentException($"{name}: the tensor {ShapeUtil.Format(_shape)} is empty", "input");
        var d = NormDims(dims, name);
        var k = ReduceRaw(op, d, name);
        var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(_shape, d, false));
        if (!keepDim) k.DisposeIfNotSame(y);
        var x = this; var kShape = k._shape;
        return Tape.Record(name, y, Saves.Of(x, y), g =>
        {
            using var kk = y.ReshapeNoGrad(kShape);
            using var mask = Binary(x, kk, new CompareOp(0), name + "_backward");
            using var ge = g.ReshapeNoGrad(kShape);
            return new[] { Binary(mask, ge, new MulOp(), name + "_backward") };
        }, this);
    }

    /// <summary>Maximum over one dim.</summary>
    public Tensor Max(int dim, bool keepDim = false) => Max(new[] { dim }, keepDim);

    /// <summary>Index of the first maximum over <paramref name="dim"/> (int32); over all elements when null.</summary>
    public Tensor ArgMax(int? dim = null, bool keepDim = false)
    {
        CheckFloat("argmax");
        if (Numel == 0) throw new ArgumentException("argmax: the tensor is empty", "input");
        if (dim == null)
        {
            var y0 = Empty(keepDim ? Enumerable.Repeat(1, Rank).ToArray() : Array.Empty<int>(), DType.Int32, Device);
            Backend.ArgMax(Buf, y0.Buf, 1, Numel, 1);
            return y0;
        }
        int d = ShapeUtil.NormDim(dim.Value, Rank, "argmax");
        var shape = (int[])_shape.Clone(); shape[d] = 1;
        var y = Empty(keepDim ? shape : Squeezed(_shape, new[] { d }, false), DType.Int32, Device);
        Backend.ArgMax(Buf, y.Buf, ShapeUtil.Prod(_shape, 0, d), _shape[d], ShapeUtil.Prod(_shape, d + 1, Rank));
        return y;
    }

    /// <summary>Sums a broadcast gradient back to <paramref name="shape"/> (the adjoint of broadcasting).</summary>
    internal Tensor SumTo(int[] shape)
    {
        if (_shape.AsSpan().SequenceEqual(shape)) return this;
        int lead = Rank - shape.Length;
        var dims = new List<int>();
        for (int i = 0; i < Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && _shape[i] != 1)) dims.Add(i);
        var k = ReduceRaw(new SumOp(), dims.ToArray(), "sum_to");
        var r = k.ReshapeNoGrad(shape);
        k.DisposeIfNotSame(r);
        return r;
    }

    /// <summary>Broadcasts to <paramref name="shape"/> by copying (no autograd).</summary>
    internal Tensor ExpandTo(int[] shape)
    {
        if (_shape.AsSpan().SequenceEqual(shape)) return this;
        var y = Empty(shape, DType, Device);
        var (ix, _) = Broadcasting.Indices(shape, _shape, shape);
        Backend.Gather(Buf, ix, y.Buf);
        return y;
    }

    private void DisposeIfNotSame(Tensor other)
    {
        if (!ReferenceEquals(this, other)) Dispose();
    }
}
