using System.Runtime.InteropServices;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Minimal cuBLAS binding: the library is looked up at run time (libcublas.so.13, .12, .11, then
/// the unversioned name; cublas64_*.dll on Windows) so that a missing CUDA toolkit only disables
/// it. Calls need the CUDA context of the accelerator bound on the calling thread.
/// </summary>
internal static unsafe class Cublas
{
    private static readonly string[] Candidates =
    {
        "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so",
        "cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll",
    };

    private static readonly Lazy<Api?> _api = new(Load);

    /// <summary>The loaded API, or null when no cuBLAS library could be loaded.</summary>
    public static Api? Instance => _api.Value;

    /// <summary>The file name that was loaded, or null.</summary>
    public static string? LoadedFrom { get; private set; }

    /// <summary>Why loading failed (null when it succeeded or was not tried).</summary>
    public static string? LoadError { get; private set; }

    internal sealed class Api
    {
        public delegate* unmanaged<IntPtr*, int> Create;
        public delegate* unmanaged<IntPtr, int> Destroy;
        public delegate* unmanaged<IntPtr, int*, int> GetVersion;
        public delegate* unmanaged<IntPtr, IntPtr, int> SetStream;
        public delegate* unmanaged<IntPtr, int, int> SetMathMode;
        public delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, IntPtr, int, float*,
            IntPtr, int, int> Sgemm;
        public delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long,
            float*, IntPtr, int, long, int, int> SgemmStridedBatched;

        /// <summary>cublasGemmEx (mixed types; null when the library lacks it): handle, opA, opB, m, n, k, alpha,
        /// A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo.</summary>
        public delegate* unmanaged<IntPtr, int, int, int, int, int, void*, IntPtr, int, int, IntPtr, int, int, void*,
            IntPtr, int, int, int, int, int> GemmEx;
    }

    public const int OpN = 0, OpT = 1;
    public const int DefaultMath = 0, Tf32TensorOpMath = 3;

    /// <summary>cudaDataType_t values: CUDA_R_32F and CUDA_R_16BF.</summary>
    public const int R32F = 0, R16BF = 14;

    /// <summary>cublasComputeType_t CUBLAS_COMPUTE_32F (float32 accumulation; tensor cores for 16-bit
    /// inputs).</summary>
    public const int Compute32F = 68;

    /// <summary>cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT.</summary>
    public const int GemmDefaultAlgo = -1;

    /// <summary>Statuses that mean "this GPU or library cannot do that" rather than a bug in the call.</summary>
    public const int StatusArchMismatch = 8, StatusNotSupported = 15;

    private static Api? Load()
    {
        if (Environment.GetEnvironmentVariable("SPIKESHARP_NO_CUBLAS") == "1")
        {
            LoadError = "disabled by SPIKESHARP_NO_CUBLAS=1";
            return null;
        }
        foreach (var name in Candidates)
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            try
            {
                var api = new Api
                {
                    Create = (delegate* unmanaged<IntPtr*, int>)NativeLibrary.GetExport(h, "cublasCreate_v2"),
                    Destroy = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(h, "cublasDestroy_v2"),
                    GetVersion = (delegate* unmanaged<IntPtr, int*, int>)
                        NativeLibrary.GetExport(h, "cublasGetVersion_v2"),
                    SetStream = (delegate* unmanaged<IntPtr, IntPtr, int>)
                        NativeLibrary.GetExport(h, "cublasSetStream_v2"),
                    SetMathMode = (delegate* unmanaged<IntPtr, int, int>)
                        NativeLibrary.GetExport(h, "cublasSetMathMode"),
                    Sgemm = (delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, IntPtr, int,
                            float*, IntPtr, int, int>)
                        NativeLibrary.GetExport(h, "cublasSgemm_v2"),
                    SgemmStridedBatched = (delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int,
                            long, IntPtr, int, long, float*, IntPtr, int, long, int, int>)
                        NativeLibrary.GetExport(h, "cublasSgemmStridedBatched"),
                    // Optional: only the split spike GEMMs need it, so a library without it keeps float32 GEMMs.
                    GemmEx = NativeLibrary.TryGetExport(h, "cublasGemmEx", out var gemmEx)
                        ? (delegate* unmanaged<IntPtr, int, int, int, int, int, void*, IntPtr, int, int, IntPtr, int,
                            int, void*, IntPtr, int, int, int, int, int>)gemmEx
                        : null,
                };
                LoadedFrom = name;
                return api;
            }
            catch (EntryPointNotFoundException e)
            {
                LoadError = $"{name}: {e.Message}";
                NativeLibrary.Free(h);
            }
        }
        LoadError ??= "no libcublas found (tried " + string.Join(", ", Candidates) + ")";
        return null;
    }

    /// <summary>Throws when a cuBLAS call failed.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0)
            throw new InvalidOperationException(
                $"cuBLAS {call} failed with status {status} ({StatusName(status)})");
    }

    private static string StatusName(int s) => s switch
    {
        1 => "NOT_INITIALIZED", 3 => "ALLOC_FAILED", 7 => "INVALID_VALUE", 8 => "ARCH_MISMATCH",
        11 => "MAPPING_ERROR", 13 => "EXECUTION_FAILED", 14 => "INTERNAL_ERROR", 15 => "NOT_SUPPORTED",
        _ => "unknown",
    };

    /// <summary>cuBLAS version (e.g. 120804) through a temporary handle, or null when unavailable.
    /// Needs a current CUDA context.</summary>
    public static int? Version(IntPtr handle)
    {
        var api = Instance;
        if (api == null || handle == IntPtr.Zero) return null;
        int v;
        return api.GetVersion(handle, &v) == 0 ? v : null;
    }
}
