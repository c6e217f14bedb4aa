using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// The CPU GEMMs against a float64 triple loop: SpikeSharp's own packed kernel and the BLAS binding, every
/// transposition, odd shapes (edge tiles in both directions, K = 1, K spanning several packed panels), alpha/beta,
/// leading dimensions wider than the matrix, and the backend's batched and strided forms.
/// </summary>
public unsafe class CpuGemmTests
{
    // m, n, k: 1 and 7 (smaller than a tile), 33 and 129 (a tile plus one), non-square, K = 1, K > the panel depth.
    public static readonly TheoryData<int, int, int> Shapes = new()
    {
        { 1, 1, 1 }, { 1, 7, 33 }, { 7, 1, 33 }, { 7, 33, 1 }, { 33, 33, 33 }, { 129, 7, 33 }, { 7, 129, 129 },
        { 33, 129, 7 }, { 129, 129, 129 }, { 65, 200, 3 }, { 17, 40, 1300 }, { 300, 70, 1 },
    };

    /// <summary>C = alpha · op(A) · op(B) + beta · C in float64, with A stored (m × k) or (k × m) and row stride lda.</summary>
    internal static float[] Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda,
        float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var y = (float[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                y[i * ldc + j] = beta == 0f ? (float)(alpha * s) : (float)(alpha * s + beta * (double)c[i * ldc + j]);
            }
        return y;
    }

    private delegate void SgemmFn(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc);

    // Runs one product through fn and checks it against the reference. pad widens every leading dimension.
    private static void Check(SgemmFn fn, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad, string what)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = RandF((ta ? k : m) * lda, 1 + m);
        var b = RandF((tb ? n : k) * ldb, 2 + n);
        // beta = 0 must not read C: fill it with NaN, which would show in every output.
        var c = beta == 0f ? Enumerable.Repeat(float.NaN, m * ldc).ToArray() : RandF(m * ldc, 3 + k);
        var want = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        var got = (float[])c.Clone();
        fixed (float* pa = a, pb = b, pc = got) fn(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                int at = i * ldc + j;
                if (j >= n)
                {
                    // Padding columns of C are not part of the product and must be untouched.
                    Assert.True(c[at].Equals(got[at]), $"{what}: wrote padding C[{i},{j}]");
                    continue;
                }
                float e = want[at], g = got[at];
                float tol = 2e-5f * (float)Math.Sqrt(k) * Math.Max(1f, Math.Abs(e));
                Assert.True(Math.Abs(e - g) <= tol,
                    $"{what} ta={ta} tb={tb} {m}×{n}×{k} alpha={alpha} beta={beta}: C[{i},{j}] = {g}, expected {e}");
            }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OwnGemmMatchesTheReferenceInEveryTransposition(int m, int n, int k)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            Check(CpuGemm.Sgemm, ta, tb, m, n, k, 1f, 0f, 0, "own");
            Check(CpuGemm.Sgemm, ta, tb, m, n, k, -0.5f, 1.5f, 3, "own");
        }
    }

    [Fact]
    public void OwnGemmHandlesBetaOnlyCases()
    {
        // k = 0 or alpha = 0: C = beta · C, and beta = 0 clears C even when it held NaN.
        Check(CpuGemm.Sgemm, false, false, 9, 40, 0, 1f, 0.25f, 2, "own k=0");
        Check(CpuGemm.Sgemm, false, false, 9, 40, 0, 1f, 0f, 2, "own k=0");
        Check(CpuGemm.Sgemm, true, true, 9, 40, 5, 0f, 2f, 0, "own alpha=0");
        Check(CpuGemm.Sgemm, true, true, 9, 40, 5, 0f, 0f, 0, "own alpha=0");
    }

    [Fact]
    public void OwnGemmOfALargeProductMatchesAndDoesNotDependOnTheThreadCount()
    {
        // Several row blocks, column panels and depth panels; each element is summed in the same order whatever the
        // thread count, so the results are bitwise equal.
        int m = 300, n = 2100, k = 1100;
        var a = RandF(m * k, 11); var b = RandF(k * n, 12);
        var c1 = new float[m * n]; var c2 = new float[m * n];
        int saved = Threads.Count;
        try
        {
            fixed (float* pa = a, pb = b, pc1 = c1, pc2 = c2)
            {
                Threads.Count = 1;
                CpuGemm.Sgemm(false, true, m, n, k, 1f, pa, k, pb, k, 0f, pc1, n);
                Threads.Count = Threads.MaxCount;
                CpuGemm.Sgemm(false, true, m, n, k, 1f, pa, k, pb, k, 0f, pc2, n);
            }
        }
        finally { Threads.Count = saved; }
        Assert.Equal(c1, c2);
        var rnd = new Random(5);
        for (int s = 0; s < 64; s++)
        {
            int i = rnd.Next(m), j = rnd.Next(n);
            double e = 0;
            for (int p = 0; p < k; p++) e += (double)a[i * k + p] * b[j * k + p];
            Assert.True(Math.Abs(e - c1[i * n + j]) <= 1e-3 * Math.Max(1, Math.Abs(e)), $"C[{i},{j}] = {c1[i * n + j]}, expected {e}");
        }
    }

    [Theory]
    [InlineData(false, false, 128, 196, 1152)] // a conv's forward: W (O, K) · columns (K, L), three depth panels
    [InlineData(true, false, 1152, 196, 128)]  // its backward data: Wᵀ · dy
    [InlineData(false, true, 70, 33, 600)]     // a partial row block, edge tiles, two panels
    [InlineData(true, true, 9, 5, 3)]          // smaller than one tile (no narrow-C transpose with packed A)
    public void PrePackedAGivesTheSameBitsAsPackingInside(bool ta, bool tb, int m, int n, int k)
    {
        var a = RandF(m * k, 21); var b = RandF(k * n, 22);
        var c0 = RandF(m * n, 23);
        var c1 = (float[])c0.Clone(); var c2 = (float[])c0.Clone();
        var packed = new float[CpuGemm.PackedSize(m, k)];
        Assert.Equal((long)k * ((m + CpuGemm.MC - 1) / CpuGemm.MC * CpuGemm.MC), packed.LongLength);
        int lda = ta ? m : k, ldb = tb ? k : n;
        fixed (float* pa = a, pb = b, pc1 = c1, pc2 = c2, pp = packed)
        {
            CpuGemm.Sgemm(ta, tb, m, n, k, 1.5f, pa, lda, pb, ldb, 0.5f, pc1, n);
            CpuGemm.PackA(ta, m, k, pa, lda, pp);
            CpuGemm.Sgemm(ta, tb, m, n, k, 1.5f, pa, lda, pb, ldb, 0.5f, pc2, n, pp);
        }
        Assert.Equal(c1, c2);
        var want = Reference(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, 0.5f, c0, n);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - c2[i]) <= 1e-4 * (1 + Math.Abs(want[i])),
                $"C[{i}] = {c2[i]}, want {want[i]}");
    }

    /// <summary>
    /// The BLAS libraries to test the binding with: the one in use, and the reference BLAS most Linux systems ship
    /// (never picked by default, but a library the binding must handle: it is what CI always has).
    /// </summary>
    private static List<Blas> TestBlases(out string why)
    {
        var found = new List<Blas>(); var problems = new List<string>();
        if (Blas.Instance is { } api) found.Add(api);
        foreach (var name in new[] { "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "libblas.so.3" })
        {
            if (Blas.Probe(name, out var err) is { } b) { found.Add(b); break; }
            problems.Add(err!);
        }
        why = string.Join("; ", problems);
        return found;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BlasBindingMatchesTheReferenceInEveryTransposition(int m, int n, int k)
    {
        var blases = TestBlases(out var why);
        Assert.True(blases.Count > 0, $"no BLAS library to test the binding with: {why}");
        foreach (var blas in blases)
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                Check(blas.Sgemm, ta, tb, m, n, k, 1f, 0f, 0, blas.LoadedFrom);
                Check(blas.Sgemm, ta, tb, m, n, k, -0.5f, 1.5f, 3, blas.LoadedFrom);
            }
    }

    [Fact]
    public void BlasSettingNoneForcesTheOwnGemm()
    {
        Assert.Null(Blas.Probe("none", out var why));
        Assert.Equal("disabled by SPIKESHARP_BLAS=none", why);
        Assert.Null(Blas.Probe(" off ", out why));
        Assert.Equal("disabled by SPIKESHARP_BLAS=off", why);
    }

    [Fact]
    public void BlasThatCannotBeLoadedOrIsNotCblasIsReportedAndNotUsed()
    {
        Assert.Null(Blas.Probe("libspikesharp-no-such-blas.so", out var why));
        Assert.StartsWith("libspikesharp-no-such-blas.so: cannot be loaded (SPIKESHARP_BLAS=libspikesharp-no-such-blas.so)", why);
        // A real library without cblas_sgemm (the C math library) is found, then rejected with the reason.
        string libm = OperatingSystem.IsWindows() ? "ucrtbase.dll" : OperatingSystem.IsMacOS() ? "libSystem.dylib" : "libm.so.6";
        Assert.Null(Blas.Probe(libm, out why));
        Assert.Equal($"{libm}: loaded, but has no cblas_sgemm (not a CBLAS library)", why);
    }

    [Fact]
    public void InfoLineNamesTheGemmInUse()
    {
        string line = CpuBackend.GemmDescription;
        if (Blas.Instance is { } api) Assert.StartsWith(api.LoadedFrom + " (", line);
        else Assert.Contains("SpikeSharp's own GEMM (" + CpuGemm.Description + ")", line);
    }
}

/// <summary>
/// The backend's GEMM entry point (validation, batches, strides, offsets) on both paths: it switches the process-wide
/// path, so it runs apart from other tests.
/// </summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)]
public class CpuBackendGemmTests
{
    public static readonly TheoryData<bool> Paths = new() { false, true };

    private static void OnPath(bool own, Action body)
    {
        var saved = CpuBackend.GemmPath;
        CpuBackend.GemmPath = own ? CpuGemmPath.Own : CpuGemmPath.Auto;
        try { body(); }
        finally { CpuBackend.GemmPath = saved; }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void BatchedStridedProductsMatchTheReference(bool own) => OnPath(own, () =>
    {
        var be = CpuBackend.Instance;
        // Small items (one thread per item), large items (each item split over threads), shared B (stride 0).
        foreach (var (m, n, k, batch, sharedB) in new[] { (7, 9, 5, 6, false), (5, 3, 11, 4, true), (130, 140, 150, 3, false) })
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                int sa = m * k + 2, sb = sharedB ? 0 : k * n + 1, sc = m * n + 3;
                var ha = RandF(sa * batch, 21); var hb = RandF(sharedB ? k * n : sb * batch, 22); var hc = RandF(sc * batch, 23);
                var a = UpOffset(be, ha, 5); var b = UpOffset(be, hb, 1); var c = UpOffset(be, hc, 7);
                be.Gemm(ta, tb, m, n, k, 0.75f, a, b, 0.5f, c, batch, sa, sb, sc);
                var got = Down<float>(be, c);
                var want = (float[])hc.Clone();
                for (int i = 0; i < batch; i++)
                {
                    var item = CpuGemmTests.Reference(ta, tb, m, n, k, 0.75f, ha[(i * sa)..(i * sa + m * k)], ta ? m : k,
                        hb[(i * sb)..(i * sb + k * n)], tb ? k : n, 0.5f, hc[(i * sc)..(i * sc + m * n)], n);
                    item.CopyTo(want, i * sc);
                }
                Close(want, got, 1e-4f, $"gemm batch {batch} of {m}×{n}×{k} ta={ta} tb={tb} own={own}");
                foreach (var x in new[] { a, b, c }) x.Storage.Release();
            }
    });

    [Fact]
    public void ProductsTooBigForTheirBuffersFailNamingTheOperand()
    {
        var be = CpuBackend.Instance;
        var a = Empty(be, DType.Float32, 6); var b = Empty(be, DType.Float32, 6); var c = Empty(be, DType.Float32, 4);
        var e = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 2, 4, 1f, a, b, 0f, c));
        Assert.Equal("a", e.ParamName);
        Assert.StartsWith("gemm: a needs 8 elements (1 item(s) of 2×4, stride 0), its buffer has 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 2, 3, 1f, a, b, 0f, c, batch: 2, strideA: 0, strideB: 0, strideC: 4));
        Assert.Equal("c", e.ParamName);
        Assert.StartsWith("gemm: c needs 8 elements (2 item(s) of 2×2, stride 4), its buffer has 4", e.Message);
        var neg = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, -1, 2, 3, 1f, a, b, 0f, c));
        Assert.Equal("gemm: sizes must not be negative, got m=-1, n=2, k=3", neg.Message);
        var batch = Assert.Throws<ArgumentOutOfRangeException>(() => be.Gemm(false, false, 1, 1, 1, 1f, a, b, 0f, c, batch: 0));
        Assert.Equal("batch", batch.ParamName);
    }
}
