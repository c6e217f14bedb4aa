using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Views (reshape: free), copies (permute, narrow, cat, stack) and index selection.</summary>
public static class ShapeOps
{
    extension(Tensor)
    {
        /// <summary>Concatenates along <paramref name="dim"/>; shapes must agree elsewhere.</summary>
        public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
        {
            if (tensors.Count == 0) throw new ArgumentException("cat: expected at least one tensor", nameof(tensors));
            var first = tensors[0];
            int d = ShapeUtil.NormDim(dim, first.Rank, "cat");
            int total = 0;
            for (int i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                if (t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(j => j != d && t.Dims[j] != first.Dims[j]))
                    throw new ArgumentException($"cat: tensor {i} has shape {ShapeUtil.Format(t.Dims)}, incompatible "
                        + $"with {ShapeUtil.Format(first.Dims)} along dim {d}", nameof(tensors));
                if (t.DType != first.DType) throw new ArgumentException($"cat: tensor {i} is {t.DType.Name()}, "
                    + $"tensor 0 is {first.DType.Name()}", nameof(tensors));
                first.CheckSameDevice(t, "cat");
                total += t.Dims[d];
            }
            var shape = (int[])first.Dims.Clone(); shape[d] = total;
            var y = Empty(shape, first.DType, first.Device);
            var starts = new int[tensors.Count];
            for (int i = 0, s = 0; i < tensors.Count; i++)
            {
                starts[i] = s;
                PlaceInto(tensors[i], y, d, s);
                s += tensors[i].Dims[d];
            }
            var lens = tensors.Select(t => t.Dims[d]).ToArray();
            Tape.Record("cat", new[] { y }, tensors.ToArray(), Saves.None,
                g => g[0] is not { } g0 ? new Tensor?[lens.Length]
                : lens.Select((l, i) => (Tensor?)g0.Narrow(d, starts[i], l)).ToArray());
            return y;
        }

        /// <summary>Stacks equal-shaped tensors along a new dim.</summary>
        public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
        {
            if (tensors.Count == 0) throw new ArgumentException("stack: expected at least one tensor", nameof(tensors));
            for (int i = 1; i < tensors.Count; i++)
                if (!tensors[i].Dims.AsSpan().SequenceEqual(tensors[0].Dims))
                    throw new ArgumentException($"stack: tensor {i} has shape {ShapeUtil.Format(tensors[i].Dims)}, "
                        + $"tensor 0 has {ShapeUtil.Format(tensors[0].Dims)}", nameof(tensors));
            var parts = tensors.Select(t => t.Unsqueeze(dim)).ToList();
            var y = Cat(parts, dim);
            foreach (var p in parts) p.Release();
            return y;
        }

        /// <summary>One-hot float32 rows for int32 labels: (labels..., classes).</summary>
        public static Tensor OneHot(Tensor labels, int classes)
        {
            if (labels.DType != DType.Int32) throw new ArgumentException($"one_hot: labels must be int32, "
                + $"got {labels.DType.Name()}", nameof(labels));
            if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), $"one_hot: classes must be "
                + $"positive, got {classes}");
            var y = Empty(labels.Dims.Append(classes).ToArray(), DType.Float32, labels.Device);
            try { if (labels.Numel > 0) labels.Backend.OneHot(labels.Buf, y.Buf, classes); }
            catch { y.Dispose(); throw; }
            return y;
        }
    }

    extension(Tensor x)
    {
        internal Tensor ReshapeNoGrad(int[] shape) => x.View(0, ShapeUtil.InferReshape(x.Dims, shape));

        /// <summary>The same data with another shape (one dim may be -1). Free: shares storage.</summary>
        public Tensor Reshape(params int[] shape)
        {
            var y = x.ReshapeNoGrad(shape);
            var s = x.Dims;
            return Tape.Record("reshape", y, Saves.None, g => new[] { g.ReshapeNoGrad(s) }, x);
        }

        /// <summary>Merges dims [startDim, endDim] into one.</summary>
        public Tensor Flatten(int startDim = 0, int endDim = -1)
        {
            int s = ShapeUtil.NormDim(startDim, x.Rank, "flatten"),
                e = ShapeUtil.NormDim(endDim, x.Rank, "flatten");
            if (e < s) throw new ArgumentException($"flatten: endDim {endDim} is before startDim {startDim}");
            var shape = x.Dims.Take(s).Append(ShapeUtil.Prod(x.Dims, s, e + 1))
                .Concat(x.Dims.Skip(e + 1)).ToArray();
            return x.Reshape(shape);
        }

        /// <summary>Inserts a dim of size 1 at <paramref name="dim"/>.</summary>
        public Tensor Unsqueeze(int dim)
        {
            int d = dim < 0 ? dim + x.Rank + 1 : dim;
            if (d < 0 || d > x.Rank) throw new ArgumentOutOfRangeException(nameof(dim), $"unsqueeze: "
                + $"dim {dim} out of range for rank {x.Rank}");
            var l = x.Dims.ToList(); l.Insert(d, 1);
            return x.Reshape(l.ToArray());
        }

        /// <summary>Removes dim <paramref name="dim"/> of size 1 (all size-1 dims when null).</summary>
        public Tensor Squeeze(int? dim = null)
        {
            if (dim == null) return x.Reshape(x.Dims.Where(n => n != 1).ToArray());
            int d = ShapeUtil.NormDim(dim.Value, x.Rank, "squeeze");
            if (x.Dims[d] != 1) return x.Reshape(x.Dims);
            return x.Reshape(x.Dims.Where((_, i) => i != d).ToArray());
        }

        /// <summary>Reorders dims (copies).</summary>
        public Tensor Permute(params int[] dims)
        {
            if (dims.Length != x.Rank) throw new ArgumentException($"permute: got {dims.Length} dims for a "
                + $"tensor of rank {x.Rank}", nameof(dims));
            var p = dims.Select(d => ShapeUtil.NormDim(d, x.Rank, "permute")).ToArray();
            if (p.Distinct().Count() != x.Rank) throw new ArgumentException($"permute: "
                + $"[{string.Join(", ", dims)}] is not a permutation", nameof(dims));
            var inStrides = new int[x.Rank];
            for (int i = x.Rank - 1, acc = 1; i >= 0; i--) { inStrides[i] = acc; acc *= x.Dims[i]; }
            var outShape = p.Select(i => x.Dims[i]).ToArray();
            var y = Empty(outShape, x.DType, x.Device);
            if (y.Numel > 0) x.Backend.Gather(x.Buf,
                Collapse(outShape, p.Select(i => inStrides[i]).ToArray()), y.Buf);
            var inv = new int[x.Rank];
            for (int i = 0; i < x.Rank; i++) inv[p[i]] = i;
            return Tape.Record("permute", x.KeepBf16Exact(y), Saves.None, g => new[] { g.Permute(inv) }, x);
        }

        /// <summary>Swaps two dims (copies).</summary>
        public Tensor Transpose(int dim0, int dim1)
        {
            var p = Enumerable.Range(0, x.Rank).ToArray();
            int a = ShapeUtil.NormDim(dim0, x.Rank, "transpose"),
                b = ShapeUtil.NormDim(dim1, x.Rank, "transpose");
            (p[a], p[b]) = (p[b], p[a]);
            return x.Permute(p);
        }

        /// <summary>Transpose of a 2-D tensor.</summary>
        public Tensor T() => x.Rank == 2 ? x.Transpose(0, 1)
            : throw new InvalidOperationException($"T: expected a 2-D tensor, got {ShapeUtil.Format(x.Dims)}");

        /// <summary>
        /// Elements [start, start+length) of <paramref name="dim"/>. A view when dim is the leading non-trivial dim,
        /// else a copy.
        /// </summary>
        public Tensor Narrow(int dim, int start, int length)
        {
            int d = ShapeUtil.NormDim(dim, x.Rank, "narrow");
            if (start < 0 || length < 0 || start + length > x.Dims[d])
                throw new ArgumentOutOfRangeException(nameof(start), $"narrow: [{start}, {start + length}) is "
                    + $"outside dim {d} of size {x.Dims[d]} in {ShapeUtil.Format(x.Dims)}");
            var shape = (int[])x.Dims.Clone(); shape[d] = length;
            int outer = ShapeUtil.Prod(x.Dims, 0, d), inner = ShapeUtil.Prod(x.Dims, d + 1, x.Rank);
            Tensor y;
            if (outer == 1) y = x.View(start * inner, shape);
            else
            {
                y = Empty(shape, x.DType, x.Device);
                if (y.Numel > 0)
                    x.Backend.Gather(new Backends.Buf(x.Storage, x.Offset + start * inner,
                        x.Numel - start * inner),
                        StridedIndex.Create(new[] { outer, length * inner },
                            new[] { x.Dims[d] * inner, 1 }), y.Buf);
                x.KeepBf16Exact(y);
            }
            var inShape = x.Dims;
            return Tape.Record("narrow", y, Saves.None, g =>
            {
                var gx = Zeros(inShape, g.Device);
                PlaceInto(g, gx, d, start);
                return new[] { gx };
            }, x);
        }

        /// <summary>
        /// Rows of <paramref name="dim"/> picked by int32 <paramref name="index"/> (1-D). Backward scatter-adds.
        /// </summary>
        public Tensor IndexSelect(int dim, Tensor index)
        {
            if (index.DType != DType.Int32 || index.Rank != 1)
                throw new ArgumentException($"index_select: index must be a 1-D int32 tensor, "
                    + $"got {index.DType.Name()} {ShapeUtil.Format(index.Dims)}", nameof(index));
            x.CheckFloat("index_select"); x.CheckSameDevice(index, "index_select");
            int d = ShapeUtil.NormDim(dim, x.Rank, "index_select");
            int outer = ShapeUtil.Prod(x.Dims, 0, d), r = x.Dims[d],
                inner = ShapeUtil.Prod(x.Dims, d + 1, x.Rank), count = index.Numel;
            var shape = (int[])x.Dims.Clone(); shape[d] = count;
            var y = Empty(shape, DType.Float32, x.Device);
            try { if (y.Numel > 0) x.Backend.IndexSelect(x.Buf, index.Buf, y.Buf, outer, r, count, inner); }
            catch { y.Dispose(); throw; } // out-of-range indices: do not leak the output
            var inShape = x.Dims;
            return Tape.Record("index_select", y, Saves.Of(index), g =>
            {
                var gx = Zeros(inShape, g.Device);
                if (g.Numel > 0) g.Backend.IndexAdd(g.Buf, index.Buf, gx.Buf, outer, r, count, inner);
                return new Tensor?[] { gx, null };
            }, x, index);
        }

        /// <summary>Embedding lookup: rows of this (V, D) for int32 indices of any shape → (indices..., D).</summary>
        public Tensor Embedding(Tensor indices)
        {
            if (x.Rank != 2) throw new ArgumentException($"embedding: weight must be (V, D), "
                + $"got {ShapeUtil.Format(x.Dims)}");
            if (indices.DType != DType.Int32)
                throw new ArgumentException($"embedding: indices must be int32, "
                    + $"got {indices.DType.Name()} {ShapeUtil.Format(indices.Dims)}", nameof(indices));
            var flat = indices.ReshapeNoGrad(new[] { indices.Numel });
            var y = x.IndexSelect(0, flat);
            flat.Release();
            return Releasing(y, y.Reshape(indices.Dims.Append(x.Dims[1]).ToArray()));
        }
    }

    // Merges output dims whose input strides are contiguous, so high-rank permutes fit in 6 dims.
    private static StridedIndex Collapse(int[] dims, int[] strides)
    {
        var d = new List<int>(); var s = new List<int>();
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] == 1) continue;
            int n = d.Count - 1;
            if (n >= 0 && s[n] == strides[i] * dims[i]) { d[n] *= dims[i]; s[n] = strides[i]; }
            else { d.Add(dims[i]); s.Add(strides[i]); }
        }
        return StridedIndex.Create(d.ToArray(), s.ToArray());
    }

    // Writes `part` into `whole` at offset `start` along dim d (shapes agree elsewhere).
    private static void PlaceInto(Tensor part, Tensor whole, int d, int start)
    {
        if (part.Numel == 0) return;
        int outer = ShapeUtil.Prod(whole.Dims, 0, d), inner = ShapeUtil.Prod(whole.Dims, d + 1, whole.Rank);
        int len = part.Dims[d], total = whole.Dims[d];
        var dst = new Backends.Buf(whole.Storage, whole.Offset + start * inner, whole.Numel - start * inner);
        if (outer == 1) whole.Backend.Copy(part.Buf,
            new Backends.Buf(whole.Storage, whole.Offset + start * inner, part.Numel));
        else whole.Backend.Scatter(part.Buf, dst,
            StridedIndex.Create(new[] { outer, len * inner }, new[] { total * inner, 1 }));
    }
}
