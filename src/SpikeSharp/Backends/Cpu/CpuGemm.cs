using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// SpikeSharp's own single-precision GEMM, the fallback when no BLAS library is found. The classic packed layout
/// (Goto/BLIS): for each (NC, KC) panel of op(B), the panel is packed once into column slivers of
/// <see cref="NR"/>; each task packs an (MC, KC) block of op(A) into row slivers of <see cref="MR"/> and runs the
/// register-blocked micro-kernel over its tiles. The micro-kernel keeps an MR × NR tile of C in vector registers:
/// 8 × 32 with AVX-512 (16 accumulators of 16 lanes), 6 × 16 with AVX2 (12 of 8), a scalar 4 × 4 elsewhere.
/// Packing handles both transpositions, so every variant runs the same kernel. Row-major throughout.
/// </summary>
internal static unsafe class CpuGemm
{
    private enum Isa { Avx512, Avx2, Scalar }

    private static readonly Isa Kind = Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? Isa.Avx512
        : Fma.IsSupported && Avx2.IsSupported ? Isa.Avx2 : Isa.Scalar;

    /// <summary>Rows of the register tile.</summary>
    internal static readonly int MR = Kind switch { Isa.Avx512 => 8, Isa.Avx2 => 6, _ => 4 };

    /// <summary>Columns of the register tile.</summary>
    internal static readonly int NR = Kind switch { Isa.Avx512 => 32, Isa.Avx2 => 16, _ => 4 };

    // KC: depth of a packed panel; a deep panel means fewer passes over C (each pass loads and stores every tile),
    // and the slivers streamed by a tile (8 × 512 of A, 512 × 32 of B: 16 + 64 KiB) come from L2 fast enough.
    // Measured on Zen 4 at 1024³ on one core: KC 256 → 81, 512 → 91, 1024 → 97 GFLOP/s of a 115 peak (the C
    // prefetch adds 5-8 %). MC: rows of a packed A block (MC × KC floats, 128 KiB, stays in L2). NC: columns of a
    // packed B panel (KC × NC floats, 4 MiB, stays in L3 and is shared by all threads).
    internal const int KC = 512, NC = 2048;

    /// <summary>Rows of a packed A block: 64, rounded up to whole register tiles.</summary>
    internal static readonly int MC = (64 + MR - 1) / MR * MR;

    /// <summary>A description of the kernel for <c>spikesharp info</c> and the benchmarks.</summary>
    internal static string Description => Kind switch
    {
        Isa.Avx512 => "AVX-512, 8×32 register tile",
        Isa.Avx2 => "AVX2+FMA, 6×16 register tile",
        _ => "scalar, 4×4 register tile",
    };

    [ThreadStatic] private static float[]? _aBlock;
    [ThreadStatic] private static float[]? _bPanel;

    /// <summary>
    /// C = alpha · op(A) · op(B) + beta · C with op(A) m × k, op(B) k × n, row-major with leading dimensions
    /// (A stored m × k, or k × m when <paramref name="transA"/>; likewise B). With beta = 0, C is not read.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        int nr = NR;
        if (2 * n <= nr && m >= 2 * nr)
        {
            // A narrow C (a few columns, many rows) would fill a fraction of each register tile: compute
            // Cᵀ = op(B)ᵀ·op(A)ᵀ, which is wide, into a scratch buffer and transpose it into C.
            var t = HostPool.Rent<float>(n * m);
            try
            {
                fixed (float* pt = t)
                {
                    Sgemm(!transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0f, pt, m);
                    for (int i = 0; i < m; i++)
                    {
                        float* ci = c + (long)i * ldc;
                        if (beta == 0f) for (int j = 0; j < n; j++) ci[j] = pt[(long)j * m + i];
                        else for (int j = 0; j < n; j++) ci[j] = pt[(long)j * m + i] + beta * ci[j];
                    }
                }
            }
            finally { HostPool.Return(t); }
            return;
        }
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            int slivers = (nc + nr - 1) / nr;
            var panel = Buffer(ref _bPanel, slivers * nr * KC);
            fixed (float* bp = panel)
            {
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    var pack = new PackB(transB, b, ldb, pc, kc, jc, nc, bp);
                    CpuParallel.For(slivers, in pack, static (in PackB s, int s0, int s1) => s.Run(s0, s1),
                        Math.Max(1, (1 << 16) / (kc * nr)));

                    // Tasks: (row block, column chunk) pairs, enough of them for every thread when m is small.
                    int mBlocks = (m + MC - 1) / MC;
                    int threads = Threads.Count;
                    int nChunks = Math.Clamp((3 * threads + mBlocks - 1) / mBlocks, 1, slivers);
                    if ((long)m * nc * kc < 1L << 16) nChunks = 1; // tiny: one task, on this thread
                    var tiles = new Tiles
                    {
                        TransA = transA, A = a, Lda = lda, Pc = pc, Kc = kc, M = m, Jc = jc, Nc = nc,
                        BPanel = bp, Slivers = slivers, NChunks = nChunks, C = c, Ldc = ldc, Alpha = alpha,
                        Beta = pc == 0 ? beta : 1f,
                    };
                    long flopsPerTask = 2L * Math.Min(m, MC) * kc * nc / nChunks;
                    CpuParallel.For(mBlocks * nChunks, in tiles, static (in Tiles t, int s0, int s1) => t.Run(s0, s1),
                        flopsPerTask >= 1 << 21 ? 1 : (int)Math.Max(1, (1L << 21) / Math.Max(1, flopsPerTask)));
                }
            }
        }
    }

    private static float[] Buffer(ref float[]? slot, int length)
    {
        if (slot == null || slot.Length < length) slot = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return slot;
    }

    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    // Packs slivers [s0, s1) of the KC × NC panel of op(B): sliver s holds, for each p, the NR values
    // op(B)[pc + p, jc + s·NR + j] (zero past n), NR·kc floats per sliver.
    private readonly struct PackB(bool trans, float* b, int ldb, int pc, int kc, int jc, int nc, float* dst)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int s0, int s1)
        {
            int nr = NR;
            for (int s = s0; s < s1; s++)
            {
                float* d = dst + (long)s * nr * kc;
                int j0 = jc + s * nr, w = Math.Min(nr, jc + nc - j0);
                if (!trans)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = b + (long)(pc + p) * ldb + j0;
                        float* o = d + p * nr;
                        if (w == nr) Copy(src, o, nr);
                        else
                        {
                            for (int j = 0; j < w; j++) o[j] = src[j];
                            for (int j = w; j < nr; j++) o[j] = 0f;
                        }
                    }
                }
                else
                {
                    // op(B)[p, j] = B[j, p]: rows of B become columns of the sliver, 8 × 8 blocks at a time.
                    int p = 0;
                    if (w == nr && nr % 8 == 0 && Avx.IsSupported)
                        for (; p + 8 <= kc; p += 8)
                            for (int jb = 0; jb < nr; jb += 8)
                                Transpose8x8(b + (long)(j0 + jb) * ldb + pc + p, ldb, d + p * nr + jb, nr);
                    for (int j = 0; j < w; j++)
                    {
                        float* src = b + (long)(j0 + j) * ldb + pc;
                        for (int q = p; q < kc; q++) d[q * nr + j] = src[q];
                    }
                    for (int j = w; j < nr; j++)
                        for (int q = p; q < kc; q++) d[q * nr + j] = 0f;
                }
            }
        }
    }

    // dst[c · dstStride + r] = src[r · srcStride + c] for an 8 × 8 block (unpack, shuffle, swap 128-bit halves).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride); var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride); var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride); var r7 = Avx.LoadVector256(src + 7 * srcStride);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    // The compute tasks of one (jc, pc) panel: task t is row block t / NChunks, column chunk t % NChunks.
    private struct Tiles
    {
        public bool TransA;
        public float* A, BPanel, C;
        public int Lda, Pc, Kc, M, Jc, Nc, Slivers, NChunks, Ldc;
        public float Alpha, Beta;

        public readonly void Run(int t0, int t1)
        {
            int mr = MR, nr = NR;
            // PackA writes whole slivers; MC being a multiple of MR keeps them inside MC × KC.
            System.Diagnostics.Debug.Assert(MC % mr == 0);
            var block = Buffer(ref _aBlock, MC * KC);
            fixed (float* ap = block)
            {
                int packedBlock = -1;
                for (int t = t0; t < t1; t++)
                {
                    int ib = t / NChunks, chunk = t - ib * NChunks;
                    int i0 = ib * MC, mc = Math.Min(MC, M - i0);
                    if (ib != packedBlock) { PackA(i0, mc, ap); packedBlock = ib; }
                    int sFrom = (int)((long)Slivers * chunk / NChunks), sTo = (int)((long)Slivers * (chunk + 1) / NChunks);
                    for (int s = sFrom; s < sTo; s++)
                    {
                        int j0 = Jc + s * nr, w = Math.Min(nr, Jc + Nc - j0);
                        float* bs = BPanel + (long)s * nr * Kc;
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int h = Math.Min(mr, mc - ir);
                            float* cs = C + (long)(i0 + ir) * Ldc + j0;
                            Tile(Kc, ap + (long)ir * Kc, bs, cs, Ldc, Alpha, Beta, h, w);
                        }
                    }
                }
            }
        }

        // Packs rows [i0, i0 + mc) × depth [Pc, Pc + Kc) of op(A) into MR-row slivers: sliver r holds, for each p,
        // the MR values op(A)[i0 + r·MR + i, Pc + p] (zero past m), at ap + r·MR·Kc.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackA(int i0, int mc, float* ap)
        {
            int mr = MR, kc = Kc;
            for (int ir = 0; ir < mc; ir += mr)
            {
                float* d = ap + (long)ir * kc;
                int h = Math.Min(mr, mc - ir);
                if (TransA)
                {
                    // op(A)[i, p] = A[p, i]: MR consecutive values of a row of A per p.
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = A + (long)(Pc + p) * Lda + i0 + ir;
                        float* o = d + p * mr;
                        for (int i = 0; i < h; i++) o[i] = src[i];
                        for (int i = h; i < mr; i++) o[i] = 0f;
                    }
                }
                else
                {
                    // Rows of A become the sliver's columns, 8 × 8 blocks at a time when the sliver is 8 rows.
                    int p = 0;
                    if (h == 8 && mr == 8 && Avx.IsSupported)
                        for (; p + 8 <= kc; p += 8) Transpose8x8(A + (long)(i0 + ir) * Lda + Pc + p, Lda, d + p * 8, 8);
                    for (int i = 0; i < h; i++)
                    {
                        float* src = A + (long)(i0 + ir + i) * Lda + Pc;
                        for (int q = p; q < kc; q++) d[q * mr + i] = src[q];
                    }
                    for (int i = h; i < mr; i++)
                        for (int q = p; q < kc; q++) d[q * mr + i] = 0f;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* src, float* dst, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(src + i), dst + i);
        for (; i + 8 <= count; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    // One MR × NR tile: full tiles store straight from the registers; edge tiles (h < MR or w < NR) go through a
    // small buffer so the kernel never writes outside C.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tier-0 pass: unoptimised vector code is ~10× slower
    private static void Tile(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int h, int w)
    {
        int mr = MR, nr = NR;
        if (h == mr && w == nr)
        {
            Kernel(kc, a, b, c, ldc, alpha, beta);
            return;
        }
        float* tmp = stackalloc float[8 * 32];
        Kernel(kc, a, b, tmp, nr, 1f, 0f);
        for (int i = 0; i < h; i++)
        {
            float* ci = c + (long)i * ldc; float* ti = tmp + i * nr;
            if (beta == 0f) for (int j = 0; j < w; j++) ci[j] = alpha * ti[j];
            else for (int j = 0; j < w; j++) ci[j] = alpha * ti[j] + beta * ci[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        if (Kind == Isa.Avx512) Kernel8x32(kc, a, b, c, ldc, alpha, beta);
        else if (Kind == Isa.Avx2) Kernel6x16(kc, a, b, c, ldc, alpha, beta);
        else Kernel4x4(kc, a, b, c, ldc, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        // The tile's rows of C are touched only at the end; start loading them now.
        for (int i = 0; i < 8; i++) { Sse.Prefetch0(c + (long)i * ldc); Sse.Prefetch0(c + (long)i * ldc + 16); }
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            a += 8; b += 32;
        }
        Store512(c, c00, c01, alpha, beta); Store512(c + ldc, c10, c11, alpha, beta);
        Store512(c + 2 * ldc, c20, c21, alpha, beta); Store512(c + 3 * ldc, c30, c31, alpha, beta);
        Store512(c + 4 * ldc, c40, c41, alpha, beta); Store512(c + 5 * ldc, c50, c51, alpha, beta);
        Store512(c + 6 * ldc, c60, c61, alpha, beta); Store512(c + 7 * ldc, c70, c71, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float alpha, float beta)
    {
        var al = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Vector512.Store(v0 * al, c); Vector512.Store(v1 * al, c + 16);
            return;
        }
        var be = Vector512.Create(beta);
        Vector512.Store(Avx512F.FusedMultiplyAdd(v0, al, Vector512.Load(c) * be), c);
        Vector512.Store(Avx512F.FusedMultiplyAdd(v1, al, Vector512.Load(c + 16) * be), c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6; b += 16;
        }
        Store256(c, c00, c01, alpha, beta); Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + 2 * ldc, c20, c21, alpha, beta); Store256(c + 3 * ldc, c30, c31, alpha, beta);
        Store256(c + 4 * ldc, c40, c41, alpha, beta); Store256(c + 5 * ldc, c50, c51, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, float alpha, float beta)
    {
        var al = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(v0 * al, c); Vector256.Store(v1 * al, c + 8);
            return;
        }
        var be = Vector256.Create(beta);
        Vector256.Store(Fma.MultiplyAdd(v0, al, Vector256.Load(c) * be), c);
        Vector256.Store(Fma.MultiplyAdd(v1, al, Vector256.Load(c + 8) * be), c + 8);
    }

    private static void Kernel4x4(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[16];
        for (int i = 0; i < 16; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++, a += 4, b += 4)
            for (int i = 0; i < 4; i++)
            {
                float ai = a[i];
                for (int j = 0; j < 4; j++) acc[i * 4 + j] += ai * b[j];
            }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                float* ci = c + (long)i * ldc + j;
                *ci = beta == 0f ? alpha * acc[i * 4 + j] : alpha * acc[i * 4 + j] + beta * *ci;
            }
    }
}
