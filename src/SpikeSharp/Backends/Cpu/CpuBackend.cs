using System.Runtime.CompilerServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU backend: the specification every other backend is tested against. Kernels run one parallel loop each
/// over chunks of the flat index space (<see cref="CpuParallel"/>, <see cref="Threads.Count"/> threads, small work on
/// the calling thread), with the op struct inlined by the JIT; memory comes from a caching allocator.
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
    public Storage Allocate(DType dtype, int length)
    {
        if (length < 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "allocate: length must not be negative");
        return new CpuStorage(this, dtype, length);
    }

    /// <summary>Bytes of host memory held by live CPU tensors (rounded to the allocator's buckets).</summary>
    public long AllocatedBytes => HostPool.LiveBytes;

    /// <summary>Bytes of freed host memory kept for reuse (see <see cref="EmptyCache"/>).</summary>
    public long CachedBytes => HostPool.CachedBytes;

    /// <summary>Highest <see cref="AllocatedBytes"/> seen.</summary>
    public long PeakBytes => HostPool.PeakBytes;

    /// <summary>
    /// Hands the cached host memory to the garbage collector (like <c>torch.cuda.empty_cache</c>); tensors in use
    /// are not affected. The cache is otherwise bounded to a quarter of the memory available to the process.
    /// </summary>
    public void EmptyCache() => HostPool.EmptyCache();

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
        if (s.DType != d.DType)
            throw new ArgumentException($"copy: dtype {s.DType.Name()} to {d.DType.Name()}; use Cast");
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
            case (DType.Float32, DType.Float16):
                { var s = src.F(); var d = dst.Span<Half>(); for (int i = 0; i < s.Length; i++) d[i] = (Half)s[i]; }
                break;
            case (DType.Float16, DType.Float32):
                { var s = src.Span<Half>(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = (float)s[i]; }
                break;
            case (DType.Float32, DType.Int32):
                { var s = src.F(); var d = dst.I(); for (int i = 0; i < s.Length; i++) d[i] = (int)s[i]; }
                break;
            case (DType.Int32, DType.Float32):
                { var s = src.I(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; }
                break;
            case (DType.UInt8, DType.Float32):
                { var s = src.Span<byte>(); var d = dst.F(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; }
                break;
            case (DType.UInt8, DType.Int32):
                { var s = src.Span<byte>(); var d = dst.I(); for (int i = 0; i < s.Length; i++) d[i] = s[i]; }
                break;
            default:
                if (src.DType == dst.DType) { Copy(src, dst); break; }
                throw new NotSupportedException($"cast from {src.DType.Name()} to {dst.DType.Name()} is not supported");
        }
    }

    /// <summary>
    /// Runs body(start, end) over [0, n) in chunks of at least <paramref name="grain"/>, on <see cref="Threads.Count"/>
    /// threads when there is more than one grain of work (allocates the closure; kernels here pass their state
    /// to the static-lambda overload instead).
    /// </summary>
    internal static void For(int n, Action<int, int> body, int grain = Grain) => CpuParallel.For(n, body, grain);

    /// <summary>The non-allocating loop: body(state, start, end) with a static lambda (see
    /// <see cref="CpuParallel"/>).</summary>
    internal static void For<TState>(int n, in TState state, RangeBody<TState> body, int grain = Grain) =>
        CpuParallel.For(n, in state, body, grain);

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IUnaryOp
    {
        CheckLen(x.Length, y.Length, "map");
        x.F(); y.F();
        For(y.Length, (op, X: x.Array<float>(), Xo: x.Offset, Y: y.Array<float>(), Yo: y.Offset),
            static (in (TOp Op, float[] X, int Xo, float[] Y, int Yo) k, int s, int e) =>
            {
                if (TrySimd(k.Op, k.X.AsSpan(k.Xo + s, e - s), k.Y.AsSpan(k.Yo + s, e - s))) return;
                var op = k.Op; float[] xa = k.X, ya = k.Y; int xo = k.Xo, yo = k.Yo;
                for (int i = s; i < e; i++) ya[yo + i] = op.Apply(xa[xo + i]);
            });
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf y) where TOp : struct, IBinaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map");
        a.F(); b.F(); y.F();
        For(y.Length, (op, A: a.Array<float>(), Ao: a.Offset, B: b.Array<float>(), Bo: b.Offset,
                Y: y.Array<float>(), Yo: y.Offset),
            static (in (TOp Op, float[] A, int Ao, float[] B, int Bo, float[] Y, int Yo) k, int s, int e) =>
            {
                if (TrySimd<TOp>(k.A.AsSpan(k.Ao + s, e - s), k.B.AsSpan(k.Bo + s, e - s),
                        k.Y.AsSpan(k.Yo + s, e - s)))
                    return;
                var op = k.Op; float[] aa = k.A, ba = k.B, ya = k.Y; int ao = k.Ao, bo = k.Bo, yo = k.Yo;
                for (int i = s; i < e; i++) ya[yo + i] = op.Apply(aa[ao + i], ba[bo + i]);
            });
    }

    /// <inheritdoc/>
    public void Map<TOp>(TOp op, Buf a, Buf b, Buf c, Buf y) where TOp : struct, ITernaryOp
    {
        CheckLen(a.Length, y.Length, "map"); CheckLen(b.Length, y.Length, "map"); CheckLen(c.Length, y.Length, "map");
        a.F(); b.F(); c.F(); y.F();
        For(y.Length, (op, a, b, c, y), static (in (TOp Op, Buf A, Buf B, Buf C, Buf Y) k, int s, int e) =>
        {
            var op = k.Op;
            float[] aa = k.A.Array<float>(), ba = k.B.Array<float>(), ca = k.C.Array<float>(), ya = k.Y.Array<float>();
            int ao = k.A.Offset, bo = k.B.Offset, co = k.C.Offset, yo = k.Y.Offset;
            if (TrySimd(op, aa.AsSpan(ao + s, e - s), ba.AsSpan(bo + s, e - s), ca.AsSpan(co + s, e - s),
                    ya.AsSpan(yo + s, e - s)))
                return;
            for (int i = s; i < e; i++) ya[yo + i] = op.Apply(aa[ao + i], ba[bo + i], ca[co + i]);
        });
    }

    /// <inheritdoc/>
    public void MapIndexed<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IIndexedOp
    {
        CheckLen(x.Length, y.Length, "map");
        x.F(); y.F();
        For(y.Length, (op, X: x.Array<float>(), Xo: x.Offset, Y: y.Array<float>(), Yo: y.Offset),
            static (in (TOp Op, float[] X, int Xo, float[] Y, int Yo) k, int s, int e) =>
            {
                var op = k.Op; float[] xa = k.X, ya = k.Y; int xo = k.Xo, yo = k.Yo;
                for (int i = s; i < e; i++) ya[yo + i] = op.Apply(i, xa[xo + i]);
            });
    }

    /// <inheritdoc/>
    public void MapBroadcast<TOp>(TOp op, Buf a, StridedIndex ia, Buf b, StridedIndex ib, Buf y)
        where TOp : struct, IBinaryOp
    {
        a.F(); b.F(); y.F();
        var (runA, sa) = Rows(ia);
        var (runB, sb) = Rows(ib);
        // Both indices describe y's shape, so each run is a product of y's trailing dims and the shorter divides the
        // longer: rows of the shorter are evenly spaced in both inputs.
        int run = Math.Min(runA, runB);
        var k = new BroadcastMap<TOp>(op, a, ia, sa, b, ib, sb, y, run);
        if (run >= 8 && SameDims(ia, ib) && y.Length % run == 0)
        {
            // One index computation per row, and SIMD when both strides are 0 or 1.
            For(y.Length / run, in k, static (in BroadcastMap<TOp> k, int s, int e) => k.Rows(s, e),
                Math.Max(1, Grain / run));
            return;
        }
        For(y.Length, in k, static (in BroadcastMap<TOp> k, int s, int e) => k.Elements(s, e));
    }

    private readonly struct BroadcastMap<TOp>(TOp op, Buf a, StridedIndex ia, int sa, Buf b, StridedIndex ib, int sb,
        Buf y, int run) where TOp : struct, IBinaryOp
    {
        private readonly float[] _a = a.Array<float>(), _b = b.Array<float>(), _y = y.Array<float>();
        private readonly int _ao = a.Offset, _bo = b.Offset, _yo = y.Offset;

        public void Elements(int s, int e)
        {
            for (int i = s; i < e; i++) _y[_yo + i] = op.Apply(_a[_ao + ia.Offset(i)], _b[_bo + ib.Offset(i)]);
        }

        public void Rows(int r0, int r1)
        {
            for (int r = r0; r < r1; r++)
            {
                int i0 = r * run, pa = _ao + ia.Offset(i0), pb = _bo + ib.Offset(i0);
                var yr = _y.AsSpan(_yo + i0, run);
                if (sa <= 1 && sb <= 1 && TrySimdBroadcast<TOp>(_a, pa, sa, _b, pb, sb, yr)) continue;
                for (int j = 0; j < run; j++) yr[j] = op.Apply(_a[pa + j * sa], _b[pb + j * sb]);
            }
        }
    }

    /// <inheritdoc/>
    public void Reduce<TOp>(TOp op, Buf x, Buf y, int outer, int r, int inner) where TOp : struct, IReduceOp
    {
        CheckLen((long)outer * r * inner, x.Length, "reduce"); CheckLen((long)outer * inner, y.Length, "reduce");
        x.F(); y.F();
        var k = (op, X: x.Array<float>(), Xo: x.Offset, Y: y.Array<float>(), Yo: y.Offset, Outer: outer, R: r,
            Inner: inner);
        if (outer * inner == 1)
        {
            // Full reduction: partial results per fixed chunk of Grain, combined in chunk order, so the result does
            // not depend on the thread count.
            int chunks = Math.Max(1, (r + Grain - 1) / Grain);
            if (chunks == 1) { y.F()[0] = ReduceRange(op, k.X, k.Xo, r); return; }
            var part = HostPool.Rent<float>(chunks);
            try
            {
                For(chunks, (k, Part: part),
                    static (in ((TOp Op, float[] X, int Xo, float[] Y, int Yo, int Outer, int R, int Inner) K,
                        float[] Part) p, int c0, int c1) =>
                {
                    for (int c = c0; c < c1; c++)
                    {
                        int s = c * Grain, e = Math.Min(p.K.R, s + Grain);
                        p.Part[c] = ReduceRange(p.K.Op, p.K.X, p.K.Xo + s, e - s);
                    }
                }, 1);
                float tot = op.Identity();
                for (int c = 0; c < chunks; c++) tot = op.Combine(tot, part[c]);
                y.F()[0] = tot;
            }
            finally { HostPool.Return(part); }
            return;
        }
        if (inner == 1)
        {
            // Rows reduce along contiguous memory.
            For(outer, in k,
                static (in (TOp Op, float[] X, int Xo, float[] Y, int Yo, int Outer, int R, int Inner) k,
                    int s, int e) =>
            {
                for (int o = s; o < e; o++) k.Y[k.Yo + o] = ReduceRange(k.Op, k.X, k.Xo + o * k.R, k.R);
            }, Math.Max(1, Grain / Math.Max(1, r)));
            return;
        }
        // Reduce over a middle dim: accumulate whole rows of `inner` elements (contiguous, vectorised for sums) into
        // the output, j ascending as in the element-wise definition. Parallel over outer, or over inner when outer
        // is 1.
        if (outer >= Threads.Count || (long)r * inner < 2 * Grain)
        {
            For(outer, in k,
                static (in (TOp Op, float[] X, int Xo, float[] Y, int Yo, int Outer, int R, int Inner) k,
                    int s, int e) =>
            {
                for (int o = s; o < e; o++)
                    ReduceColumns(k.Op, k.X, k.Xo + o * k.R * k.Inner, k.R, k.Inner,
                        k.Y.AsSpan(k.Yo + o * k.Inner, k.Inner), k.Inner);
            }, Math.Max(1, Grain / Math.Max(1, r * inner)));
            return;
        }
        For(outer * inner, in k,
            static (in (TOp Op, float[] X, int Xo, float[] Y, int Yo, int Outer, int R, int Inner) k, int s, int e) =>
        {
            // [s, e) is a flat range of outputs; split it at row boundaries of `inner`.
            while (s < e)
            {
                int o = s / k.Inner, i = s - o * k.Inner, len = Math.Min(e - s, k.Inner - i);
                ReduceColumns(k.Op, k.X, k.Xo + o * k.R * k.Inner + i, k.R, k.Inner, k.Y.AsSpan(k.Yo + s, len), len);
                s += len;
            }
        }, Math.Max(16, Grain / Math.Max(1, r)));
    }

    // Reduces x[xo .. xo + count) in order (sums vectorised).
    private static float ReduceRange<TOp>(TOp op, float[] x, int xo, int count) where TOp : struct, IReduceOp
    {
        if (typeof(TOp) == typeof(SumOp))
            return System.Numerics.Tensors.TensorPrimitives.Sum<float>(x.AsSpan(xo, count));
        float acc = op.Identity();
        for (int j = 0; j < count; j++) acc = op.Combine(acc, x[xo + j]);
        return acc;
    }

    // y[i] = reduce over j < r of x[xo + j·stride + i], for i < width: row by row, each row contiguous.
    private static void ReduceColumns<TOp>(TOp op, float[] x, int xo, int r, int stride, Span<float> y, int width)
        where TOp : struct, IReduceOp
    {
        y.Fill(op.Identity());
        for (int j = 0; j < r; j++)
        {
            var row = x.AsSpan(xo + j * stride, width);
            if (typeof(TOp) == typeof(SumOp)) System.Numerics.Tensors.TensorPrimitives.Add(y, row, y);
            else for (int i = 0; i < width; i++) y[i] = op.Combine(y[i], row[i]);
        }
    }

    /// <inheritdoc/>
    public void Synchronize() { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CheckLen(long a, long b, string op)
    {
        if (a != b) throw new ArgumentException($"{op}: length mismatch ({a} vs {b} elements)");
    }
}
