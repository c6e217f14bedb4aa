using System.Runtime.InteropServices;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Our binding of cuDNN's legacy convolution API (descriptors, heuristic algorithm choice, forward and both backward
/// convolutions), loaded at run time like <see cref="Cublas"/>: libcudnn.so.9, then .8, then the unversioned name
/// (cudnn64_*.dll on Windows). A missing library, a missing symbol or a version before 8.0 (no FMA math mode, so no
/// exact float32) leaves <see cref="Instance"/> null with a one-line reason, never an exception. Calls that take a
/// handle need the CUDA context of the accelerator bound on the calling thread.
/// </summary>
internal static unsafe class Cudnn
{
    /// <summary>The names tried, in order.</summary>
    public static readonly string[] Candidates =
    {
        "libcudnn.so.9", "libcudnn.so.8", "libcudnn.so", "cudnn64_9.dll", "cudnn64_8.dll",
    };

    /// <summary>Setting this environment variable to 1 keeps cuDNN unloaded (convolutions take the generic path).
    /// </summary>
    public const string DisableVariable = "SPIKESHARP_NO_CUDNN";

    /// <summary>Oldest supported version (cudnnGetVersion's encoding): 8.0.0, the first with CUDNN_FMA_MATH.</summary>
    public const long MinVersion = 8000;

    private static readonly Lazy<CudnnProbe> _probe = new(() =>
        Environment.GetEnvironmentVariable(DisableVariable) == "1"
            ? CudnnProbe.Failed($"disabled by {DisableVariable}=1")
            : Probe(Candidates));

    /// <summary>What loading the library found (loaded once per process).</summary>
    public static CudnnProbe Loaded => _probe.Value;

    /// <summary>The loaded API, or null when cuDNN is unavailable (<see cref="CudnnProbe.Error"/> says why).</summary>
    public static Api? Instance => _probe.Value.Api;

    // ---- enum values (cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h of cuDNN 9, the same numbers since cuDNN 7) ----

    /// <summary>cudnnDataType_t CUDNN_DATA_FLOAT.</summary>
    public const int DataFloat = 0;

    /// <summary>cudnnTensorFormat_t CUDNN_TENSOR_NCHW (filters: K, C, H, W).</summary>
    public const int TensorNchw = 0;

    /// <summary>cudnnConvolutionMode_t CUDNN_CROSS_CORRELATION (PyTorch's convolution: the filter is not flipped).
    /// </summary>
    public const int CrossCorrelation = 1;

    /// <summary>cudnnMathType_t: DEFAULT (tensor cores allowed: TF32 for float32 on compute capability 8.0 and newer),
    /// TENSOR_OP, TENSOR_OP_ALLOW_CONVERSION, FMA (no tensor cores: float32 products).</summary>
    public const int DefaultMath = 0, TensorOpMath = 1, TensorOpMathAllowConversion = 2, FmaMath = 3;

    /// <summary>cudnnStatus_t CUDNN_STATUS_SUCCESS (the other codes differ between cuDNN 8 and 9; their text comes
    /// from cudnnGetErrorString).</summary>
    public const int Success = 0;

    /// <summary>One entry of cudnnGetConvolution*Algorithm_v7's answer: cudnnConvolutionFwdAlgoPerf_t,
    /// cudnnConvolutionBwdDataAlgoPerf_t and cudnnConvolutionBwdFilterAlgoPerf_t share this layout (48 bytes).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct AlgoPerf
    {
        public int Algo;
        public int Status;
        public float Time;
        public nuint Memory;
        public int Determinism;
        public int MathType;
        public int Reserved0, Reserved1, Reserved2;
    }

    /// <summary>The exported functions used (names as in cudnn.h).</summary>
    internal sealed class Api
    {
        public delegate* unmanaged<nuint> GetVersion;
        public delegate* unmanaged<int, byte*> GetErrorString;
        public delegate* unmanaged<IntPtr*, int> Create;
        public delegate* unmanaged<IntPtr, int> Destroy;
        public delegate* unmanaged<IntPtr, IntPtr, int> SetStream;
        public delegate* unmanaged<IntPtr*, int> CreateTensorDescriptor;
        public delegate* unmanaged<IntPtr, int, int, int, int, int, int, int> SetTensor4dDescriptor;
        public delegate* unmanaged<IntPtr, int> DestroyTensorDescriptor;
        public delegate* unmanaged<IntPtr*, int> CreateFilterDescriptor;
        public delegate* unmanaged<IntPtr, int, int, int, int, int, int, int> SetFilter4dDescriptor;
        public delegate* unmanaged<IntPtr, int> DestroyFilterDescriptor;
        public delegate* unmanaged<IntPtr*, int> CreateConvolutionDescriptor;
        public delegate* unmanaged<IntPtr, int, int, int, int, int, int, int, int, int> SetConvolution2dDescriptor;
        public delegate* unmanaged<IntPtr, int> DestroyConvolutionDescriptor;
        public delegate* unmanaged<IntPtr, int, int> SetConvolutionMathType;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, int*, int*, int*, int*, int>
            GetConvolution2dForwardOutputDim;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            GetForwardAlgorithm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            GetBackwardDataAlgorithm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            GetBackwardFilterAlgorithm;
        /// <summary>cudnnFindConvolution*Algorithm: the same arguments as the _v7 heuristics, but cuDNN runs every
        /// algorithm once (on memory it allocates itself) and ranks them by measured time.</summary>
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            FindForwardAlgorithm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            FindBackwardDataAlgorithm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>
            FindBackwardFilterAlgorithm;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int> GetForwardWorkspaceSize;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int>
            GetBackwardDataWorkspaceSize;
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int>
            GetBackwardFilterWorkspaceSize;

        /// <summary>handle, alpha, xDesc, x, wDesc, w, convDesc, algo, workspace, workspace bytes, beta, yDesc, y.
        /// </summary>
        public delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, IntPtr, nuint, float*,
            IntPtr, IntPtr, int> ConvolutionForward;

        /// <summary>handle, alpha, wDesc, w, dyDesc, dy, convDesc, algo, workspace, workspace bytes, beta, dxDesc, dx.
        /// </summary>
        public delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, IntPtr, nuint, float*,
            IntPtr, IntPtr, int> ConvolutionBackwardData;

        /// <summary>handle, alpha, xDesc, x, dyDesc, dy, convDesc, algo, workspace, workspace bytes, beta, dwDesc, dw.
        /// </summary>
        public delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, IntPtr, nuint, float*,
            IntPtr, IntPtr, int> ConvolutionBackwardFilter;
    }

    /// <summary>
    /// Tries <paramref name="candidates"/> in order and binds the first that loads, exports every function and
    /// reports a supported version. Never throws: a failure comes back as <see cref="CudnnProbe.Error"/>, one line
    /// naming each candidate that was found but unusable (or that none was found).
    /// </summary>
    internal static CudnnProbe Probe(IReadOnlyList<string> candidates)
    {
        var problems = new List<string>();
        foreach (var name in candidates)
        {
            if (!NativeLibrary.TryLoad(name, out var h))
            {
                // Absent is the common case and not worth a word; present but broken (a truncated file, a missing
                // dependency) is what the user must fix.
                if (LoadFailure(name) is { } failure && !failure.Contains("No such file", StringComparison.Ordinal))
                    problems.Add($"{name}: found but failed to load: {failure}");
                continue;
            }
            string? missing = null;
            IntPtr Get(string fn)
            {
                if (missing != null) return IntPtr.Zero;
                if (NativeLibrary.TryGetExport(h, "cudnn" + fn, out var p)) return p;
                missing = "cudnn" + fn;
                return IntPtr.Zero;
            }
            var api = Bind(Get);
            if (missing != null)
            {
                problems.Add($"{name} does not export {missing}");
                NativeLibrary.Free(h);
                continue;
            }
            long version = (long)api.GetVersion();
            if (VersionProblem(version) is { } why)
            {
                problems.Add($"{name}: {why}");
                NativeLibrary.Free(h);
                continue;
            }
            return new CudnnProbe(api, name, LoadedPath(name), version, null);
        }
        return CudnnProbe.Failed(problems.Count > 0
            ? string.Join("; ", problems)
            : "no cuDNN library found (tried " + string.Join(", ", candidates) + ")");
    }

    // The loader's own explanation (dlerror) of why a library did not load, on one line; null when it loads.
    private static string? LoadFailure(string name)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(name));
            return null;
        }
        catch (DllNotFoundException e)
        {
            // The message lists every path tried, one per line; keep the first that is not a plain "not there".
            var lines = e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return lines.Skip(1).FirstOrDefault(l => !l.Contains("No such file", StringComparison.Ordinal))
                ?? lines.Skip(1).FirstOrDefault() ?? e.Message.ReplaceLineEndings(" ");
        }
        catch (BadImageFormatException e) { return e.Message.ReplaceLineEndings(" "); }
    }

    private static Api Bind(Func<string, IntPtr> get) => new()
    {
        GetVersion = (delegate* unmanaged<nuint>)get("GetVersion"),
        GetErrorString = (delegate* unmanaged<int, byte*>)get("GetErrorString"),
        Create = (delegate* unmanaged<IntPtr*, int>)get("Create"),
        Destroy = (delegate* unmanaged<IntPtr, int>)get("Destroy"),
        SetStream = (delegate* unmanaged<IntPtr, IntPtr, int>)get("SetStream"),
        CreateTensorDescriptor = (delegate* unmanaged<IntPtr*, int>)get("CreateTensorDescriptor"),
        SetTensor4dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int>)
            get("SetTensor4dDescriptor"),
        DestroyTensorDescriptor = (delegate* unmanaged<IntPtr, int>)get("DestroyTensorDescriptor"),
        CreateFilterDescriptor = (delegate* unmanaged<IntPtr*, int>)get("CreateFilterDescriptor"),
        SetFilter4dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int>)
            get("SetFilter4dDescriptor"),
        DestroyFilterDescriptor = (delegate* unmanaged<IntPtr, int>)get("DestroyFilterDescriptor"),
        CreateConvolutionDescriptor = (delegate* unmanaged<IntPtr*, int>)get("CreateConvolutionDescriptor"),
        SetConvolution2dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int, int, int>)
            get("SetConvolution2dDescriptor"),
        DestroyConvolutionDescriptor = (delegate* unmanaged<IntPtr, int>)get("DestroyConvolutionDescriptor"),
        SetConvolutionMathType = (delegate* unmanaged<IntPtr, int, int>)get("SetConvolutionMathType"),
        GetConvolution2dForwardOutputDim = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int*, int*, int*, int*, int>)
            get("GetConvolution2dForwardOutputDim"),
        GetForwardAlgorithm = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("GetConvolutionForwardAlgorithm_v7"),
        GetBackwardDataAlgorithm =
            (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("GetConvolutionBackwardDataAlgorithm_v7"),
        GetBackwardFilterAlgorithm =
            (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("GetConvolutionBackwardFilterAlgorithm_v7"),
        FindForwardAlgorithm = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("FindConvolutionForwardAlgorithm"),
        FindBackwardDataAlgorithm =
            (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("FindConvolutionBackwardDataAlgorithm"),
        FindBackwardFilterAlgorithm =
            (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, AlgoPerf*, int>)
            get("FindConvolutionBackwardFilterAlgorithm"),
        GetForwardWorkspaceSize = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int>)
            get("GetConvolutionForwardWorkspaceSize"),
        GetBackwardDataWorkspaceSize = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int>)
            get("GetConvolutionBackwardDataWorkspaceSize"),
        GetBackwardFilterWorkspaceSize =
            (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, nuint*, int>)
            get("GetConvolutionBackwardFilterWorkspaceSize"),
        ConvolutionForward = (delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, IntPtr,
            nuint, float*, IntPtr, IntPtr, int>)get("ConvolutionForward"),
        ConvolutionBackwardData = (delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int,
            IntPtr, nuint, float*, IntPtr, IntPtr, int>)get("ConvolutionBackwardData"),
        ConvolutionBackwardFilter = (delegate* unmanaged<IntPtr, float*, IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int,
            IntPtr, nuint, float*, IntPtr, IntPtr, int>)get("ConvolutionBackwardFilter"),
    };

    /// <summary>"9.10.1" for cudnnGetVersion's 91001 (cuDNN 9: major·10000 + minor·100 + patch) and "8.9.7" for 8907
    /// (cuDNN 8 and older: major·1000 + minor·100 + patch).</summary>
    public static string FormatVersion(long v) => v >= 10000
        ? $"{v / 10000}.{v / 100 % 100}.{v % 100}"
        : $"{v / 1000}.{v / 100 % 10}.{v % 100}";

    /// <summary>Why version <paramref name="v"/> (cudnnGetVersion's number) cannot be used, or null when it can.
    /// </summary>
    public static string? VersionProblem(long v) => v < MinVersion
        ? $"cuDNN {FormatVersion(v)} is older than 8.0 (needed for float32 convolutions without TF32)"
        : null;

    /// <summary>cudnnGetErrorString's text for <paramref name="status"/>, with the number.</summary>
    public static string StatusText(int status)
    {
        var api = Instance;
        string? text = api == null ? null : Marshal.PtrToStringAnsi((IntPtr)api.GetErrorString(status));
        return $"{text ?? "unknown status"} ({status})";
    }

    // The file the dynamic loader picked for `name` (it searches LD_LIBRARY_PATH and the cache): on Linux the
    // mapping in /proc/self/maps whose file name starts with it; elsewhere the name itself.
    private static string LoadedPath(string name)
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/maps")) return name;
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                var path = line[slash..].Trim();
                if (Path.GetFileName(path).StartsWith(name, StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return name;
    }
}

/// <summary>The result of looking for cuDNN: the bound API, or why there is none.</summary>
/// <param name="Api">The bound functions, or null.</param>
/// <param name="Name">The library name that loaded (one of the candidates), or null.</param>
/// <param name="Path">The file the loader mapped for it (its name where the path cannot be read), or null.</param>
/// <param name="Version">cudnnGetVersion's number (e.g. 91001), or 0.</param>
/// <param name="Error">One line saying why cuDNN is unavailable, or null when it loaded.</param>
internal sealed record CudnnProbe(Cudnn.Api? Api, string? Name, string? Path, long Version, string? Error)
{
    /// <summary>A failed probe with its reason.</summary>
    public static CudnnProbe Failed(string error) => new(null, null, null, 0, error);

    /// <summary>"cuDNN 9.10.1 at /usr/lib/libcudnn.so.9" or "cuDNN: not found (reason)".</summary>
    public string Describe() => Api != null
        ? $"cuDNN {Cudnn.FormatVersion(Version)} at {Path}"
        : $"cuDNN: not found ({Error})";
}
