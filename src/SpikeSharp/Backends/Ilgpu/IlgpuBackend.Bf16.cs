using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SpikeSharp.Backends.Ilgpu;

// bfloat16 GEMMs for the exact spike products (Ops/SpikeGemm.cs): the conversion and split kernels, cublasGemmEx,
// and a plain kernel that does the same product on the emulated device (tests of the whole path without a GPU).
// bfloat16 data lives in float16 storages: both are 2-byte elements, and these buffers never leave this path.
public sealed partial class IlgpuBackend
{
    private string? _bf16Unavailable;
    private bool _bf16Checked;

    /// <summary>
    /// Why this backend cannot run bfloat16 GEMMs through cuBLAS (null when it can): the emulated device, cuBLAS
    /// missing or switched off, a library without cublasGemmEx or older than 11.0, a GPU before compute
    /// capability 8.0, or a GEMM that cuBLAS refused at run time.
    /// </summary>
    internal string? Bf16GemmUnavailable
    {
        get
        {
            if (_bf16Checked) return _bf16Unavailable;
            lock (_kernelLock)
            {
                if (!_bf16Checked)
                {
                    _bf16Unavailable = CheckBf16Gemm();
                    _bf16Checked = true;
                }
                return _bf16Unavailable;
            }
        }
    }

    private string? CheckBf16Gemm()
    {
        if (!IsCuda) return $"{Device} is ILGPU's CPU emulation, which has no cuBLAS";
        if (ForceGemmFallback) return "cuBLAS is switched off (ForceGemmFallback or SPIKESHARP_NO_CUBLAS=1)";
        var api = Cublas.Instance;
        if (api == null) return $"cuBLAS did not load ({Cublas.LoadError})";
        unsafe
        {
            if (api.GemmEx == null) return $"{Cublas.LoadedFrom} has no cublasGemmEx";
        }
        var h = CublasHandle;
        if (h == IntPtr.Zero) return "no cuBLAS handle could be created";
        if (Cublas.Version(h) is { } v && v < 11000) return $"cuBLAS {v} is older than 11.0 (no bfloat16 GEMMs)";
        if (Accelerator is CudaAccelerator ca && ca.Architecture is { } arch && arch.Major < 8)
            return $"{Device} has compute capability {arch.Major}.{arch.Minor}; bfloat16 tensor cores need 8.0 "
                + "or newer";
        return null;
    }

    /// <summary>
    /// Row-major C = alpha · op(A) · op(B) + beta · C with A and B bfloat16 (bits in float16 storages) and C
    /// float32, through cublasGemmEx with float32 accumulation. Returns false, and marks the path unavailable for good,
    /// when cuBLAS answers that this GPU or library cannot do it (C is then untouched); other failures throw.
    /// </summary>
    internal unsafe bool TryGemmBf16(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b,
        float beta, Buf c)
    {
        CheckBf16Operands(m, n, k, a, b, c);
        if (Bf16GemmUnavailable != null) return false;
        if (m == 0 || n == 0) return true;
        var api = Cublas.Instance!;
        var h = CublasHandle;
        EnsureBound();
        // The default math mode: tensor cores for 16-bit inputs, float32 accumulation (compute type 32F).
        Cublas.Check(api.SetMathMode(h, Cublas.DefaultMath), "cublasSetMathMode");
        int opA = transA ? Cublas.OpT : Cublas.OpN, opB = transB ? Cublas.OpT : Cublas.OpN;
        int lda = transA ? m : k, ldb = transB ? k : n;
        // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
        LaunchCounter.Hit();
        int status = api.GemmEx(h, opB, opA, n, m, k, &alpha, DevicePointer(b), Cublas.R16BF, ldb,
            DevicePointer(a), Cublas.R16BF, lda, &beta, DevicePointer(c), Cublas.R32F, n, Cublas.Compute32F,
            Cublas.GemmDefaultAlgo);
        if (status is Cublas.StatusNotSupported or Cublas.StatusArchMismatch)
        {
            lock (_kernelLock) _bf16Unavailable = $"cublasGemmEx refused bfloat16 inputs (status {status})";
            return false;
        }
        Cublas.Check(status, "cublasGemmEx");
        return true;
    }

    /// <summary>
    /// The product of <see cref="TryGemmBf16"/> computed by a plain kernel (one thread per element of C, float32
    /// accumulation in k order): lets tests run the whole split path on the emulated device.
    /// </summary>
    internal void GemmBf16Emulated(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta,
        Buf c)
    {
        CheckBf16Operands(m, n, k, a, b, c);
        if (m == 0 || n == 0) return;
        var kern = Kernel("gemm_bf16_emulated", acc => acc.LoadKernel<ArrayView<ushort>, ArrayView<ushort>,
            ArrayView<float>, Bf16GemmShape>(GemmBf16Kernel));
        var shape = new Bf16GemmShape
        {
            M = m, N = n, K = k, Alpha = alpha, Beta = beta,
            AStrideM = transA ? 1 : k, AStrideK = transA ? m : 1, BStrideK = transB ? 1 : n, BStrideN = transB ? k : 1,
        };
        kern(Stream, Launch1D((long)m * n), Raw<ushort>(a), Raw<ushort>(b), View<float>(c), shape);
    }

    internal struct Bf16GemmShape
    {
        public int M, N, K, AStrideM, AStrideK, BStrideK, BStrideN;
        public float Alpha, Beta;
    }

    private static void GemmBf16Kernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, Bf16GemmShape s)
    {
        int stride = Grid.DimX * Group.DimX, total = s.M * s.N;
        for (int idx = Grid.GlobalIndex.X; idx < total; idx += stride)
        {
            int i = idx / s.N, j = idx % s.N;
            float acc = 0f;
            for (int p = 0; p < s.K; p++)
                acc += Bf16Bits.ToFloat(a[i * s.AStrideM + p * s.AStrideK])
                    * Bf16Bits.ToFloat(b[p * s.BStrideK + j * s.BStrideN]);
            // β = 0 ignores C, as cuBLAS does (it may hold garbage or NaN).
            c[idx] = s.Beta == 0f ? s.Alpha * acc : s.Alpha * acc + s.Beta * c[idx];
        }
    }

    private static void CheckBf16Operands(int m, int n, int k, Buf a, Buf b, Buf c)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"gemm_bf16: sizes must be >= 0, got m={m}, n={n}, k={k}");
        if (a.DType != DType.Float16 || b.DType != DType.Float16 || c.DType != DType.Float32)
            throw new ArgumentException("gemm_bf16: expected bfloat16 bits in 2-byte buffers for A and B and float32 "
                + $"C, got {a.DType.Name()}, {b.DType.Name()}, {c.DType.Name()}");
        CheckSpan(a, 1, 0, (long)m * k, "a");
        CheckSpan(b, 1, 0, (long)k * n, "b");
        CheckSpan(c, 1, 0, (long)m * n, "c");
    }

    /// <summary>
    /// Writes parts [<paramref name="firstPart"/>, firstPart + <paramref name="parts"/>) of the exact bfloat16 split
    /// of <paramref name="src"/> (float32, <see cref="Bf16Bits.Split"/>) into <paramref name="dst"/>, part j of the
    /// range at element j · <paramref name="partStride"/> (default src.Length; dst holds exactly
    /// (parts − 1) · partStride + src.Length 2-byte elements): one pass over src whatever the number of parts.
    /// </summary>
    internal void SplitBf16(Buf src, Buf dst, int firstPart, int parts, int partStride = -1)
    {
        if (src.DType != DType.Float32 || dst.DType != DType.Float16)
            throw new ArgumentException(
                $"split_bf16: expected float32 → 2-byte buffers, got {src.DType.Name()} → {dst.DType.Name()}");
        if (firstPart < 0 || parts < 1 || firstPart + parts > 3)
            throw new ArgumentOutOfRangeException(nameof(parts),
                $"split_bf16: parts [{firstPart}, {firstPart + parts}) are not within [0, 3)");
        if (partStride < 0) partStride = src.Length;
        if (partStride < src.Length)
            throw new ArgumentOutOfRangeException(nameof(partStride),
                $"split_bf16: part stride {partStride} is below the length {src.Length}");
        CheckLen((long)(parts - 1) * partStride + src.Length, dst.Length, "split_bf16");
        if (src.Length == 0) return;
        var kern = Kernel("split_bf16",
            acc => acc.LoadKernel<ArrayView<float>, ArrayView<ushort>, int, int, int, int>(SplitKernel));
        kern(Stream, Launch1D(src.Length), View<float>(src), Raw<ushort>(dst), src.Length, firstPart, parts,
            partStride);
    }

    private static void SplitKernel(ArrayView<float> x, ArrayView<ushort> y, int n, int firstPart, int parts,
        int partStride)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            ulong s = Bf16Bits.Split(x[i]) >> (16 * firstPart);
            y[i] = (ushort)s;
            if (parts > 1) y[partStride + i] = (ushort)(s >> 16);
            if (parts > 2) y[2 * partStride + i] = (ushort)(s >> 32);
        }
    }

    /// <summary>bfloat16 bits of float32 <paramref name="src"/> (round to nearest even; exact for spikes).</summary>
    internal void ToBf16(Buf src, Buf dst)
    {
        if (src.DType != DType.Float32 || dst.DType != DType.Float16)
            throw new ArgumentException(
                $"to_bf16: expected float32 → 2-byte buffers, got {src.DType.Name()} → {dst.DType.Name()}");
        CheckLen(src.Length, dst.Length, "to_bf16");
        if (src.Length == 0) return;
        var kern = Kernel("to_bf16", acc => acc.LoadKernel<ArrayView<float>, ArrayView<ushort>, int>(ToBf16Kernel));
        kern(Stream, Launch1D(src.Length), View<float>(src), Raw<ushort>(dst), src.Length);
    }

    private static void ToBf16Kernel(ArrayView<float> x, ArrayView<ushort> y, int n)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = Bf16Bits.FromFloat(x[i]);
    }

    /// <summary>float32 values of the bfloat16 bits in <paramref name="src"/> (exact): a kept bfloat16 copy for a
    /// float32 GEMM when the split path cannot run.</summary>
    internal void FromBf16(Buf src, Buf dst)
    {
        if (src.DType != DType.Float16 || dst.DType != DType.Float32)
            throw new ArgumentException(
                $"from_bf16: expected 2-byte → float32 buffers, got {src.DType.Name()} → {dst.DType.Name()}");
        CheckLen(src.Length, dst.Length, "from_bf16");
        if (src.Length == 0) return;
        var kern = Kernel("from_bf16",
            acc => acc.LoadKernel<ArrayView<ushort>, ArrayView<float>, int>(FromBf16Kernel));
        kern(Stream, Launch1D(src.Length), Raw<ushort>(src), View<float>(dst), src.Length);
    }

    private static void FromBf16Kernel(ArrayView<ushort> x, ArrayView<float> y, int n)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = Bf16Bits.ToFloat(x[i]);
    }
}
