using System.Runtime.CompilerServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU backend: the specification every other backend is tested against. Kernels run as
/// Parallel.For over chunks of the flat index space, with the op struct inlined by the JIT.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>The process-wide instance.</summary>
    public static CpuBackend Instance { get; } = new();

    private CpuBackend() { }

    /// <inheritdoc/>
    public Device Device => Device.Cpu;

    /// <inheritdoc/>
    public TFamily? Family<TFamily>() where TFamily : class => CpuKernelFamilies.All.Get<TFamily>();

    /// <summary>Elements per parallel chunk: small launches stay on the calling thread.</summary>
    internal const int Grain = 1 << 15;

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, int length) => new CpuStorage(this, dtype, length);

    /// <inheritdoc/>
    public void Upload<T>(ReadOnlySpan<T> src, Buf dst) where T : unmanaged
    {
        CheckLen(src.Length, dst.Length, "upload");
        src.CopyTo(dst.Span<T>());
    }

    /// <inheritdoc/>
    public void Download<T>(Buf src, Span<T> dst) where T : unmanaged
    {
        CheckLen(src.Length, dst.Length, "download");
        src.Span<T>().CopyTo(dst);
    }

    /// <inheritdoc/>
    public void Copy(Buf src, Buf dst)
    {
        CheckLen(src.Length, dst.Length, "copy");
        var s = (CpuStorage)src.Storage; var d = (CpuStorage)dst.Storage;
        if (s.DType != d.DType) throw new ArgumentException($"copy: dtype {s.DType.Name()} to {d.DType.Name()}; use Cast");
        System.Array.Copy(s.Data, src.Offset, d.Data, dst.Offset, src.Length);
    }

    /// <inheritdoc/>
    public void Fill(Buf dst, float value)
    {
        switch (dst.DType)
        {
            case DType.Float32: dst.F().Fill(value); break;
            case DType.Int32: dst.I().Fill((int)value); break;
            case DType.UInt8: dst.Span<byte>().Fill((byte)value); break;
            case DType.Float16: dst.Span<Half>().Fill((Half)value); break;
        }
    }

    /// <inheritdoc/>
    public void Cast(Buf src, Buf dst)
    {
        CheckLen(src.Length, dst.Length, "cast");
        switch (src.DType, dst.DType)
        {
            case (DType.Float32, DType.Float16): { var s = src.F(); var d = dst.Span<Half>(); for (int i = 0; i < s.Length; i++) d[i] = (Half)s[i]; break; }
            case (DType.Float16, DType.Float32): { var s = src.Span<Half>(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = (float)s[i]; break; }
            case (DType.Float32, DType.Int32): { var s = src.F(); var d = dst.I(); for (int i = 0; i < s.Length; i++) d[i] = (int)s[i]; break; }
            case (DType.Int32, DType.Float32): { var s = src.I(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; break; }
            case (DType.UInt8, DType.Float32): { var s = src.Span<byte>(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; break; }
            case (DType.UInt8, DType.Int32): { var s = src.Span<byte>(); var d = dst.I(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; break; }
            default:
                if (src.DType == dst.DType) { Copy(src, dst); break; }
                throw new NotSupportedException($"cast from {src.DType.Name()} to {dst.DType.Name()} is not supported");
        }
    }

    /// <summary>Runs body(start, end) over [0, n) in chunks, in parallel when large.</summary>
    internal static void For(int n, Action<int, int> body, int grain = Grain)
    {
        if (n <= grain) { if (n > 0) body(0, n); return; }
        int chunks = (n + grain - 1) / grain;
        Parallel.For(0, chunks, c =>
        {
            int s = c * grain;
            body(s, Math.Min(n, s + grain));
        });
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IUnaryOp
    {
        CheckLen(x.Length, y.Length, "map");
        var xa = x.Array<float>(); var ya = y.Array<float>(); int xo = x.Offset, yo = y.Offset;
        x.F(); y.F();
        For(y.Length, (s, e) =>
        {
            if (TrySimd(op, xa.AsSpan(xo + s, e - s), ya.AsSpan(yo + s, e - s))) return;
            for (int i = s; i < e; i++) ya[yo + i] = op.Apply(xa[xo + i]);
        });
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf y) where TOp : struct, IBinaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map");
        a.F(); b.F(); y.F();
        var aa = a.Array<float>(); var ba = b.Array<float>(); var ya = y.Array<float>();
        int ao = a.Offset, bo = b.Offset, yo = y.Offset;
        For(y.Length, (s, e) =>
        {
            if (TrySimd<TOp>(aa.AsSpan(ao + s, e - s), ba.AsSpan(bo + s, e - s), ya.AsSpan(yo + s, e - s))) return;
            for (int i = s; i < e; i++) ya[yo + i] = op.Apply(aa[ao + i], ba[bo + i]);
        });
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf c, Buf y) where TOp : struct, ITernaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map"); CheckLen(c.Length, y.Length, "map");
        a.F(); b.F(); c.F(); y.F();
        var aa = a.Array<float>(); var ba = b.Array<float>(); var ca = c.Array<float>(); var ya = y.Array<float>();
        int ao = a.Offset, bo = b.Offset, co = c.Offset, yo = y.Offset;
        For(y.Length, (s, e) => { for (int i = s; i < e; i++) ya[yo + i] = op.Apply(aa[ao + i], ba[bo + i], ca[co + i]); });
    }

    /// <inheritdoc/>
    public void MapIndexed<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IIndexedOp
    {
        CheckLen(x.Length, y.Length, "map");
        x.F(); y.F();
        var xa = x.Array<float>(); var ya = y.Array<float>(); int xo = x.Offset, yo = y.Offset;
        For(y.Length, (s, e) => { for (int i = s; i < e; i++) ya[yo + i] = op.Apply(i, xa[xo + i]); });
    }

    /// <inheritdoc/>
    public void MapBroadcast<TOp>(TOp op, Buf a, StridedIndex ia, Buf b, StridedIndex ib, Buf y) where TOp : struct, IBinaryOp
    {
        a.F(); b.F(); y.F();
        var aa = a.Array<float>(); var ba = b.Array<float>(); var ya = y.Array<float>();
        int ao = a.Offset, bo = b.Offset, yo = y.Offset;
        For(y.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) ya[yo + i] = op.Apply(aa[ao + ia.Offset(i)], ba[bo + ib.Offset(i)]);
        });
    }

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
        var xa = x.Array<T>(); var ya = y.Array<T>(); int xo = x.Offset, yo = y.Offset;
        if (ForRows(y.Length, ix, (r, off, run, st) =>
            {
                if (st == 1) System.Array.Copy(xa, xo + off, ya, yo + r, run);
                else for (int j = 0; j < run; j++) ya[yo + r + j] = xa[xo + off + j * st];
            })) return;
        For(y.Length, (s, e) => { for (int i = s; i < e; i++) ya[yo + i] = xa[xo + ix.Offset(i)]; });
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
        var xa = x.Array<float>(); var ya = y.Array<float>(); int xo = x.Offset, yo = y.Offset;
        if (ForRows(x.Length, iy, (r, off, run, st) => { for (int j = 0; j < run; j++) ya[yo + off + j * st] += xa[xo + r + j]; })) return;
        For(x.Length, (s, e) => { for (int i = s; i < e; i++) ya[yo + iy.Offset(i)] += xa[xo + i]; });
    }

    private static void ScatterT<T>(Buf x, Buf y, StridedIndex iy) where T : unmanaged
    {
        x.Span<T>(); y.Span<T>();
        var xa = x.Array<T>(); var ya = y.Array<T>(); int xo = x.Offset, yo = y.Offset;
        if (ForRows(x.Length, iy, (r, off, run, st) => { for (int j = 0; j < run; j++) ya[yo + off + j * st] = xa[xo + r + j]; })) return;
        For(x.Length, (s, e) => { for (int i = s; i < e; i++) ya[yo + iy.Offset(i)] = xa[xo + i]; });
    }

    /// <summary>
    /// Walks flat indices [0, n) in rows of the index's innermost dim, calling body(rowStart, offset, run, stride)
    /// with one index computation per row instead of one per element. False (nothing done) for short rows.
    /// </summary>
    private static bool ForRows(int n, StridedIndex ix, Action<int, int, int, int> body)
    {
        var (run, st) = ix.Inner();
        if (run < 8 || n % run != 0) return false;
        For(n / run, (s, e) => { for (int r = s; r < e; r++) body(r * run, ix.Offset(r * run), run, st); }, Math.Max(1, Grain / run));
        return true;
    }

    /// <inheritdoc/>
    public void Reduce<TOp>(TOp op, Buf x, Buf y, int outer, int r, int inner) where TOp : struct, IReduceOp
    {
        CheckLen((long)outer * r * inner, x.Length, "reduce"); CheckLen((long)outer * inner, y.Length, "reduce");
        var xa = x.Array<float>(); var ya = y.Array<float>(); int xo = x.Offset, yo = y.Offset;
        x.F(); y.F();
        if (outer * inner == 1)
        {
            // Full reduction: partial results per chunk, combined in chunk order (deterministic).
            int chunks = Math.Max(1, (r + Grain - 1) / Grain);
            var part = new float[chunks];
            Parallel.For(0, chunks, c =>
            {
                int s = c * Grain, e = Math.Min(r, s + Grain);
                if (typeof(TOp) == typeof(SumOp)) { part[c] = System.Numerics.Tensors.TensorPrimitives.Sum<float>(xa.AsSpan(xo + s, e - s)); return; }
                float acc = op.Identity();
                for (int j = s; j < e; j++) acc = op.Combine(acc, xa[xo + j]);
                part[c] = acc;
            });
            float tot = op.Identity();
            foreach (var p in part) tot = op.Combine(tot, p);
            ya[yo] = tot;
            return;
        }
        int rows = outer;
        For(outer * inner, (s, e) =>
        {
            for (int oi = s; oi < e; oi++)
            {
                int o = oi / inner, i = oi - o * inner;
                int b = xo + o * r * inner + i;
                float acc = op.Identity();
                for (int j = 0; j < r; j++) acc = op.Combine(acc, xa[b + j * inner]);
                ya[yo + oi] = acc;
            }
        }, Math.Max(1, Grain / Math.Max(1, r)));
        _ = rows;
    }

    /// <inheritdoc/>
    public void ArgMax(Buf x, Buf y, int outer, int r, int inner)
    {
        var xs = x.Array<float>(); var ys = y.Array<int>(); int xo = x.Offset, yo = y.Offset;
        x.F(); y.I();
        For(outer * inner, (s, e) =>
        {
            for (int oi = s; oi < e; oi++)
            {
                int o = oi / inner, i = oi - o * inner;
                int b = xo + o * r * inner + i;
                float best = xs[b]; int bi = 0;
                for (int j = 1; j < r; j++)
                {
                    float v = xs[b + j * inner];
                    if (v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; bi = j; }
                }
                ys[yo + oi] = bi;
            }
        }, Math.Max(1, Grain / Math.Max(1, r)));
    }

    /// <inheritdoc/>
    public void IndexSelect(Buf x, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        var ids = idx.I();
        for (int j = 0; j < ids.Length; j++)
            if ((uint)ids[j] >= (uint)r) throw new IndexOutOfRangeException($"index_select: index {ids[j]} at position {j} is out of range [0, {r})");
        var xs = x.Array<float>(); var ys = y.Array<float>(); var ia = idx.Array<int>();
        int xo = x.Offset, yo = y.Offset, io = idx.Offset;
        x.F(); y.F();
        For(outer * count, (s, e) =>
        {
            for (int oj = s; oj < e; oj++)
            {
                int o = oj / count, j = oj - o * count;
                System.Array.Copy(xs, xo + (o * r + ia[io + j]) * inner, ys, yo + oj * inner, inner);
            }
        }, Math.Max(1, Grain / Math.Max(1, inner)));
    }

    /// <inheritdoc/>
    public void IndexAdd(Buf g, Buf idx, Buf y, int outer, int r, int count, int inner)
    {
        var ids = idx.I(); var gs = g.F(); var ys = y.F();
        for (int j = 0; j < ids.Length; j++)
            if ((uint)ids[j] >= (uint)r) throw new IndexOutOfRangeException($"index_add: index {ids[j]} at position {j} is out of range [0, {r})");
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
            if ((uint)ids[j] >= (uint)classes) throw new IndexOutOfRangeException($"one_hot: label {ids[j]} at position {j} is out of range [0, {classes})");
        ys.Clear();
        for (int j = 0; j < ids.Length; j++) ys[j * classes + ids[j]] = 1f;
    }

    /// <inheritdoc/>
    public void Synchronize() { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CheckLen(long a, long b, string op)
    {
        if (a != b) throw new ArgumentException($"{op}: length mismatch ({a} vs {b} elements)");
    }
}
