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
internal static unsafe partial class CpuGemm
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
        float* b, int ldb, float beta, float* c, int ldc) =>
        Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, null);

    /// <summary>
    /// <see cref="Sgemm(bool, bool, int, int, int, float, float*, int, float*, int, float, float*, int)"/> with op(A)
    /// already packed by <see cref="PackA"/> (null: pack it here). A caller that multiplies one A by many B (a
    /// convolution's weight by every sample's columns) packs it once; the result is the same to the bit.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc, float* packedA)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        int nr = NR;
        if (2 * n <= nr && m >= 2 * nr && packedA == null)
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
                        Packed = packedA == null ? null : packedA + (long)pc * PackedRows(m),
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

    // The compute tasks of one (jc, pc) panel: task t is row block t / NChunks, column chunk t % NChunks.
    private struct Tiles
    {
        public bool TransA;
        public float* A, BPanel, C, Packed; // Packed: this panel's row blocks as PackA laid them out, or null
        public int Lda, Pc, Kc, M, Jc, Nc, Slivers, NChunks, Ldc;
        public float Alpha, Beta;

        public readonly void Run(int t0, int t1)
        {
            int mr = MR, nr = NR;
            // PackA writes whole slivers; MC being a multiple of MR keeps them inside MC × KC.
            System.Diagnostics.Debug.Assert(MC % mr == 0);
            var block = Packed == null ? Buffer(ref _aBlock, MC * KC) : null;
            fixed (float* own = block)
            {
                int packedBlock = -1;
                float* ap = own;
                for (int t = t0; t < t1; t++)
                {
                    int ib = t / NChunks, chunk = t - ib * NChunks;
                    int i0 = ib * MC, mc = Math.Min(MC, M - i0);
                    if (Packed != null) ap = Packed + (long)i0 * Kc;
                    else if (ib != packedBlock)
                    {
                        PackBlock(TransA, A, Lda, Pc, Kc, i0, mc, ap);
                        packedBlock = ib;
                    }
                    int sFrom = (int)((long)Slivers * chunk / NChunks);
                    int sTo = (int)((long)Slivers * (chunk + 1) / NChunks);
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
    }

    /// <summary>Floats of op(A) (m × k) packed by <see cref="PackA"/>: k · (m rounded up to whole MC blocks).
    /// </summary>
    public static long PackedSize(int m, int k) => (long)k * PackedRows(m);

    private static int PackedRows(int m) => (m + MC - 1) / MC * MC;

    /// <summary>
    /// Packs all of op(A) (m × k; A stored k × m when <paramref name="transA"/>) for
    /// <see cref="Sgemm(bool, bool, int, int, int, float, float*, int, float*, int, float, float*, int, float*)"/>:
    /// per KC panel of depth [pc, pc + kc), its MC-row blocks in order, each as the GEMM packs it itself
    /// (panel at dst + pc · PackedRows(m), block i0 at + i0 · kc). Row blocks run in parallel.
    /// </summary>
    public static void PackA(bool transA, int m, int k, float* a, int lda, float* dst)
    {
        int rows = PackedRows(m), blocks = rows / MC;
        for (int pc = 0; pc < k; pc += KC)
        {
            var job = (TransA: transA, A: (nint)a, Lda: lda, Pc: pc, Kc: Math.Min(KC, k - pc), M: m,
                Dst: (nint)(dst + (long)pc * rows));
            CpuParallel.For(blocks, in job,
                static (in (bool TransA, nint A, int Lda, int Pc, int Kc, int M, nint Dst) j, int b0, int b1) =>
            {
                for (int b = b0; b < b1; b++)
                {
                    int i0 = b * MC;
                    PackBlock(j.TransA, (float*)j.A, j.Lda, j.Pc, j.Kc, i0, Math.Min(MC, j.M - i0),
                        (float*)j.Dst + (long)i0 * j.Kc);
                }
            }, 1);
        }
    }

    // Packs rows [i0, i0 + mc) × depth [pc, pc + kc) of op(A) into MR-row slivers: sliver r holds, for each p,
    // the MR values op(A)[i0 + r·MR + i, pc + p] (zero past m), at ap + r·MR·kc.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBlock(bool transA, float* a, int lda, int pc, int kc, int i0, int mc, float* ap)
    {
        int mr = MR;
        for (int ir = 0; ir < mc; ir += mr)
        {
            float* d = ap + (long)ir * kc;
            int h = Math.Min(mr, mc - ir);
            if (transA)
            {
                // op(A)[i, p] = A[p, i]: MR consecutive values of a row of A per p.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + i0 + ir;
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
                    for (; p + 8 <= kc; p += 8) Transpose8x8(a + (long)(i0 + ir) * lda + pc + p, lda, d + p * 8, 8);
                for (int i = 0; i < h; i++)
                {
                    float* src = a + (long)(i0 + ir + i) * lda + pc;
                    for (int q = p; q < kc; q++) d[q * mr + i] = src[q];
                }
                for (int i = h; i < mr; i++)
                    for (int q = p; q < kc; q++) d[q * mr + i] = 0f;
            }
        }
    }
}
