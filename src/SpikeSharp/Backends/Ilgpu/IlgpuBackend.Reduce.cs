using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

// Reductions over the middle axis of (outer, r, inner). All results are deterministic: partial
// results are combined in a fixed order that depends only on the shape, never on timing.
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void Reduce<TOp>(TOp op, Buf x, Buf y, int outer, int r, int inner) where TOp : struct, IReduceOp
    {
        CheckLen((long)outer * r * inner, x.Length, "reduce"); CheckLen((long)outer * inner, y.Length, "reduce");
        if (y.Length == 0) return;
        var xv = View<float>(x); var yv = View<float>(y);
        if (r == 0) { Fill(y, op.Identity()); return; }
        if (outer * inner == 1) { ReduceAll(op, xv, yv, r); return; }
        if (inner == 1)
        {
            var k = Kernel("reduce_rows", a =>
                a.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, TOp>(ReduceRowsKernel));
            k(Stream, Launch1D((long)outer * Warp32), xv, yv, outer, r, op);
            return;
        }
        ReduceColumns(op, xv, yv, outer, r, inner);
    }

    // Few column tiles and a long r (bias gradients: (B·T, C) summed over B·T) would leave most of
    // the GPU idle, so r is split across groups into partials that a second pass combines in order.
    private void ReduceColumns<TOp>(TOp op, ArrayView<float> x, ArrayView<float> y, int outer, int r, int inner)
        where TOp : struct, IReduceOp
    {
        var kc = Kernel("reduce_cols", a =>
            a.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, TOp>(ReduceColumnsKernel));
        long tiles = (long)outer * ((inner + Warp32 - 1) / Warp32);
        long target = IsCuda ? Math.Max(1, MaxGroups / 4) : 4;
        int splits = tiles >= target ? 1 : (int)Math.Clamp(Math.Min(target / tiles, r / 64), 1, 1024);
        if (splits == 1) { kc(Stream, GroupsOf(tiles), x, y, outer, r, inner, 1, op); return; }
        var part = Allocate(DType.Float32, splits * outer * inner);
        try
        {
            var pv = View<float>(new Buf(part, 0, part.Length));
            kc(Stream, GroupsOf(tiles * splits), x, pv, outer, r, inner, splits, op);
            ReduceColumns(op, pv, y, 1, splits, outer * inner);
        }
        finally { part.Release(); }
    }

    private KernelConfig GroupsOf(long groups) => new((int)Math.Clamp(groups, 1, MaxGroups), GroupSize);

    private const int Warp32 = 32;

    // Two passes: a fixed number of groups (set by n alone) write partials, one group combines them.
    private void ReduceAll<TOp>(TOp op, ArrayView<float> x, ArrayView<float> y, int n) where TOp : struct, IReduceOp
    {
        var cfg = Launch1D(n);
        int groups = cfg.GridDim.X;
        var part = Allocate(DType.Float32, groups);
        try
        {
            var pv = View<float>(new Buf(part, 0, groups));
            var k1 = Kernel("reduce_partial", a =>
                a.LoadKernel<ArrayView<float>, ArrayView<float>, int, TOp>(ReducePartialKernel));
            k1(Stream, cfg, x, pv, n, op);
            k1(Stream, new KernelConfig(1, GroupSize), pv, y, groups, op);
        }
        finally { part.Release(); }
    }

    private static void ReducePartialKernel<TOp>(ArrayView<float> x, ArrayView<float> partial, int n, TOp op)
        where TOp : struct, IReduceOp
    {
        int stride = Grid.DimX * Group.DimX;
        int i = Grid.GlobalIndex.X;
        // Two accumulators keep two loads in flight per thread; the limit form avoids int overflow.
        float a0 = op.Identity(), a1 = op.Identity();
        for (int lim = n - stride; i < lim; i += 2 * stride)
        {
            a0 = op.Combine(a0, x[i]);
            a1 = op.Combine(a1, x[i + stride]);
        }
        if (i < n) a0 = op.Combine(a0, x[i]);
        float v = BlockReduce(op.Combine(a0, a1), op);
        if (Group.IdxX == 0) partial[Grid.IdxX] = v;
    }

    /// <summary>Combines one value per thread of the group; the result is valid in thread 0.</summary>
    internal static float BlockReduce<TOp>(float v, TOp op) where TOp : struct, IReduceOp
    {
        v = WarpReduce(v, op);
        var sh = SharedMemory.Allocate<float>(32);
        if (Warp.LaneIdx == 0) sh[Warp.WarpIdx] = v;
        Group.Barrier();
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        if (Warp.WarpIdx == 0)
        {
            v = Warp.LaneIdx < warps ? sh[Warp.LaneIdx] : op.Identity();
            v = WarpReduce(v, op);
        }
        return v;
    }

    /// <summary>Tree reduction across a warp; the result is valid in lane 0.</summary>
    internal static float WarpReduce<TOp>(float v, TOp op) where TOp : struct, IReduceOp
    {
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1) v = op.Combine(v, Warp.ShuffleDown(v, off));
        return v;
    }

    // One warp per contiguous row.
    private static void ReduceRowsKernel<TOp>(ArrayView<float> x, ArrayView<float> y, int rows, int r, TOp op)
        where TOp : struct, IReduceOp
    {
        int warpsTotal = Grid.DimX * Group.DimX / Warp.WarpSize;
        int lane = Warp.LaneIdx;
        for (int row = Grid.GlobalIndex.X / Warp.WarpSize; row < rows; row += warpsTotal)
        {
            float acc = op.Identity();
            int b = row * r;
            for (int j = lane; j < r; j += Warp.WarpSize) acc = op.Combine(acc, x[b + j]);
            acc = WarpReduce(acc, op);
            if (lane == 0) y[row] = acc;
        }
    }

    // One group per tile of 32 inner columns: the warp's lanes take adjacent columns (coalesced),
    // the group's warps split r, and warp 0 combines the warps' results in order.
    // With splits > 1, work item t covers rows [sp·chunk, (sp+1)·chunk) of one tile and writes
    // partials laid out (splits, outer, inner).
    private static void ReduceColumnsKernel<TOp>(
        ArrayView<float> x, ArrayView<float> y, int outer, int r, int inner, int splits, TOp op)
        where TOp : struct, IReduceOp
    {
        var sh = SharedMemory.Allocate<float>(256);
        int lane = Group.IdxX % 32, wy = Group.IdxX / 32, ny = Group.DimX / 32;
        int colTiles = (inner + 31) / 32, items = outer * colTiles * splits, chunk = (r + splits - 1) / splits;
        for (int t = Grid.IdxX; t < items; t += Grid.DimX)
        {
            int tile = t / splits, sp = t - tile * splits;
            int o = tile / colTiles, i = (tile - o * colTiles) * 32 + lane;
            int j0 = sp * chunk, j1 = j0 + chunk < r ? j0 + chunk : r;
            float acc = op.Identity();
            if (i < inner)
            {
                int b = o * r * inner + i;
                for (int j = j0 + wy; j < j1; j += ny) acc = op.Combine(acc, x[b + j * inner]);
            }
            sh[Group.IdxX] = acc;
            Group.Barrier();
            if (wy == 0 && i < inner)
            {
                float v = sh[lane];
                for (int w = 1; w < ny; w++) v = op.Combine(v, sh[w * 32 + lane]);
                y[(sp * outer + o) * inner + i] = v;
            }
            Group.Barrier();
        }
    }

    /// <inheritdoc/>
    public void ArgMax(Buf x, Buf y, int outer, int r, int inner)
    {
        CheckLen((long)outer * r * inner, x.Length, "argmax"); CheckLen((long)outer * inner, y.Length, "argmax");
        if (y.Length == 0) return;
        var k = Kernel("argmax", a => a.LoadKernel<ArrayView<float>, ArrayView<int>, int, int, int>(ArgMaxKernel));
        k(Stream, Launch1D(y.Length), View<float>(x), View<int>(y), outer, r, inner);
    }

    // First maximum; a NaN beats any number (as on the CPU backend).
    private static void ArgMaxKernel(ArrayView<float> x, ArrayView<int> y, int outer, int r, int inner)
    {
        int n = outer * inner, stride = Grid.DimX * Group.DimX;
        for (int oi = Grid.GlobalIndex.X; oi < n; oi += stride)
        {
            int o = oi / inner, i = oi - o * inner;
            int b = o * r * inner + i;
            float best = x[b]; int bi = 0;
            for (int j = 1; j < r; j++)
            {
                float v = x[b + j * inner];
#pragma warning disable CS1718 // v != v is the NaN test that compiles to one instruction in the kernel
                if (v > best || (v != v && best == best)) { best = v; bi = j; }
#pragma warning restore CS1718
            }
            y[oi] = bi;
        }
    }
}
