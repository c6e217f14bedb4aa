using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

// Matrix products: cuBLAS on CUDA when the library loads, else the tiled ILGPU kernel.
public sealed partial class IlgpuBackend
{
    private IntPtr _cublas;
    private bool _cublasTried;

    private void InitGemm() =>
        ForceGemmFallback = Environment.GetEnvironmentVariable("SPIKESHARP_NO_CUBLAS") == "1";

    /// <summary>
    /// Uses the ILGPU tiled kernel even when cuBLAS is available (also set by SPIKESHARP_NO_CUBLAS=1).
    /// </summary>
    public bool ForceGemmFallback { get; set; }

    /// <summary>True when <see cref="Gemm"/> goes through cuBLAS.</summary>
    public bool UsesCublas => !ForceGemmFallback && CublasHandle != IntPtr.Zero;

    /// <summary>
    /// The cuBLAS handle bound to <see cref="Stream"/> (created on first use), or zero when unavailable.
    /// </summary>
    internal IntPtr CublasHandle
    {
        get
        {
            if (_cublasTried) return _cublas;
            lock (_kernelLock)
            {
                if (_cublasTried) return _cublas;
                _cublasTried = true;
                var api = Cublas.Instance;
                if (!IsCuda || api == null) return IntPtr.Zero;
                unsafe
                {
                    EnsureBound();
                    IntPtr h;
                    if (api.Create(&h) != 0) return IntPtr.Zero;
                    Cublas.Check(api.SetStream(h, NativeStream), "cublasSetStream");
                    _cublas = h;
                }
                return _cublas;
            }
        }
    }

    /// <summary>Device address of the window's first element, for native libraries (cuBLAS).</summary>
    public IntPtr DevicePointer(Buf b) => b.Length == 0 ? IntPtr.Zero : Bytes(b).LoadEffectiveAddressAsPtr();

    /// <inheritdoc/>
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        if (m < 0 || n < 0 || k < 0 || batch < 0)
            throw new ArgumentException($"gemm: sizes must be >= 0, got m={m}, n={n}, k={k}, batch={batch}");
        CheckSpan(a, batch, strideA, (long)m * k, "a");
        CheckSpan(b, batch, strideB, (long)k * n, "b");
        CheckSpan(c, batch, strideC, (long)m * n, "c");
        if (m == 0 || n == 0 || batch == 0) return;
        if (batch > 1 && strideC == 0)
            throw new ArgumentException(
                "gemm: strideC must be nonzero when batch > 1 (batches would overwrite each other)", nameof(strideC));
        if (UsesCublas) GemmCublas(transA, transB, m, n, k, alpha, a, b, beta, c, batch, strideA, strideB, strideC);
        else GemmTiled(transA, transB, m, n, k, alpha, a, b, beta, c, batch, strideA, strideB, strideC);
    }

    private static void CheckSpan(Buf x, int batch, int stride, long size, string name)
    {
        long need = batch == 0 ? 0 : (long)(batch - 1) * stride + size;
        if (x.Length < need)
            throw new ArgumentException(
                $"gemm: {name} has {x.Length} elements, the product needs {need} "
                + $"({batch} batch(es), stride {stride}, matrix {size})",
                name);
    }

    // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
    private unsafe void GemmCublas(
        bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch, int strideA, int strideB, int strideC)
    {
        var api = Cublas.Instance!;
        var h = CublasHandle;
        EnsureBound();
        LaunchCounter.Hit();
        int mathMode = Precision.AllowTf32 ? Cublas.Tf32TensorOpMath : Cublas.DefaultMath;
        Cublas.Check(api.SetMathMode(h, mathMode), "cublasSetMathMode");
        IntPtr pa = DevicePointer(a), pb = DevicePointer(b), pc = DevicePointer(c);
        int opA = transA ? Cublas.OpT : Cublas.OpN, opB = transB ? Cublas.OpT : Cublas.OpN;
        int lda = transA ? m : k, ldb = transB ? k : n;
        if (batch == 1)
            Cublas.Check(api.Sgemm(h, opB, opA, n, m, k, &alpha, pb, ldb, pa, lda, &beta, pc, n), "cublasSgemm");
        else
            Cublas.Check(
                api.SgemmStridedBatched(
                    h, opB, opA, n, m, k, &alpha, pb, ldb, strideB, pa, lda, strideA, &beta, pc, n, strideC, batch),
                "cublasSgemmStridedBatched");
    }
}
