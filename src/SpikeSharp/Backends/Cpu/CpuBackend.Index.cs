using System.Runtime.CompilerServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

// Strided gather, scatter and scatter-add (the index primitives, with their row-walk fast paths), argmax, index
// select/add and one-hot.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public void Gather(Buf x, StridedIndex ix, Buf y)
    {
        switch (x.DType)
        {
            case DType.Float32: GatherT<float>(x, ix, y); break;
            case DType.Int32: GatherT<int>(x, ix, y); break;
            case DType.UInt8: GatherT<byte>(x, ix, y); break;
            case DType.Float16: GatherT<Half>(x, ix, y); break;
        }
    }

    private static void GatherT<T>(Buf x, StridedIndex ix, Buf y) where T : unmanaged
    {
        x.Span<T>(); y.Span<T>();
        if (RowWalk(y.Length, ix, out int rowRun, out int rowStride, out int rowGrain))
        {
            var rk = (X: x.Array<T>(), Xo: x.Offset, Ix: ix, Y: y.Array<T>(), Yo: y.Offset, Run: rowRun, St: rowStride);
            For(y.Length / rowRun, in rk,
                static (in (T[] X, int Xo, StridedIndex Ix, T[] Y, int Yo, int Run, int St) k, int r0, int r1) =>
            {
                int run = k.Run, st = k.St;
                for (int r = r0; r < r1; r++)
                {
                    int off = k.Xo + k.Ix.Offset(r * run), dst = k.Yo + r * run;
                    if (st == 1) System.Array.Copy(k.X, off, k.Y, dst, run);
                    else for (int j = 0; j < run; j++) k.Y[dst + j] = k.X[off + j * st];
                }
            }, rowGrain);
            return;
        }
        var k = (X: x.Array<T>(), Xo: x.Offset, Ix: ix, Y: y.Array<T>(), Yo: y.Offset);
        For(y.Length, in k, static (in (T[] X, int Xo, StridedIndex Ix, T[] Y, int Yo) k, int s, int e) =>
        {
            for (int i = s; i < e; i++) k.Y[k.Yo + i] = k.X[k.Xo + k.Ix.Offset(i)];
        });
    }

    /// <inheritdoc/>
    public void Scatter(Buf x, Buf y, StridedIndex iy)
    {
        switch (x.DType)
        {
            case DType.Float32: ScatterT<float>(x, y, iy); break;
            case DType.Int32: ScatterT<int>(x, y, iy); break;
            case DType.UInt8: ScatterT<byte>(x, y, iy); break;
            case DType.Float16: ScatterT<Half>(x, y, iy); break;
        }
    }

    /// <inheritdoc/>
    public void ScatterAdd(Buf x, Buf y, StridedIndex iy)
    {
        x.F(); y.F();
        if (RowWalk(x.Length, iy, out int rowRun, out int rowStride, out int rowGrain))
        {
            var rk = (X: x.Array<float>(), Xo: x.Offset, Iy: iy, Y: y.Array<float>(), Yo: y.Offset, Run: rowRun,
                St: rowStride);
            For(x.Length / rowRun, in rk,
                static (in (float[] X, int Xo, StridedIndex Iy, float[] Y, int Yo, int Run, int St) k,
                    int r0, int r1) =>
            {
                int run = k.Run, st = k.St;
                for (int r = r0; r < r1; r++)
                {
                    int off = k.Yo + k.Iy.Offset(r * run), src = k.Xo + r * run;
                    if (st == 1)
                        System.Numerics.Tensors.TensorPrimitives.Add(k.Y.AsSpan(off, run), k.X.AsSpan(src, run),
                            k.Y.AsSpan(off, run));
                    else for (int j = 0; j < run; j++) k.Y[off + j * st] += k.X[src + j];
                }
            }, rowGrain);
            return;
        }
        var k = (X: x.Array<float>(), Xo: x.Offset, Iy: iy, Y: y.Array<float>(), Yo: y.Offset);
        For(x.Length, in k, static (in (float[] X, int Xo, StridedIndex Iy, float[] Y, int Yo) k, int s, int e) =>
        {
            for (int i = s; i < e; i++) k.Y[k.Yo + k.Iy.Offset(i)] += k.X[k.Xo + i];
        });
    }

    private static void ScatterT<T>(Buf x, Buf y, StridedIndex iy) where T : unmanaged
    {
        x.Span<T>(); y.Span<T>();
        if (RowWalk(x.Length, iy, out int rowRun, out int rowStride, out int rowGrain))
        {
            var rk = (X: x.Array<T>(), Xo: x.Offset, Iy: iy, Y: y.Array<T>(), Yo: y.Offset, Run: rowRun, St: rowStride);
            For(x.Length / rowRun, in rk,
                static (in (T[] X, int Xo, StridedIndex Iy, T[] Y, int Yo, int Run, int St) k, int r0, int r1) =>
            {
                int run = k.Run, st = k.St;
                for (int r = r0; r < r1; r++)
                {
                    int off = k.Yo + k.Iy.Offset(r * run), src = k.Xo + r * run;
                    if (st == 1) System.Array.Copy(k.X, src, k.Y, off, run);
                    else for (int j = 0; j < run; j++) k.Y[off + j * st] = k.X[src + j];
                }
            }, rowGrain);
            return;
        }
        var k = (X: x.Array<T>(), Xo: x.Offset, Iy: iy, Y: y.Array<T>(), Yo: y.Offset);
        For(x.Length, in k, static (in (T[] X, int Xo, StridedIndex Iy, T[] Y, int Yo) k, int s, int e) =>
        {
            for (int i = s; i < e; i++) k.Y[k.Yo + k.Iy.Offset(i)] = k.X[k.Xo + i];
        });
    }

    /// <summary>
    /// The longest run of flat indices the index maps to equally spaced offsets: the innermost dim, merged with the
    /// dims around it while they are laid out contiguously (stride of the outer = size × stride of the inner), so an
    /// image row of 28 in a (B, 1, 28, 28) tensor becomes one run of 784.
    /// </summary>
    internal static (int Run, int Stride) Rows(in StridedIndex ix)
    {
        if (ix.Rank == 0) return (1, 0);
        Span<int> d = stackalloc int[6] { ix.D0, ix.D1, ix.D2, ix.D3, ix.D4, ix.D5 };
        Span<int> st = stackalloc int[6] { ix.S0, ix.S1, ix.S2, ix.S3, ix.S4, ix.S5 };
        int i = ix.Rank - 1;
        long run = d[i];
        int stride = st[i];
        for (i--; i >= 0 && (long)st[i] == run * stride && run * d[i] <= int.MaxValue; i--) run *= d[i];
        return ((int)run, stride);
    }

    private static bool SameDims(in StridedIndex p, in StridedIndex q) =>
        p.Rank == q.Rank && p.D0 == q.D0 && p.D1 == q.D1 && p.D2 == q.D2 && p.D3 == q.D3 && p.D4 == q.D4
        && p.D5 == q.D5;

    /// <summary>
    /// Whether flat indices [0, n) can be walked in rows (see <see cref="Rows"/>; one index computation per row instead
    /// of one per element): rows of at least 8 that tile n. The grain is in rows.
    /// </summary>
    private static bool RowWalk(int n, in StridedIndex ix, out int run, out int stride, out int rowGrain)
    {
        (run, stride) = Rows(ix);
        rowGrain = Math.Max(1, Grain / Math.Max(1, run));
        return run >= 8 && n % run == 0;
    }

    /// <inheritdoc/>
    public void ArgMax(Buf x, Buf y, int outer, int r, int inner)
    {
        x.F(); y.I();
        For(outer * inner, (X: x.Array<float>(), Xo: x.Offset, Y: y.Array<int>(), Yo: y.Offset, R: r, Inner: inner),
            static (in (float[] X, int Xo, int[] Y, int Yo, int R, int Inner) k, int s, int e) =>
            {
                for (int oi = s; oi < e; oi++)
                {
                    int o = oi / k.Inner, i = oi - o * k.Inner;
                    int b = k.Xo + o * k.R * k.Inner + i;
                    float best = k.X[b]; int bi = 0;
                    for (int j = 1; j < k.R; j++)
                    {
                        float v = k.X[b + j * k.Inner];
                        if (v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; bi = j; }
                    }
                    k.Y[k.Yo + oi] = bi;
                }
            }, Math.Max(1, Grain / Math.Max(1, r)));
    }

    /// <inheritdoc/>
    public void IndexSelect(Buf x, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        var ids = idx.I();
        for (int j = 0; j < ids.Length; j++)
            if ((uint)ids[j] >= (uint)r)
                throw new IndexOutOfRangeException(
                    $"index_select: index {ids[j]} at position {j} is out of range [0, {r})");
        x.F(); y.F();
        For(outer * count,
            (X: x.Array<float>(), Xo: x.Offset, Y: y.Array<float>(), Yo: y.Offset, I: idx.Array<int>(), Io: idx.Offset,
            R: r, Count: count, Inner: inner),
            static (in (float[] X, int Xo, float[] Y, int Yo, int[] I, int Io, int R, int Count, int Inner) k,
                int s, int e) =>
            {
                for (int oj = s; oj < e; oj++)
                {
                    int o = oj / k.Count, j = oj - o * k.Count;
                    System.Array.Copy(k.X, k.Xo + (o * k.R + k.I[k.Io + j]) * k.Inner, k.Y, k.Yo + oj * k.Inner,
                        k.Inner);
                }
            }, Math.Max(1, Grain / Math.Max(1, inner)));
    }

    /// <inheritdoc/>
    public void IndexAdd(Buf g, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        var ids = idx.I(); var gs = g.F(); var ys = y.F();
        for (int j = 0; j < ids.Length; j++)
            if ((uint)ids[j] >= (uint)r)
                throw new IndexOutOfRangeException(
                    $"index_add: index {ids[j]} at position {j} is out of range [0, {r})");
        // Serial over the indices so duplicates accumulate without races.
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < count; j++)
            {
                var src = gs.Slice((o * count + j) * inner, inner);
                var dst = ys.Slice((o * r + ids[j]) * inner, inner);
                for (int i = 0; i < inner; i++) dst[i] += src[i];
            }
    }

    /// <inheritdoc/>
    public void OneHot(Buf idx, Buf y, int classes)
    {
        var ids = idx.I(); var ys = y.F();
        for (int j = 0; j < ids.Length; j++)
            if ((uint)ids[j] >= (uint)classes)
                throw new IndexOutOfRangeException(
                    $"one_hot: label {ids[j]} at position {j} is out of range [0, {classes})");
        ys.Clear();
        for (int j = 0; j < ids.Length; j++) ys[j * classes + ids[j]] = 1f;
    }
}
