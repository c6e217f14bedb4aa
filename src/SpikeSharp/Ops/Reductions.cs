using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Sum, mean, max, argmax over all elements or given dims.</summary>
public static class ReductionOps
{
    extension(Tensor input)
    {
        // Reduces one dim with a raw kernel; keeps the dim as size 1.
        internal Tensor ReduceDim<TOp>(TOp op, int d, string name) where TOp : struct, IReduceOp
        {
            var shape = (int[])input.Dims.Clone();
            int outer = ShapeUtil.Prod(input.Dims, 0, d), r = input.Dims[d], inner = ShapeUtil.Prod(input.Dims, d + 1, input.Rank);
            shape[d] = 1;
            var y = Empty(shape, DType.Float32, input.Device);
            if (r == 0) { input.Backend.Fill(y.Buf, op.Identity()); return y; }
            input.Backend.Reduce(op, input.Buf, y.Buf, outer, r, inner);
            return y;
        }

        internal int[] NormDims(int[]? dims, string op)
        {
            if (dims == null || dims.Length == 0) return Enumerable.Range(0, input.Rank).ToArray();
            var d = dims.Select(x => ShapeUtil.NormDim(x, input.Rank, op)).Distinct().OrderBy(x => x).ToArray();
            if (d.Length != dims.Length) throw new ArgumentException($"{op}: repeated dim in [{string.Join(", ", dims)}]", nameof(dims));
            return d;
        }

        internal Tensor ReduceRaw<TOp>(TOp op, int[] dims, string name) where TOp : struct, IReduceOp
        {
            if (dims.Length == input.Rank && input.Rank > 0 || input.Rank == 0)
            {
                // All elements: one flat reduction.
                var y = Empty(Enumerable.Repeat(1, input.Rank).ToArray(), DType.Float32, input.Device);
                if (input.Numel == 0) input.Backend.Fill(y.Buf, op.Identity()); else input.Backend.Reduce(op, input.Buf, y.Buf, 1, input.Numel, 1);
                return y;
            }
            Tensor cur = input;
            foreach (var d in dims)
            {
                var next = cur.ReduceDim(op, d, name);
                if (!ReferenceEquals(cur, input)) cur.Dispose();
                cur = next;
            }
            return cur;
        }

        /// <summary>Sum over <paramref name="dims"/> (all when null).</summary>
        public Tensor Sum(int[]? dims = null, bool keepDim = false)
        {
            input.CheckFloat("sum");
            var d = input.NormDims(dims, "sum");
            var k = input.ReduceRaw(new SumOp(), d, "sum");
            var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(input.Dims, d, false));
            if (!keepDim) k.DisposeIfNotSame(y);
            var inShape = input.Dims; var kShape = k.Dims;
            return Tape.Record("sum", y, Saves.None, g => new[] { g.ReshapeNoGrad(kShape).ExpandTo(inShape) }, input);
        }

        /// <summary>Sum over one dim.</summary>
        public Tensor Sum(int dim, bool keepDim = false) => input.Sum(new[] { dim }, keepDim);

        /// <summary>Mean over <paramref name="dims"/> (all when null).</summary>
        public Tensor Mean(int[]? dims = null, bool keepDim = false)
        {
            var d = input.NormDims(dims, "mean");
            long n = 1; foreach (var i in d) n *= input.Dims[i];
            var s = input.Sum(d, keepDim);
            var y = s.MulScalar(n == 0 ? float.NaN : 1f / n);
            s.Release();
            return y;
        }

        /// <summary>Mean over one dim.</summary>
        public Tensor Mean(int dim, bool keepDim = false) => input.Mean(new[] { dim }, keepDim);

        /// <summary>Maximum over <paramref name="dims"/> (all when null). The gradient goes to every maximal element.</summary>
        public Tensor Max(int[]? dims = null, bool keepDim = false) => input.Extreme(new MaxOp(), dims, keepDim, "max");

        // Max or min over dims; the gradient goes to every element equal to the result.
        internal Tensor Extreme<TOp>(TOp op, int[]? dims, bool keepDim, string name) where TOp : struct, IReduceOp
        {
            input.CheckFloat(name);
            if (input.Numel == 0) throw new ArgumentException($"{name}: the tensor {ShapeUtil.Format(input.Dims)} is empty", "input");
            var d = input.NormDims(dims, name);
            var k = input.ReduceRaw(op, d, name);
            var y = keepDim ? k : k.ReshapeNoGrad(Squeezed(input.Dims, d, false));
            if (!keepDim) k.DisposeIfNotSame(y);
            var x = input; var kShape = k.Dims;
            return Tape.Record(name, y, Saves.Of(x, y), g =>
            {
                using var kk = y.ReshapeNoGrad(kShape);
                using var mask = Binary(x, kk, new CompareOp(0), name + "_backward");
                using var ge = g.ReshapeNoGrad(kShape);
                return new[] { Binary(mask, ge, new MulOp(), name + "_backward") };
            }, input);
        }

        /// <summary>Maximum over one dim.</summary>
        public Tensor Max(int dim, bool keepDim = false) => input.Max(new[] { dim }, keepDim);

        /// <summary>Index of the first maximum over <paramref name="dim"/> (int32); over all elements when null.</summary>
        public Tensor ArgMax(int? dim = null, bool keepDim = false)
        {
            input.CheckFloat("argmax");
            if (input.Numel == 0) throw new ArgumentException("argmax: the tensor is empty", "input");
            if (dim == null)
            {
                var y0 = Empty(keepDim ? Enumerable.Repeat(1, input.Rank).ToArray() : Array.Empty<int>(), DType.Int32, input.Device);
                input.Backend.ArgMax(input.Buf, y0.Buf, 1, input.Numel, 1);
                return y0;
            }
            int d = ShapeUtil.NormDim(dim.Value, input.Rank, "argmax");
            var shape = (int[])input.Dims.Clone(); shape[d] = 1;
            var y = Empty(keepDim ? shape : Squeezed(input.Dims, new[] { d }, false), DType.Int32, input.Device);
            input.Backend.ArgMax(input.Buf, y.Buf, ShapeUtil.Prod(input.Dims, 0, d), input.Dims[d], ShapeUtil.Prod(input.Dims, d + 1, input.Rank));
            return y;
        }

        /// <summary>Sums a broadcast gradient back to <paramref name="shape"/> (the adjoint of broadcasting).</summary>
        internal Tensor SumTo(int[] shape)
        {
            if (input.Dims.AsSpan().SequenceEqual(shape)) return input;
            int lead = input.Rank - shape.Length;
            var dims = new List<int>();
            for (int i = 0; i < input.Rank; i++)
                if (i < lead || (shape[i - lead] == 1 && input.Dims[i] != 1)) dims.Add(i);
            var k = input.ReduceRaw(new SumOp(), dims.ToArray(), "sum_to");
            var r = k.ReshapeNoGrad(shape);
            k.DisposeIfNotSame(r);
            return r;
        }

        /// <summary>Broadcasts to <paramref name="shape"/> by copying (no autograd).</summary>
        internal Tensor ExpandTo(int[] shape)
        {
            if (input.Dims.AsSpan().SequenceEqual(shape)) return input;
            var y = Empty(shape, input.DType, input.Device);
            var (ix, _) = Broadcasting.Indices(shape, input.Dims, shape);
            input.Backend.Gather(input.Buf, ix, y.Buf);
            return y;
        }
    }

    internal static int[] Squeezed(int[] shape, int[] dims, bool keepDim) =>
        keepDim ? shape : shape.Where((_, i) => !dims.Contains(i)).ToArray();
}
