using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

// Data movement by index: strided gather/scatter (any dtype, moved as raw bits) and the
// int32-indexed select/add/one-hot, which report bad indices through the device error flag
// instead of synchronising.
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void Gather(Buf x, StridedIndex ix, Buf y)
    {
        if (x.DType != y.DType)
            throw new ArgumentException($"gather: dtype {x.DType.Name()} to {y.DType.Name()}", nameof(y));
        if (y.Length == 0) return;
        switch (x.DType.SizeInBytes())
        {
            case 4: GatherT(Raw<int>(x), ix, Raw<int>(y)); break;
            case 2: GatherT(Raw<ushort>(x), ix, Raw<ushort>(y)); break;
            default: GatherT(Raw<byte>(x), ix, Raw<byte>(y)); break;
        }
    }

    private void GatherT<T>(ArrayView<T> x, StridedIndex ix, ArrayView<T> y) where T : unmanaged
    {
        var k = Kernel("gather", a => a.LoadKernel<ArrayView<T>, StridedIndex, ArrayView<T>, int>(GatherKernel));
        k(Stream, Launch1D(y.Length), x, ix, y, (int)y.Length);
    }

    private static void GatherKernel<T>(ArrayView<T> x, StridedIndex ix, ArrayView<T> y, int n) where T : unmanaged
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = x[ix.Offset(i)];
    }

    /// <inheritdoc/>
    public void Scatter(Buf x, Buf y, StridedIndex iy)
    {
        if (x.DType != y.DType)
            throw new ArgumentException($"scatter: dtype {x.DType.Name()} to {y.DType.Name()}", nameof(y));
        if (x.Length == 0) return;
        switch (x.DType.SizeInBytes())
        {
            case 4: ScatterT(Raw<int>(x), Raw<int>(y), iy); break;
            case 2: ScatterT(Raw<ushort>(x), Raw<ushort>(y), iy); break;
            default: ScatterT(Raw<byte>(x), Raw<byte>(y), iy); break;
        }
    }

    private void ScatterT<T>(ArrayView<T> x, ArrayView<T> y, StridedIndex iy) where T : unmanaged
    {
        var k = Kernel("scatter", a => a.LoadKernel<ArrayView<T>, ArrayView<T>, StridedIndex, int>(ScatterKernel));
        k(Stream, Launch1D(x.Length), x, y, iy, (int)x.Length);
    }

    private static void ScatterKernel<T>(ArrayView<T> x, ArrayView<T> y, StridedIndex iy, int n) where T : unmanaged
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[iy.Offset(i)] = x[i];
    }

    /// <inheritdoc/>
    public void ScatterAdd(Buf x, Buf y, StridedIndex iy)
    {
        if (x.Length == 0) return;
        var k = Kernel("scatter_add", a =>
            a.LoadKernel<ArrayView<float>, ArrayView<float>, StridedIndex, int>(ScatterAddKernel));
        k(Stream, Launch1D(x.Length), View<float>(x), View<float>(y), iy, x.Length);
    }

    // Targets are distinct within a call (contract), so a plain add is race-free and deterministic.
    private static void ScatterAddKernel(ArrayView<float> x, ArrayView<float> y, StridedIndex iy, int n)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[iy.Offset(i)] += x[i];
    }

    /// <inheritdoc/>
    public void IndexSelect(Buf x, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        CheckLen((long)outer * r * inner, x.Length, "index_select");
        CheckLen((long)outer * count * inner, y.Length, "index_select");
        CheckLen(count, idx.Length, "index_select");
        if (y.Length == 0) return;
        var k = Kernel("index_select", a => a.LoadKernel<
            ArrayView<float>, ArrayView<int>, ArrayView<float>, IndexShape, ArrayView<int>>(IndexSelectKernel));
        k(Stream, Launch1D(y.Length), View<float>(x), View<int>(idx), View<float>(y),
            new IndexShape(outer, r, count, inner), ErrorFlag);
        ErrorKernelLaunched();
    }

    /// <inheritdoc/>
    public void IndexAdd(Buf g, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        CheckLen((long)outer * count * inner, g.Length, "index_add");
        CheckLen((long)outer * r * inner, y.Length, "index_add");
        CheckLen(count, idx.Length, "index_add");
        if (g.Length == 0) return;
        var k = Kernel("index_add", a => a.LoadKernel<
            ArrayView<float>, ArrayView<int>, ArrayView<float>, IndexShape, ArrayView<int>>(IndexAddKernel));
        k(Stream, Launch1D(g.Length), View<float>(g), View<int>(idx), View<float>(y),
            new IndexShape(outer, r, count, inner), ErrorFlag);
        ErrorKernelLaunched();
    }

    /// <inheritdoc/>
    public void OneHot(Buf idx, Buf y, int classes)
    {
        CheckLen((long)idx.Length * classes, y.Length, "one_hot");
        if (y.Length == 0) return;
        Bytes(y).MemSetToZero(Stream);
        var k = Kernel("one_hot", a =>
            a.LoadKernel<ArrayView<int>, ArrayView<float>, int, int, ArrayView<int>>(OneHotKernel));
        k(Stream, Launch1D(idx.Length), View<int>(idx), View<float>(y), idx.Length, classes, ErrorFlag);
        ErrorKernelLaunched();
    }

    /// <summary>(outer, r, count, inner) of an index op, as one kernel parameter.</summary>
    internal readonly record struct IndexShape(int Outer, int R, int Count, int Inner);

    private static void IndexSelectKernel(
        ArrayView<float> x, ArrayView<int> idx, ArrayView<float> y, IndexShape s, ArrayView<int> err)
    {
        int n = s.Outer * s.Count * s.Inner, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int oj = e / s.Inner, i = e - oj * s.Inner;
            int o = oj / s.Count, j = oj - o * s.Count;
            int id = idx[j];
            if ((uint)id >= (uint)s.R) { RaiseError(err, (int)KernelError.IndexSelect, id, j, s.R); y[e] = 0f; }
            else y[e] = x[(o * s.R + id) * s.Inner + i];
        }
    }

    private static void IndexAddKernel(
        ArrayView<float> g, ArrayView<int> idx, ArrayView<float> y, IndexShape s, ArrayView<int> err)
    {
        int n = s.Outer * s.Count * s.Inner, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int oj = e / s.Inner, i = e - oj * s.Inner;
            int o = oj / s.Count, j = oj - o * s.Count;
            int id = idx[j];
            if ((uint)id >= (uint)s.R) RaiseError(err, (int)KernelError.IndexAdd, id, j, s.R);
            else Atomic.Add(ref y[(o * s.R + id) * s.Inner + i], g[e]);
        }
    }

    private static void OneHotKernel(ArrayView<int> idx, ArrayView<float> y, int n, int classes, ArrayView<int> err)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int j = Grid.GlobalIndex.X; j < n; j += stride)
        {
            int id = idx[j];
            if ((uint)id >= (uint)classes) RaiseError(err, (int)KernelError.OneHot, id, j, classes);
            else y[j * classes + id] = 1f;
        }
    }
}
