using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Sum, mean, max, argmax over all elements or given dims.</summary>
public static class ReductionOps
{
    extension(Tensor x)
    {
        // Reduces one dim with a raw kernel; keeps the dim as size 1.
        internal Tensor ReduceDim<TOp>(TOp op, int d, string name) where TOp : struct, IReduceOp
        {
            var shape = (int[])x.Dims.Clone();
            int outer = ShapeUtil.Prod(x.Dims, 0, d), r = x.Dims[d],
                inner = ShapeUtil.Prod(x.Dims, d + 1, x.Rank);
            shape[d] = 1;
            var y = Empty(shape, DType.Float32, x.Device);
            if (r == 0) { x.Backend.Fill(y.Buf, op.Identity()); return y; }
            x.Backend.Reduce(op, x.Buf, y.Buf, outer, r, inner);
            return y;
        }

        internal int[] NormDims(int[]? dims, string op)
        {
            if (dims == null || dims.Length == 0) return Enumerable.Range(0, x.Rank).ToArray();
            var d = dims.Select(v => ShapeUtil.NormDim(v, x.Rank, op)).Distinct().OrderBy(v => v).ToArray();
            if (d.Length != dims.Length) throw new ArgumentException($"{op}: repeated dim in "
                + $"[{string.Join(", ", dims)}]", nameof(dims));
            return d;
        }

        internal Tensor ReduceRaw<TOp>(TOp op, int[] dims, string name) where TOp : struct, IReduceOp
        {
            if (dims.Length == x.Rank && x.Rank > 0 || x.Rank == 0)
            {
                // All elements: one flat reduction.
                var y = Empty(Enumerable.Repeat(1, x.Rank).ToArray(), DType.Float32, x.Device);
                if (x.Numel == 0) x.Backend.Fill(y.Buf, op.Identity());
                else x.Backend.Reduce(op, x.Buf, y.Buf, 1, x.Numel, 1);
                return y;
            }
            Tensor cur = x;
            foreach (var d in dims)
            {
                var next = cur.ReduceDim(op, d, name);
                if (!ReferenceEquals(cur, x)) cur.Dispose();
                cur = next;
            }
            return cur;
        }

        /// <summary>Sum over <paramref name="dims"/> (all when null).</summary>
        public Tensor Sum(int[]? dims = null, bool keepDim = false)
        {
            x.CheckFloat("sum");
            var d = x.NormDims(dims, "sum");
            var k = x.ReduceRaw(new SumOp(), d, "sum");
            var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(x.Dims, d, false));
            if (!keepDim) k.DisposeIfNotSame(y);
            var inShape = x.Dims; var kShape = k.Dims;
            return Tape.Record("sum", y, Saves.None, g => new[] { g.ReshapeNoGrad(kShape).ExpandTo(inShape) }, x);
        }

        /// <summary>Sum over one dim.</summary>
        public Tensor Sum(int dim, bool keepDim = false) => x.Sum(new[] { dim }, keepDim);

        /// <summary>Mean over <paramref name="dims"/> (all when null).</summary>
        public Tensor Mean(int[]? dims = null, bool keepDim = false)
        {
            var d = x.NormDims(dims, "mean");
            long n = 1; foreach (var i in d) n *= x.Dims[i];
            var s = x.Sum(d, keepDim);
            var y = s.MulScalar(n == 0 ? float.NaN : 1f / n);
            s.Release();
            return y;
        }

        /// <summary>Mean over one dim.</summary>
        public Tensor Mean(int dim, bool keepDim = false) => x.Mean(new[] { dim }, keepDim);

        /// <summary>
        /// Maximum over <paramref name="dims"/> (all when null). The gradient goes to every maximal element.
        /// </summary>
        public Tensor Max(int[]? dims = null, bool keepDim = false) => x.Extreme(new MaxOp(), dims, keepDim, "max");

        // Max or min over dims; the gradient goes to every element equal to the result.
        internal Tensor Extreme<TOp>(TOp op, int[]? dims, bool keepDim, string name) where TOp : struct, IReduceOp
        {
            x.CheckFloat(name);
            if (x.Numel == 0) throw new ArgumentException($"{name}: the "
                + $"tensor {ShapeUtil.Format(x.Dims)} is empty", "input");
            var d = x.NormDims(dims, name);
            var k = x.ReduceRaw(op, d, name);
            var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(x.Dims, d, false));
            if (!keepDim) k.DisposeIfNotSame(y);
            var kShape = k.Dims;
            return Tape.Record(name, y, Saves.Of(x, y), g =>
            {
                using var kk = y.ReshapeNoGrad(kShape);
                using var mask = Binary(x, kk, new CompareOp(0), name + "_backward");
                using var ge = g.ReshapeNoGrad(kShape);
                return new[] { Binary(mask, ge, new MulOp(), name + "_backward") };
            }, x);
        }

        /// <summary>Maximum over one dim.</summary>
        public Tensor Max(int dim, bool keepDim = false) => x.Max(new[] { dim }, keepDim);

        /// <summary>
        /// Index of the first maximum over <paramref name="dim"/> (int32); over all elements when null.
        /// </summary>
        public Tensor ArgMax(int? dim = null, bool keepDim = false)
        {
            x.CheckFloat("argmax");
            if (x.Numel == 0) throw new ArgumentException("argmax: the tensor is empty", "input");
            if (dim == null)
            {
                var y0 = Empty(keepDim ? Enumerable.Repeat(1, x.Rank).ToArray() : Array.Empty<int>(),
                    DType.Int32, x.Device);
                x.Backend.ArgMax(x.Buf, y0.Buf, 1, x.Numel, 1);
                return y0;
            }
            int d = ShapeUtil.NormDim(dim.Value, x.Rank, "argmax");
            var shape = (int[])x.Dims.Clone(); shape[d] = 1;
            var y = Empty(keepDim ? shape : Squeezed(x.Dims, new[] { d }, false), DType.Int32, x.Device);
            x.Backend.ArgMax(x.Buf, y.Buf, ShapeUtil.Prod(x.Dims, 0, d), x.Dims[d],
                ShapeUtil.Prod(x.Dims, d + 1, x.Rank));
            return y;
        }

        /// <summary>Sums a broadcast gradient back to <paramref name="shape"/> (the adjoint of broadcasting).</summary>
        internal Tensor SumTo(int[] shape)
        {
            if (x.Dims.AsSpan().SequenceEqual(shape)) return x;
            int lead = x.Rank - shape.Length;
            var dims = new List<int>();
            for (int i = 0; i < x.Rank; i++)
                if (i < lead || (shape[i - lead] == 1 && x.Dims[i] != 1)) dims.Add(i);
            var k = x.ReduceRaw(new SumOp(), dims.ToArray(), "sum_to");
            var r = k.ReshapeNoGrad(shape);
            k.DisposeIfNotSame(r);
            return r;
        }

        /// <summary>Broadcasts to <paramref name="shape"/> by copying (no autograd).</summary>
        internal Tensor ExpandTo(int[] shape)
        {
            if (x.Dims.AsSpan().SequenceEqual(shape)) return x;
            var y = Empty(shape, x.DType, x.Device);
            var (ix, _) = Broadcasting.Indices(shape, x.Dims, shape);
            x.Backend.Gather(x.Buf, ix, y.Buf);
            return y;
        }
    }

    internal static int[] Squeezed(int[] shape, int[] dims, bool keepDim) =>
        keepDim ? shape : shape.Where((_, i) => !dims.Contains(i)).ToArray();
}
