using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// Views (reshape: free), copies (permute, narrow, cat, stack) and index selection.
public sealed partial class Tensor
{
    internal Tensor ReshapeNoGrad(int[] shape) => View(0, ShapeUtil.InferReshape(_shape, shape));

    /// <summary>The same data with another shape (one dim may be -1). Free: shares storage.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var y = ReshapeNoGrad(shape);
        var s = _shape;
        return Tape.Record("reshape", y, Saves.None, g => new[] { g.ReshapeNoGrad(s) }, this);
    }

    /// <summary>Merges dims [startDim, endDim] into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        int s = ShapeUtil.NormDim(startDim, Rank, "flatten"), e = ShapeUtil.NormDim(endDim, Rank, "flatten");
        if (e < s) throw new ArgumentException($"flatten: endDim {endDim} is before startDim {startDim}");
        var shape = _shape.Take(s).Append(ShapeUtil.Prod(_shape, s, e + 1)).Concat(_shape.Skip(e + 1)).ToArray();
        return Reshape(shape);
    }

    /// <summary>Inserts a dim of size 1 at <paramref name="dim"/>.</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank) throw new ArgumentOutOfRangeException(nameof(dim), $"unsqueeze: dim {dim} out of range for rank {Rank}");
        var l = _shape.ToList(); l.Insert(d, 1);
        return Reshape(l.ToArray());
    }

    /// <summary>Removes dim <paramref name="dim"/> of size 1 (all size-1 dims when null).</summary>
    public Tensor Squeeze(int? dim = null)
    {
        if (dim == null) return Reshape(_shape.Where(x => x != 1).ToArray());
        int d = ShapeUtil.NormDim(dim.Value, Rank, "squeeze");
        if (_shape[d] != 1) return Reshape(_shape);
        return Reshape(_shape.Where((_, i) => i != d).ToArray());
    }

    /// <summary>Reorders dims (copies).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"permute: got {dims.Length} dims for a tensor of rank {Rank}", nameof(dims));
        var p = dims.Select(d => ShapeUtil.NormDim(d, Rank, "permute")).ToArray();
        if (p.Distinct().Count() != Rank) throw new ArgumentException($"permute: [{string.Join(", ", dims)}] is not a permutation", nameof(dims));
        var inStrides = new int[Rank];
        for (int i = Rank - 1, acc = 1; i >= 0; i--) { inStrides[i] = acc; acc *= _shape[i]; }
        var outShape = p.Select(i => _shape[i]).ToArray();
        var y = Empty(outShape, DType, Device);
        if (y.Numel > 0) Backend.Gather(Buf, Collapse(outShape, p.Select(i => inStrides[i]).ToArray()), y.Buf);
        var inv = new int[Rank];
        for (int i = 0; i < Rank; i++) inv[p[i]] = i;
        return Tape.Record("permute", KeepBf16Exact(y), Saves.None, g => new[] { g.Permute(inv) }, this);
    }

    /// <summary>Swaps two dims (copies).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        var p = Enumerable.Range(0, Rank).ToArray();
        int a = ShapeUtil.NormDim(dim0, Rank, "transpose"), b = ShapeUtil.NormDim(dim1, Rank, "transpose");
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>Transpose of a 2-D tensor.</summary>
    public Tensor T() => Rank == 2 ? Transpose(0, 1) : throw new InvalidOperationException($"T: expected a 2-D tensor, got {ShapeUtil.Format(_shape)}");

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

    /// <summary>Elements [start, start+length) of <paramref name="dim"/>. A view when dim is the leading non-trivial dim, else a copy.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = ShapeUtil.NormDim(dim, Rank, "narrow");
        if (start < 0 || length < 0 || start + length > _shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow: [{start}, {start + length}) is outside dim {d} of size {_shape[d]} in {ShapeUtil.Format(_shape)}");
        var shape = (int[])_shape.Clone(); shape[d] = length;
        int outer = ShapeUtil.Prod(_shape, 0, d), inner = ShapeUtil.Prod(_shape, d + 1, Rank);
        Tensor y;
        if (outer == 1) y = View(start * inner, shape);
        else
        {
            y = Empty(shape, DType, Device);
            if (y.Numel > 0)
                Backend.Gather(new Backends.Buf(Storage, _offset + start * inner, Numel - start * inner),
                    StridedIndex.Create(new[] { outer, length * inner }, new[] { _shape[d] * inner, 1 }), y.Buf);
            KeepBf16Exact(y);
        }
        var inShape = _shape;
        return Tape.Record("narrow", y, Saves.None, g =>
        {
            var gx = Zeros(inShape, g.Device);
            PlaceInto(g, gx, d, start);
            return new[] { gx };
        }, this);
    }

    // Writes `part` into `whole` at offset `start` along dim d (shapes agree elsewhere).
    private static void PlaceInto(Tensor part, Tensor whole, int d, int start)
    {
        if (part.Numel == 0) return;
        int outer = ShapeUtil.Prod(whole._shape, 0, d), inner = ShapeUtil.Prod(whole._shape, d + 1, whole.Rank);
        int len = part._shape[d], total = whole._shape[d];
        var dst = new Backends.Buf(whole.Storage, whole._offset + start * inner, whole.Numel - start * inner);
        if (outer == 1) whole.Backend.Copy(part.Buf, new Backends.Buf(whole.Storage, whole._offset + start * inner, part.Numel));
        else whole.Backend.Scatter(part.Buf, dst, StridedIndex.Create(new[] { outer, len * inner }, new[] { total * inner, 1 }));
    }

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
            if (t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(j => j != d && t._shape[j] != first._shape[j]))
                throw new ArgumentException($"cat: tensor {i} has shape {ShapeUtil.Format(t._shape)}, incompatible with {ShapeUtil.Format(first._shape)} along dim {d}", nameof(tensors));
            if (t.DType != first.DType) throw new ArgumentException($"cat: tensor {i} is {t.DType.Name()}, tensor 0 is {first.DType.Name()}", nameof(tensors));
            first.CheckSameDevice(t, "cat");
            total += t._shape[d];
        }
        var shape = (int[])first._shape.Clone(); shape[d] = total;
        var y = Empty(shape, first.DType, first.Device);
        var starts = new int[tensors.Count];
        for (int i = 0, s = 0; i < tensors.Count; i++) { starts[i] = s; PlaceInto(tensors[i], y, d, s); s += tensors[i]._shape[d]; }
        var lens = tensors.Select(t => t._shape[d]).ToArray();
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
            if (!tensors[i]._shape.AsSpan().SequenceEqual(tensors[0]._shape))
                throw new ArgumentException($"stack: tensor {i} has shape {ShapeUtil.Format(tensors[i]._shape)}, tensor 0 has {ShapeUtil.Format(tensors[0]._shape)}", nameof(tensors));
        var parts = tensors.Select(t => t.Unsqueeze(dim)).ToList();
        var y = Cat(parts, dim);
        foreach (var p in parts) p.Release();
        return y;
    }

    /// <summary>Rows of <paramref name="dim"/> picked by int32 <paramref name="index"/> (1-D). Backward scatter-adds.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        if (index.DType != DType.Int32 || index.Rank != 1)
            throw new ArgumentException($"index_select: index must be a 1-D int32 tensor, got {index.DType.Name()} {ShapeUtil.Format(index._shape)}", nameof(index));
        CheckFloat("index_select"); CheckSameDevice(index, "index_select");
        int d = ShapeUtil.NormDim(dim, Rank, "index_select");
        int outer = ShapeUtil.Prod(_shape, 0, d), r = _shape[d], inner = ShapeUtil.Prod(_shape, d + 1, Rank), count = index.Numel;
        var shape = (int[])_shape.Clone(); shape[d] = count;
        var y = Empty(shape, DType.Float32, Device);
        try { if (y.Numel > 0) Backend.IndexSelect(Buf, index.Buf, y.Buf, outer, r, count, inner); }
        catch { y.Dispose(); throw; } // out-of-range indices: do not leak the output
        var inShape = _shape;
        return Tape.Record("index_select", y, Saves.Of(index), g =>
        {
            var gx = Zeros(inShape, g.Device);
            if (g.Numel > 0) g.Backend.IndexAdd(g.Buf, index.Buf, gx.Buf, outer, r, count, inner);
            return new Tensor?[] { gx, null };
        }, this, index);
    }

    /// <summary>Embedding lookup: rows of this (V, D) for int32 indices of any shape → (indices..., D).</summary>
    public Tensor Embedding(Tensor indices)
    {
        if (Rank != 2) throw new ArgumentException($"embedding: weight must be (V, D), got {ShapeUtil.Format(_shape)}");
        if (indices.DType != DType.Int32)
            throw new ArgumentException($"embedding: indices must be int32, got {indices.DType.Name()} {ShapeUtil.Format(indices._shape)}", nameof(indices));
        var flat = indices.ReshapeNoGrad(new[] { indices.Numel });
        var y = IndexSelect(0, flat);
        flat.Release();
        return Releasing(y, y.Reshape(indices._shape.Append(_shape[1]).ToArray()));
    }

    /// <summary>One-hot float32 rows for int32 labels: (labels..., classes).</summary>
    public static Tensor OneHot(Tensor labels, int classes)
    {
        if (labels.DType != DType.Int32) throw new ArgumentException($"one_hot: labels must be int32, got {labels.DType.Name()}", nameof(labels));
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), $"one_hot: classes must be positive, got {classes}");
        var y = Empty(labels._shape.Append(classes).ToArray(), DType.Float32, labels.Device);
        try { if (labels.Numel > 0) labels.Backend.OneHot(labels.Buf, y.Buf, classes); }
        catch { y.Dispose(); throw; }
        return y;
    }
}
