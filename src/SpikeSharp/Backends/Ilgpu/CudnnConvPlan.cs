namespace SpikeSharp.Backends.Ilgpu;

/// <summary>The three convolutions cuDNN computes for a <see cref="Conv2dShape"/>.</summary>
internal enum CudnnConvDirection
{
    /// <summary>y = x ⋆ w.</summary>
    Forward,

    /// <summary>dx from dy and w.</summary>
    BackwardData,

    /// <summary>dw from x and dy.</summary>
    BackwardFilter,
}

/// <summary>One usable cuDNN algorithm for a direction: its number, the math type cuDNN reported for it (set on the
/// convolution descriptor before the call, as cuDNN 7.4+ requires) and the workspace it needs.</summary>
internal readonly record struct CudnnAlgo(int Algo, int MathType, long WorkspaceBytes);

/// <summary>
/// The descriptors of one convolution shape and math policy (x, w, y and the convolution itself), and per direction
/// the algorithms cuDNN ranks for it (measured by cudnnFindConvolution*Algorithm in benchmark mode, else the
/// heuristics of cudnnGetConvolution*Algorithm_v7), fastest first, keeping those
/// that succeed, respect the math policy (float32 only: CUDNN_FMA_MATH) and need at most the workspace limit.
/// <see cref="Chosen"/> moves down the list when a workspace cannot be allocated. Not thread-safe: the owning
/// <see cref="CudnnConvKernels"/> holds its lock around every use.
/// </summary>
internal sealed unsafe class CudnnConvPlan
{
    private const int MaxAlgos = 16;
    private readonly Cudnn.Api _api;
    private readonly CudnnAlgo[]?[] _algos = new CudnnAlgo[]?[3];
    private readonly int[] _chosen = new int[3];
    private IntPtr _x, _w, _y, _conv;

    private CudnnConvPlan(Cudnn.Api api, Conv2dShape shape, bool tf32)
    {
        _api = api;
        Shape = shape;
        Tf32 = tf32;
    }

    /// <summary>The geometry.</summary>
    public Conv2dShape Shape { get; }

    /// <summary>True when tensor-core math (TF32) is allowed, false for float32 products (CUDNN_FMA_MATH).</summary>
    public bool Tf32 { get; }

    /// <summary>Descriptors: x (N, C, H, W), w (O, C, Kh, Kw), y (N, O, OutH, OutW), the convolution.</summary>
    public IntPtr X => _x;

    /// <inheritdoc cref="X"/>
    public IntPtr W => _w;

    /// <inheritdoc cref="X"/>
    public IntPtr Y => _y;

    /// <inheritdoc cref="X"/>
    public IntPtr Conv => _conv;

    /// <summary>
    /// Builds the descriptors. Returns null with <paramref name="why"/> when cuDNN rejects the shape (its output
    /// size must agree with <see cref="Conv2dShape.OutH"/> and <see cref="Conv2dShape.OutW"/>).
    /// </summary>
    public static CudnnConvPlan? Create(Cudnn.Api api, in Conv2dShape s, bool tf32, out string? why)
    {
        var p = new CudnnConvPlan(api, s, tf32);
        why = p.Build();
        if (why == null) return p;
        p.Destroy();
        return null;
    }

    private string? Build()
    {
        var s = Shape;
        int st;
        fixed (IntPtr* px = &_x, pw = &_w, py = &_y, pconv = &_conv)
        {
            if ((st = _api.CreateTensorDescriptor(px)) != 0) return Failed("cudnnCreateTensorDescriptor", st);
            if ((st = _api.CreateTensorDescriptor(py)) != 0) return Failed("cudnnCreateTensorDescriptor", st);
            if ((st = _api.CreateFilterDescriptor(pw)) != 0) return Failed("cudnnCreateFilterDescriptor", st);
            if ((st = _api.CreateConvolutionDescriptor(pconv)) != 0)
                return Failed("cudnnCreateConvolutionDescriptor", st);
        }
        if ((st = _api.SetTensor4dDescriptor(_x, Cudnn.TensorNchw, Cudnn.DataFloat, s.N, s.C, s.H, s.W)) != 0)
            return Failed("cudnnSetTensor4dDescriptor (x)", st);
        // Note the argument order of the filter descriptor: data type before format.
        if ((st = _api.SetFilter4dDescriptor(_w, Cudnn.DataFloat, Cudnn.TensorNchw, s.O, s.C, s.Kh, s.Kw)) != 0)
            return Failed("cudnnSetFilter4dDescriptor", st);
        if ((st = _api.SetConvolution2dDescriptor(_conv, s.PadH, s.PadW, s.StrideH, s.StrideW, 1, 1,
                Cudnn.CrossCorrelation, Cudnn.DataFloat)) != 0)
            return Failed("cudnnSetConvolution2dDescriptor", st);
        if ((st = _api.SetConvolutionMathType(_conv, Tf32 ? Cudnn.TensorOpMath : Cudnn.FmaMath)) != 0)
            return Failed("cudnnSetConvolutionMathType", st);
        int n, o, h, w;
        if ((st = _api.GetConvolution2dForwardOutputDim(_conv, _x, _w, &n, &o, &h, &w)) != 0)
            return Failed("cudnnGetConvolution2dForwardOutputDim", st);
        if (n != s.N || o != s.O || h != s.OutH || w != s.OutW)
            return $"cuDNN computes an output of ({n}, {o}, {h}, {w}), expected ({s.N}, {s.O}, {s.OutH}, {s.OutW})";
        if ((st = _api.SetTensor4dDescriptor(_y, Cudnn.TensorNchw, Cudnn.DataFloat, n, o, h, w)) != 0)
            return Failed("cudnnSetTensor4dDescriptor (y)", st);
        return null;
    }

    private static string Failed(string call, int status) => $"{call} answered {Cudnn.StatusText(status)}";

    /// <summary>
    /// The usable algorithms of <paramref name="dir"/>, ranked once; an empty list (with <paramref name="why"/>)
    /// when cuDNN offers none within <paramref name="workspaceLimit"/> bytes.
    /// </summary>
    public CudnnAlgo[] Algorithms(IntPtr handle, CudnnConvDirection dir, long workspaceLimit, out string? why)
    {
        why = null;
        if (_algos[(int)dir] is { } known) return known;
        var perf = stackalloc Cudnn.AlgoPerf[MaxAlgos];
        int count = 0, st = -1;
        // Benchmark mode measures every algorithm once per shape (as torch.backends.cudnn.benchmark does); where that
        // fails (it allocates its own scratch memory) the heuristics rank them.
        if (CudnnConvKernels.Benchmark)
        {
            st = dir switch
            {
                CudnnConvDirection.Forward =>
                    _api.FindForwardAlgorithm(handle, _x, _w, _conv, _y, MaxAlgos, &count, perf),
                CudnnConvDirection.BackwardData =>
                    _api.FindBackwardDataAlgorithm(handle, _w, _y, _conv, _x, MaxAlgos, &count, perf),
                _ => _api.FindBackwardFilterAlgorithm(handle, _x, _y, _conv, _w, MaxAlgos, &count, perf),
            };
            if (st != 0) count = 0;
        }
        if (st != 0)
            st = dir switch
            {
                CudnnConvDirection.Forward =>
                    _api.GetForwardAlgorithm(handle, _x, _w, _conv, _y, MaxAlgos, &count, perf),
                CudnnConvDirection.BackwardData =>
                    _api.GetBackwardDataAlgorithm(handle, _w, _y, _conv, _x, MaxAlgos, &count, perf),
                _ => _api.GetBackwardFilterAlgorithm(handle, _x, _y, _conv, _w, MaxAlgos, &count, perf),
            };
        if (st != 0)
        {
            why = Failed(HeuristicCall(dir), st);
            return _algos[(int)dir] = Array.Empty<CudnnAlgo>();
        }
        var list = new List<CudnnAlgo>();
        int tooLarge = 0;
        for (int i = 0; i < Math.Min(count, MaxAlgos); i++)
        {
            var p = perf[i];
            if (p.Status != Cudnn.Success) continue;
            // Float32 products only: TF32 is off, so an algorithm cuDNN ranked with tensor-core math is not taken.
            if (!Tf32 && p.MathType != Cudnn.FmaMath) continue;
            if (list.Exists(a => a.Algo == p.Algo && a.MathType == p.MathType)) continue;
            if (_api.SetConvolutionMathType(_conv, p.MathType) != 0) continue;
            nuint bytes;
            st = dir switch
            {
                CudnnConvDirection.Forward =>
                    _api.GetForwardWorkspaceSize(handle, _x, _w, _conv, _y, p.Algo, &bytes),
                CudnnConvDirection.BackwardData =>
                    _api.GetBackwardDataWorkspaceSize(handle, _w, _y, _conv, _x, p.Algo, &bytes),
                _ => _api.GetBackwardFilterWorkspaceSize(handle, _x, _y, _conv, _w, p.Algo, &bytes),
            };
            if (st != 0) continue;
            if ((long)bytes > workspaceLimit) { tooLarge++; continue; }
            list.Add(new CudnnAlgo(p.Algo, p.MathType, (long)bytes));
        }
        if (list.Count == 0)
            why = $"{HeuristicCall(dir)} offered no usable algorithm ({count} ranked, {tooLarge} needing more than "
                + $"the {workspaceLimit >> 20} MiB workspace limit, math {(Tf32 ? "TF32 allowed" : "FMA only")})";
        return _algos[(int)dir] = list.ToArray();
    }

    /// <summary>Index into <see cref="Algorithms"/> of the algorithm in use for <paramref name="dir"/>.</summary>
    public ref int Chosen(CudnnConvDirection dir) => ref _chosen[(int)dir];

    private static string HeuristicCall(CudnnConvDirection dir) => dir switch
    {
        CudnnConvDirection.Forward => "cudnnGetConvolutionForwardAlgorithm_v7",
        CudnnConvDirection.BackwardData => "cudnnGetConvolutionBackwardDataAlgorithm_v7",
        _ => "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
    };

    /// <summary>cuDNN's name of algorithm <paramref name="algo"/> of <paramref name="dir"/>.</summary>
    public static string AlgoName(CudnnConvDirection dir, int algo)
    {
        string[] names = dir switch
        {
            CudnnConvDirection.Forward => new[]
            {
                "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD",
                "WINOGRAD_NONFUSED",
            },
            CudnnConvDirection.BackwardData => new[]
            {
                "ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED",
            },
            _ => new[] { "ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING" },
        };
        return algo >= 0 && algo < names.Length ? names[algo] : $"algorithm {algo}";
    }

    /// <summary>cuDNN's name of math type <paramref name="math"/>.</summary>
    public static string MathName(int math) => math switch
    {
        Cudnn.DefaultMath => "DEFAULT_MATH",
        Cudnn.TensorOpMath => "TENSOR_OP_MATH",
        Cudnn.TensorOpMathAllowConversion => "TENSOR_OP_MATH_ALLOW_CONVERSION",
        Cudnn.FmaMath => "FMA_MATH",
        _ => $"math type {math}",
    };

    /// <summary>Frees the descriptors (null ones are skipped).</summary>
    public void Destroy()
    {
        if (_x != IntPtr.Zero) _api.DestroyTensorDescriptor(_x);
        if (_y != IntPtr.Zero) _api.DestroyTensorDescriptor(_y);
        if (_w != IntPtr.Zero) _api.DestroyFilterDescriptor(_w);
        if (_conv != IntPtr.Zero) _api.DestroyConvolutionDescriptor(_conv);
        _x = _y = _w = _conv = IntPtr.Zero;
    }
}
