using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

// Elementwise kernels: grid-stride loops over int indices, the op struct passed by value.
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IUnaryOp
    {
        CheckLen(x.Length, y.Length, "map");
        if (y.Length == 0) return;
        var k = Kernel("map1", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, int, TOp>(Map1Kernel));
        k(Stream, Launch1D(y.Length), View<float>(x), View<float>(y), y.Length, op);
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf y) where TOp : struct, IBinaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map");
        if (y.Length == 0) return;
        var k = Kernel("map2", acc =>
            acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, TOp>(Map2Kernel));
        k(Stream, Launch1D(y.Length), View<float>(a), View<float>(b), View<float>(y), y.Length, op);
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf c, Buf y) where TOp : struct, ITernaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map"); CheckLen(c.Length, y.Length, "map");
        if (y.Length == 0) return;
        var k = Kernel("map3", acc => acc.LoadKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, TOp>(Map3Kernel));
        k(Stream, Launch1D(y.Length), View<float>(a), View<float>(b), View<float>(c), View<float>(y), y.Length, op);
    }

    /// <inheritdoc/>
    public void MapIndexed<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IIndexedOp
    {
        CheckLen(x.Length, y.Length, "map");
        if (y.Length == 0) return;
        var k = Kernel("mapi", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, int, TOp>(MapIndexedKernel));
        k(Stream, Launch1D(y.Length), View<float>(x), View<float>(y), y.Length, op);
    }

    /// <inheritdoc/>
    public void MapBroadcast<TOp>(TOp op, Buf a, StridedIndex ia, Buf b, StridedIndex ib, Buf y)
        where TOp : struct, IBinaryOp
    {
        if (y.Length == 0) return;
        var k = Kernel("mapb", acc => acc.LoadKernel<
            ArrayView<float>, StridedIndex, ArrayView<float>, StridedIndex, ArrayView<float>, int, TOp>(
            MapBroadcastKernel));
        k(Stream, Launch1D(y.Length), View<float>(a), ia, View<float>(b), ib, View<float>(y), y.Length, op);
    }

    private static void Map1Kernel<TOp>(ArrayView<float> x, ArrayView<float> y, int n, TOp op)
        where TOp : struct, IUnaryOp
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = op.Apply(x[i]);
    }

    private static void Map2Kernel<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, TOp op)
        where TOp : struct, IBinaryOp
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = op.Apply(a[i], b[i]);
    }

    private static void Map3Kernel<TOp>(
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> y, int n, TOp op)
        where TOp : struct, ITernaryOp
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = op.Apply(a[i], b[i], c[i]);
    }

    private static void MapIndexedKernel<TOp>(ArrayView<float> x, ArrayView<float> y, int n, TOp op)
        where TOp : struct, IIndexedOp
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = op.Apply(i, x[i]);
    }

    private static void MapBroadcastKernel<TOp>(
        ArrayView<float> a, StridedIndex ia, ArrayView<float> b, StridedIndex ib, ArrayView<float> y, int n, TOp op)
        where TOp : struct, IBinaryOp
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = op.Apply(a[ia.Offset(i)], b[ib.Offset(i)]);
    }
}
