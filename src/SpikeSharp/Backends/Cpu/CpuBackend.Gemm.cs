namespace SpikeSharp.Backends.Cpu;

/// <summary>Which implementation the CPU backend's matrix products use.</summary>
internal enum CpuGemmPath
{
    /// <summary>The BLAS library when one was found (<see cref="Blas.Instance"/>), else SpikeSharp's own
    /// GEMM.</summary>
    Auto,
    /// <summary>SpikeSharp's own GEMM (<see cref="CpuGemm"/>), even when a BLAS is present.</summary>
    Own,
}

public sealed partial class CpuBackend
{
    // Batched products whose items are smaller than this (m·n·k) run one item per thread, each item on one thread:
    // splitting a small product across threads costs more in packing and synchronisation than it gains.
    private const long SmallItem = 1L << 21;

    /// <summary>Which GEMM runs (tests and benchmarks switch to <see cref="CpuGemmPath.Own"/> to compare).</summary>
    internal static CpuGemmPath GemmPath { get; set; } = CpuGemmPath.Auto;

    /// <summary>
    /// Whether a BLAS product is split across SpikeSharp's threads, the library running single-threaded in each part
    /// (true), or handed whole to the library's own thread pool (false). Splitting keeps one set of threads: a
    /// library pool that spins between calls takes cores from the elementwise kernels around the products.
    /// </summary>
    internal static bool SplitBlas { get; set; } = true;

    /// <summary>The BLAS in use for matrix products, or null when SpikeSharp's own GEMM runs.</summary>
    internal static Blas? ActiveBlas => GemmPath == CpuGemmPath.Auto ? Blas.Instance : null;

    /// <summary>
    /// Where this backend's matrix products run: the BLAS library found (OpenBLAS, BLIS or MKL, see
    /// <c>SPIKESHARP_BLAS</c>), or SpikeSharp's own packed AVX-512/AVX2 GEMM; for <c>spikesharp info</c>.
    /// </summary>
    public static string GemmDescription => Blas.Describe();

    /// <inheritdoc/>
    public unsafe void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"gemm: sizes must not be negative, got m={m}, n={n}, k={k}");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "gemm: batch must be at least 1");
        a.F(); b.F(); c.F();
        CheckOperand("a", a, batch, strideA, m, k);
        CheckOperand("b", b, batch, strideB, k, n);
        CheckOperand("c", c, batch, strideC, m, n);
        if (m == 0 || n == 0) return;
        int lda = Math.Max(1, transA ? m : k), ldb = Math.Max(1, transB ? k : n), ldc = n;
        fixed (float* pa = a.Array<float>(), pb = b.Array<float>(), pc = c.Array<float>())
        {
            var job = new GemmJob
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = pa + a.Offset, B = pb + b.Offset, C = pc + c.Offset, Lda = lda, Ldb = ldb, Ldc = ldc,
                StrideA = strideA, StrideB = strideB, StrideC = strideC, Blas = ActiveBlas, Split = SplitBlas,
            };
            // Items that write distinct C in parallel when they are small; a shared C (stride 0) keeps the order.
            if (batch > 1 && strideC != 0 && (long)m * n * k < SmallItem)
            {
                job.Blas = null; // one thread per item: the own kernel, no library thread pool in the way
                CpuParallel.For(batch, in job,
                    static (in GemmJob j, int s, int e) => { for (int i = s; i < e; i++) j.Item(i); },
                    (int)Math.Clamp(SmallItem / Math.Max(1, (long)m * n * k), 1, batch));
            }
            else for (int i = 0; i < batch; i++) job.Item(i);
        }
    }

    private unsafe struct GemmJob
    {
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, StrideA, StrideB, StrideC;
        public float Alpha, Beta;
        public float* A, B, C;
        public Blas? Blas;
        public bool Split;

        public readonly void Item(int i)
        {
            float* a = A + (long)i * StrideA, b = B + (long)i * StrideB, c = C + (long)i * StrideC;
            if (Blas == null || K == 0)
            {
                CpuGemm.Sgemm(TransA, TransB, M, N, K, Alpha, a, Lda, b, Ldb, Beta, c, Ldc);
                return;
            }
            int threads = Threads.Count;
            if (!Split)
            {
                Blas.UseThreads(threads);
                Blas.Sgemm(TransA, TransB, M, N, K, Alpha, a, Lda, b, Ldb, Beta, c, Ldc);
                return;
            }
            Blas.UseThreads(1);
            // One part per thread, along the longer side of C, in multiples of 32 rows or columns.
            long work = (long)M * N * K;
            int parts = work < 1L << 18 ? 1 : Math.Min(threads, (Math.Max(M, N) + 31) / 32);
            var part = new BlasPart { Job = this, A = a, B = b, C = c, Parts = parts };
            CpuParallel.For(parts, in part,
                static (in BlasPart p, int s, int e) => { for (int j = s; j < e; j++) p.Run(j); }, 1);
        }
    }

    // Part j of a product split along rows of C (m ≥ n) or columns, each part one single-threaded BLAS call.
    private unsafe struct BlasPart
    {
        public GemmJob Job;
        public float* A, B, C;
        public int Parts;

        public readonly void Run(int j)
        {
            ref readonly var g = ref Job;
            bool rows = g.M >= g.N;
            int len = rows ? g.M : g.N;
            int from = Bound(j, len), to = Bound(j + 1, len);
            if (to <= from) return;
            if (rows)
            {
                float* a = g.TransA ? A + from : A + (long)from * g.Lda;
                g.Blas!.Sgemm(g.TransA, g.TransB, to - from, g.N, g.K, g.Alpha, a, g.Lda, B, g.Ldb, g.Beta,
                    C + (long)from * g.Ldc, g.Ldc);
            }
            else
            {
                float* b = g.TransB ? B + (long)from * g.Ldb : B + from;
                g.Blas!.Sgemm(g.TransA, g.TransB, g.M, to - from, g.K, g.Alpha, A, g.Lda, b, g.Ldb, g.Beta,
                    C + from, g.Ldc);
            }
        }

        private readonly int Bound(int j, int len) =>
            j == Parts ? len : Math.Min(len, (int)((long)len * j / Parts + 31) / 32 * 32);
    }

    // An operand of `batch` items `stride` apart, each rows × cols, must lie inside its buffer.
    private static void CheckOperand(string name, Buf x, int batch, int stride, int rows, int cols)
    {
        if (stride < 0) throw new ArgumentOutOfRangeException("stride" + char.ToUpperInvariant(name[0]), stride,
            $"gemm: the batch stride of {name} must not be negative");
        long item = (long)rows * cols;
        if (item == 0) return;
        long need = (long)(batch - 1) * stride + item;
        if (need > x.Length)
            throw new ArgumentException($"gemm: {name} needs {need} elements ({batch} item(s) of {rows}×{cols}, "
                + $"stride {stride}), its buffer has {x.Length}", name);
    }
}
