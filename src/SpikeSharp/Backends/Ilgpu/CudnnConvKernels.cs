using System.Collections.Concurrent;
using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Convolutions of a CUDA <see cref="IlgpuBackend"/> through cuDNN (<see cref="Cudnn"/>): one cuDNN handle per
/// backend bound to its stream, so cuDNN's kernels run in order with ILGPU's; descriptors and ranked algorithms
/// cached per shape and math policy (<see cref="Precision.ConvolutionTf32"/>: TF32 tensor cores allowed, else
/// CUDNN_FMA_MATH for float32 products). Workspaces come from the backend's caching allocator and go back to it as
/// soon as the call is enqueued (the stream orders their reuse); one that cannot be allocated moves the shape to the
/// next algorithm needing less (said once per shape on the trace), down to none, where the call is declined and the
/// generic im2col path computes it. A handle that cannot be created (a missing cuDNN sublibrary, a driver mismatch)
/// declines every call, with the reason traced once and kept in <see cref="Unavailable"/>; a failing convolution
/// call throws <see cref="InvalidOperationException"/> naming the op, cuDNN's status and the shape.
/// </summary>
internal sealed unsafe class CudnnConvKernels : IConv2dKernels
{
    // Past this many cached plans (shapes × math policies) all are freed and rebuilt on demand: a bound for programs
    // that feed ever new shapes, far above what a model uses.
    private const int MaxPlans = 512;

    /// <summary>The environment variable that turns benchmark mode off (0/false/off) or on (1/true/on, the default).
    /// </summary>
    public const string BenchmarkVariable = "SPIKESHARP_CUDNN_BENCHMARK";

    /// <summary>
    /// Benchmark mode: the first call of each shape runs every cuDNN algorithm once and keeps the fastest (as
    /// <c>torch.backends.cudnn.benchmark = True</c>); off, cuDNN's heuristics choose (faster to start, and on the
    /// H200 slower for the plif-csnn convolutions). On unless SPIKESHARP_CUDNN_BENCHMARK says off; a value other than
    /// 1/0, true/false, on/off there throws <see cref="InvalidOperationException"/> naming the variable.
    /// </summary>
    public static bool Benchmark
    {
        get => _benchmark ??=
            Precision.ParseSwitch(Environment.GetEnvironmentVariable(BenchmarkVariable), BenchmarkVariable, true);
        set => _benchmark = value;
    }

    private static bool? _benchmark;
    private static readonly ConcurrentDictionary<string, byte> _said = new();

    private readonly IlgpuBackend _be;
    private readonly Cudnn.Api _api;
    private readonly object _lock = new();
    private readonly Dictionary<(Conv2dShape, bool), CudnnConvPlan?> _plans = new();
    private IntPtr _handle;
    private bool _handleTried;
    private string? _unavailable;

    /// <summary>The family for <paramref name="backend"/>, calling <paramref name="api"/>.</summary>
    public CudnnConvKernels(IlgpuBackend backend, Cudnn.Api api)
    {
        if (!backend.IsCuda)
            throw new ArgumentException($"cuDNN convolutions need a CUDA device, got {backend.Device}",
                nameof(backend));
        _be = backend;
        _api = api;
    }

    /// <summary>The family registered on <paramref name="backend"/>, or null when it has another or none.</summary>
    public static CudnnConvKernels? Of(IBackend backend) => backend.Family<IConv2dKernels>() as CudnnConvKernels;

    /// <summary>Why this family declines every call (its handle could not be created), or null when it works.
    /// Creates the handle on first use.</summary>
    public string? Unavailable
    {
        get
        {
            lock (_lock)
            {
                EnsureHandle();
                return _unavailable;
            }
        }
    }

    /// <summary>
    /// The largest workspace a call of <paramref name="s"/> may take: four times the bytes of its input and output, at
    /// least 1 GiB. The fast tensor-core algorithms for NCHW float32 need workspace about the size of the input and
    /// output for their layout transforms; FFT variants that ask for more are not used, so the workspace (returned
    /// as soon as the call is queued) stays a bounded part of a step's peak.
    /// </summary>
    public static long WorkspaceLimit(in Conv2dShape s) =>
        Math.Max(1L << 30, 4L * 4 * ((long)s.N * s.C * s.H * s.W + (long)s.N * s.O * s.OutH * s.OutW));

    /// <inheritdoc/>
    public bool TryForward(in Conv2dShape s, Buf x, Buf w, Buf y) =>
        Run(CudnnConvDirection.Forward, s, x, w, y);

    /// <inheritdoc/>
    public bool TryBackwardData(in Conv2dShape s, Buf dy, Buf w, Buf dx) =>
        Run(CudnnConvDirection.BackwardData, s, dy, w, dx);

    /// <inheritdoc/>
    public bool TryBackwardFilter(in Conv2dShape s, Buf x, Buf dy, Buf dw) =>
        Run(CudnnConvDirection.BackwardFilter, s, x, dy, dw);

    /// <summary>
    /// The algorithm the last call of <paramref name="dir"/> on <paramref name="s"/> used under the current math
    /// policy ("IMPLICIT_PRECOMP_GEMM, FMA_MATH, 0 MiB workspace"), or null when none ran (for reports).
    /// </summary>
    public string? AlgorithmInUse(in Conv2dShape s, CudnnConvDirection dir)
    {
        lock (_lock)
        {
            if (!_plans.TryGetValue((s, Precision.ConvolutionTf32), out var plan) || plan == null) return null;
            var algos = plan.Algorithms(_handle, dir, WorkspaceLimit(s), out _);
            int i = plan.Chosen(dir);
            if (i >= algos.Length) return null;
            var a = algos[i];
            return $"{CudnnConvPlan.AlgoName(dir, a.Algo)}, {CudnnConvPlan.MathName(a.MathType)}, "
                + $"{a.WorkspaceBytes / (1 << 20)} MiB workspace";
        }
    }

    // The three directions share one path; (a, b, outBuf) are (x, w, y), (dy, w, dx) and (x, dy, dw).
    private bool Run(CudnnConvDirection dir, in Conv2dShape s, Buf a, Buf b, Buf outBuf)
    {
        if (s.N <= 0 || s.C <= 0 || s.O <= 0 || s.OutH <= 0 || s.OutW <= 0 || s.Kh <= 0 || s.Kw <= 0) return false;
        if (a.DType != DType.Float32 || b.DType != DType.Float32 || outBuf.DType != DType.Float32) return false;
        CheckLengths(dir, s, a, b, outBuf);
        bool tf32 = Precision.ConvolutionTf32;
        lock (_lock)
        {
            if (!EnsureHandle()) return false;
            _be.EnsureBound();
            var plan = Plan(s, tf32);
            if (plan == null) return false;
            long limit = WorkspaceLimit(s);
            var algos = plan.Algorithms(_handle, dir, limit, out var why);
            if (why != null) Say($"{Op(dir)} {Describe(s)}: {why}; the generic im2col path computes it", warn: true);
            ref int chosen = ref plan.Chosen(dir);
            string where = $"{Op(dir)} {Describe(s)}";
            var (index, ws) = Acquire(
                algos, chosen, bytes => new Workspace(_be.Memory.Rent(bytes)),
                big => Say(
                    $"{where}: the {big.WorkspaceBytes >> 20} MiB workspace of cuDNN's "
                    + $"{CudnnConvPlan.AlgoName(dir, big.Algo)} does "
                    + "not fit in device memory; using an algorithm that needs less",
                    warn: true));
            chosen = index; // the shape keeps the algorithm that fitted
            if (index < algos.Length)
            {
                try
                {
                    Execute(dir, plan, algos[index], ws, a, b, outBuf);
                }
                finally
                {
                    // Enqueued on the backend's stream: any later use of the block runs after this convolution.
                    if (ws != null) _be.Memory.Return(ws.Block);
                }
                return true;
            }
            if (algos.Length > 0)
                Say($"{Op(dir)} {Describe(s)}: no cuDNN algorithm's workspace fits in device memory; the generic "
                    + "im2col path computes it", warn: true);
            return false;
        }
    }

    // A rented workspace block, boxed so that "none needed" can be null.
    private sealed record Workspace(IlgpuBlock Block);

    /// <summary>
    /// The first algorithm from <paramref name="start"/> on whose workspace <paramref name="rent"/> can supply (none
    /// needed for 0 bytes), with the block. An allocation that fails (<see cref="OutOfMemoryException"/>) is reported
    /// through <paramref name="tooLarge"/> and moves on to the next algorithm needing less (the list is ranked by
    /// speed, not size). Returns the list's length and null when none fits.
    /// </summary>
    internal static (int Index, T? Block) Acquire<T>(IReadOnlyList<CudnnAlgo> algos, int start, Func<long, T> rent,
        Action<CudnnAlgo> tooLarge) where T : class
    {
        long failed = long.MaxValue; // the smallest workspace that could not be allocated
        for (int i = start; i < algos.Count; i++)
        {
            var a = algos[i];
            if (a.WorkspaceBytes >= failed) continue;
            if (a.WorkspaceBytes == 0) return (i, null);
            try
            {
                return (i, rent(a.WorkspaceBytes));
            }
            catch (OutOfMemoryException)
            {
                tooLarge(a);
                failed = a.WorkspaceBytes;
            }
        }
        return (algos.Count, null);
    }

    private void Execute(CudnnConvDirection dir, CudnnConvPlan plan, CudnnAlgo algo,
        Workspace? ws, Buf a, Buf b, Buf outBuf)
    {
        Check(_api.SetConvolutionMathType(plan.Conv, algo.MathType), "cudnnSetConvolutionMathType", dir, plan.Shape);
        IntPtr wsPtr = ws == null ? IntPtr.Zero : ws.Block.View.LoadEffectiveAddressAsPtr();
        var wsBytes = (nuint)algo.WorkspaceBytes;
        IntPtr pa = _be.DevicePointer(a), pb = _be.DevicePointer(b), po = _be.DevicePointer(outBuf);
        float alpha = 1f, beta = 0f; // beta 0: the output is overwritten, never read
        int st = dir switch
        {
            CudnnConvDirection.Forward => _api.ConvolutionForward(_handle, &alpha, plan.X, pa, plan.W, pb, plan.Conv,
                algo.Algo, wsPtr, wsBytes, &beta, plan.Y, po),
            CudnnConvDirection.BackwardData => _api.ConvolutionBackwardData(_handle, &alpha, plan.W, pb, plan.Y, pa,
                plan.Conv, algo.Algo, wsPtr, wsBytes, &beta, plan.X, po),
            _ => _api.ConvolutionBackwardFilter(_handle, &alpha, plan.X, pa, plan.Y, pb, plan.Conv, algo.Algo, wsPtr,
                wsBytes, &beta, plan.W, po),
        };
        Check(st, dir switch
        {
            CudnnConvDirection.Forward => "cudnnConvolutionForward",
            CudnnConvDirection.BackwardData => "cudnnConvolutionBackwardData",
            _ => "cudnnConvolutionBackwardFilter",
        } + $" ({CudnnConvPlan.AlgoName(dir, algo.Algo)}, {CudnnConvPlan.MathName(algo.MathType)})", dir, plan.Shape);
    }

    private static void Check(int status, string call, CudnnConvDirection dir, in Conv2dShape s)
    {
        if (status != Cudnn.Success)
            throw new InvalidOperationException(
                $"{Op(dir)}: {call} failed with {Cudnn.StatusText(status)} for {Describe(s)}");
    }

    // A buffer whose length disagrees with the shape is a caller bug: cuDNN would read or write past it.
    private static void CheckLengths(CudnnConvDirection dir, Conv2dShape s, Buf a, Buf b, Buf outBuf)
    {
        long x = (long)s.N * s.C * s.H * s.W, w = (long)s.O * s.C * s.Kh * s.Kw, y = (long)s.N * s.O * s.OutH * s.OutW;
        var (ea, eb, eo, na, nb, no) = dir switch
        {
            CudnnConvDirection.Forward => (x, w, y, "x", "w", "y"),
            CudnnConvDirection.BackwardData => (y, w, x, "dy", "w", "dx"),
            _ => (x, y, w, "x", "dy", "dw"),
        };
        void One(Buf buf, long expected, string name)
        {
            if (buf.Length != expected)
                throw new ArgumentException($"{Op(dir)}: {name} has {buf.Length} elements, {Describe(s)} needs "
                    + $"{expected}", name);
        }
        One(a, ea, na);
        One(b, eb, nb);
        One(outBuf, eo, no);
    }

    private CudnnConvPlan? Plan(in Conv2dShape s, bool tf32)
    {
        if (_plans.TryGetValue((s, tf32), out var plan)) return plan;
        if (_plans.Count >= MaxPlans)
        {
            foreach (var p in _plans.Values) p?.Destroy();
            _plans.Clear();
        }
        plan = CudnnConvPlan.Create(_api, s, tf32, out var why);
        if (why != null) Say($"conv2d {Describe(s)}: {why}; the generic im2col path computes it", warn: true);
        _plans[(s, tf32)] = plan; // a rejected shape is remembered as null: declined without asking again
        return plan;
    }

    // Creates the handle on first use (cuDNN 9 loads its sublibraries here and at the first heuristic call).
    private bool EnsureHandle()
    {
        if (_handleTried) return _handle != IntPtr.Zero;
        _handleTried = true;
        _be.EnsureBound();
        IntPtr h;
        int st = _api.Create(&h);
        if (st != Cudnn.Success)
        {
            _unavailable = $"cudnnCreate failed with {Cudnn.StatusText(st)}";
        }
        else if ((st = _api.SetStream(h, _be.NativeStream)) != Cudnn.Success)
        {
            _api.Destroy(h);
            _unavailable = $"cudnnSetStream failed with {Cudnn.StatusText(st)}";
        }
        else
        {
            _handle = h;
            return true;
        }
        Say($"{_be.Device}: {_unavailable}; convolutions use im2col + cuBLAS", warn: true);
        return false;
    }

    private static string Op(CudnnConvDirection dir) => dir switch
    {
        CudnnConvDirection.Forward => "conv2d",
        CudnnConvDirection.BackwardData => "conv2d.backward (input gradient)",
        _ => "conv2d.backward (weight gradient)",
    };

    /// <summary>"x (N, C, H, W), w (O, C, Kh, Kw), stride (sh, sw), padding (ph, pw)".</summary>
    public static string Describe(in Conv2dShape s) =>
        $"x ({s.N}, {s.C}, {s.H}, {s.W}), w ({s.O}, {s.C}, {s.Kh}, {s.Kw}), stride ({s.StrideH}, {s.StrideW}), "
        + $"padding ({s.PadH}, {s.PadW})";

    private static void Say(string line, bool warn)
    {
        if (!_said.TryAdd(line, 0)) return;
        if (warn) Trace.TraceWarning("SpikeSharp: " + line);
        else Trace.TraceInformation("SpikeSharp: " + line);
    }
}
