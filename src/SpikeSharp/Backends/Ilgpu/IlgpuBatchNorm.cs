using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Neurons.Ilgpu;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// The ILGPU batch normalisation (<see cref="IBatchNormKernels"/>): training statistics in three launches (Σx
/// partials, Σ(x − μ)² partials, one thread per channel combining them), the normalisation in one, the backward
/// pass in three (Σg and Σg·x̂ partials, combine, dx). Kernels: <see cref="IlgpuBatchNormKernels"/>.
/// </summary>
internal sealed class IlgpuBatchNorm(IlgpuBackend backend) : IBatchNormKernels
{
    /// <summary>Ranges per channel for the next reductions on this thread when positive (tests exercise several
    /// ranges on the emulated device, which would otherwise use one).</summary>
    [ThreadStatic] internal static int SplitsOverride;

    /// <inheritdoc/>
    public void Statistics(in BatchNormShape s, Buf x, float eps, float momentum, Buf mean, Buf rstd,
        Buf? runningMean, Buf? runningVar)
    {
        Check(s, x, mean, rstd);
        if (s.C == 0 || s.Count == 0) return;
        int p = Splits(s);
        var part = backend.Allocate(DType.Float32, 2 * s.C * p);
        try
        {
            var v = Views(s, p);
            v.A = View(x);
            v.Part1 = Part(part, 0, s.C * p);
            v.Sum1 = v.Part1;
            v.Part2 = Part(part, s.C * p, s.C * p);
            v.Mean = View(mean); v.Rstd = View(rstd);
            v.Eps = eps; v.Momentum = momentum;
            v.Unbias = s.Count > 1 ? s.Count / (s.Count - 1f) : float.PositiveInfinity;
            if (runningMean is { } rm && runningVar is { } rv)
            {
                v.HasRunning = 1;
                v.RunMean = View(rm); v.RunVar = View(rv);
            }
            else v.RunMean = v.RunVar = v.Mean;
            var sum = backend.Kernel("batch_norm_partials", a =>
                a.LoadKernel<BnViews, int, BnSumTerm>(IlgpuBatchNormKernels.Partials));
            v = Complete(v);
            sum(backend.Stream, Groups(s.C * p), v, 0, default);
            // The centred pass writes its partials after the first's: it reads those (Sum1) for the mean.
            var sq = v;
            sq.Part1 = v.Part2;
            var centred = backend.Kernel("batch_norm_partials", a =>
                a.LoadKernel<BnViews, int, BnCentredSquareTerm>(IlgpuBatchNormKernels.Partials));
            centred(backend.Stream, Groups(s.C * p), sq, 1, default);
            Combine(s.C, v, 1);
        }
        finally { part.Release(); }
    }

    /// <inheritdoc/>
    public void Normalize(in BatchNormShape s, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias, Buf y)
    {
        Check(s, x, mean, rstd);
        CheckLen(s.Numel, y, "y");
        if (s.Numel == 0) return;
        var v = Views(s, 1);
        v.A = View(x); v.Out = View(y); v.Mean = View(mean); v.Rstd = View(rstd);
        v.Weight = weight is { } w ? View(w) : v.Mean; v.HasWeight = weight != null ? 1 : 0;
        v.Bias = bias is { } b ? View(b) : v.Mean; v.HasBias = bias != null ? 1 : 0;
        if (UseVec4(s, x, y))
        {
            v.A4 = V4(x); v.Out4 = V4(y);
            var k4 = backend.Kernel("batch_norm_normalize4", a =>
                a.LoadKernel<BnViews>(IlgpuBatchNormKernels.Normalize4));
            k4(backend.Stream, backend.Launch1D(s.Numel / 4), Complete(v));
            return;
        }
        var kn = backend.Kernel("batch_norm_normalize", a => a.LoadKernel<BnViews>(IlgpuBatchNormKernels.Normalize));
        kn(backend.Stream, backend.Launch1D(s.Numel), Complete(v));
    }

    /// <inheritdoc/>
    public void BackwardReduce(in BatchNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf sumG, Buf sumGXhat)
    {
        Check(s, x, mean, rstd);
        CheckLen(s.Numel, g, "g"); CheckLen(s.C, sumG, "sumG"); CheckLen(s.C, sumGXhat, "sumGXhat");
        if (s.C == 0) return;
        if (s.Count == 0) { backend.Fill(sumG, 0f); backend.Fill(sumGXhat, 0f); return; }
        int p = Splits(s);
        var part = backend.Allocate(DType.Float32, 2 * s.C * p);
        try
        {
            var v = Views(s, p);
            v.A = View(g); v.B = View(x); v.Mean = View(mean); v.Rstd = View(rstd);
            v.Part1 = Part(part, 0, s.C * p);
            v.Part2 = Part(part, s.C * p, s.C * p);
            v.Sum1 = View(sumG); v.Sum2 = View(sumGXhat);
            var k = backend.Kernel("batch_norm_partials", a =>
                a.LoadKernel<BnViews, int, BnGradTerm>(IlgpuBatchNormKernels.Partials));
            v = Complete(v);
            k(backend.Stream, Groups(s.C * p), v, 0, default);
            Combine(s.C, v, 0);
        }
        finally { part.Release(); }
    }

    /// <inheritdoc/>
    public void BackwardData(in BatchNormShape s, Buf g, Buf? x, Buf? mean, Buf rstd, Buf? weight, Buf? sumG,
        Buf? sumGXhat, Buf dx)
    {
        CheckLen(s.Numel, g, "g"); CheckLen(s.Numel, dx, "dx"); CheckLen(s.C, rstd, "rstd");
        bool batch = sumG != null;
        if (batch && (x == null || mean == null || sumGXhat == null))
            throw new ArgumentException("batch_norm: batch statistics need x, mean and both sums", nameof(sumG));
        if (s.Numel == 0) return;
        var v = Views(s, 1);
        v.A = View(g); v.Out = View(dx); v.Rstd = View(rstd);
        v.B = batch ? View(x!.Value) : v.A;
        v.Mean = batch ? View(mean!.Value) : v.Rstd;
        v.Sum1 = batch ? View(sumG!.Value) : v.Rstd;
        v.Sum2 = batch ? View(sumGXhat!.Value) : v.Rstd;
        v.BatchStats = batch ? 1 : 0;
        v.Weight = weight is { } w ? View(w) : v.Rstd; v.HasWeight = weight != null ? 1 : 0;
        if (UseVec4(s, g, dx, x))
        {
            v.A4 = V4(g); v.Out4 = V4(dx); v.B4 = batch ? V4(x!.Value) : v.A4;
            var k4 = backend.Kernel("batch_norm_input_gradient4", a =>
                a.LoadKernel<BnViews>(IlgpuBatchNormKernels.InputGradient4));
            k4(backend.Stream, backend.Launch1D(s.Numel / 4), Complete(v));
            return;
        }
        var k = backend.Kernel("batch_norm_input_gradient", a =>
            a.LoadKernel<BnViews>(IlgpuBatchNormKernels.InputGradient));
        k(backend.Stream, backend.Launch1D(s.Numel), Complete(v));
    }

    // One thread per channel adds each channel's partials in order.
    private void Combine(int c, BnViews v, int stats)
    {
        var k = backend.Kernel("batch_norm_combine", a =>
            a.LoadAutoGroupedKernel<Index1D, BnViews, int>(IlgpuBatchNormKernels.Combine));
        k(backend.Stream, c, v, stats);
    }

    // Ranges per channel: enough groups in all to fill the device, each range at least four values per thread.
    private int Splits(in BatchNormShape s)
    {
        if (SplitsOverride > 0) return Math.Min(SplitsOverride, Math.Max(1, s.Count));
        long target = backend.IsCuda ? backend.MaxGroups : 1;
        long byWork = Math.Max(1, s.Count / (4L * backend.GroupSize));
        return (int)Math.Clamp(Math.Min(target / Math.Max(1, s.C), byWork), 1, 1024);
    }

    private BnViews Views(in BatchNormShape s, int p)
    {
        var v = new BnViews
        {
            C = s.C, S = s.S, Count = s.Count, Total = s.Numel, P = p, Chunk = (s.Count + p - 1) / p,
            InvCount = s.Count > 0 ? 1f / s.Count : 0f,
        };
        return v;
    }

    /// <summary>Whether the elementwise passes may move four floats per access (S % 4 == 0, buffers 16-byte
    /// aligned); off in tests that compare the two kernels.</summary>
    [ThreadStatic] internal static bool ScalarOnly;

    private static bool UseVec4(in BatchNormShape s, params Buf?[] bufs) =>
        !ScalarOnly && s.S % 4 == 0 && bufs.All(b => b is not { } x || x.Offset % 4 == 0);

    private ArrayView<Vec4> V4(Buf b) => View(b).Cast<Vec4>();

    // Views a kernel does not read still have to be valid arguments: they alias one that is.
    private static BnViews Complete(BnViews v)
    {
        var any = v.A;
        static ArrayView<float> Or(ArrayView<float> a, ArrayView<float> b) => a.IsValid ? a : b;
        v.B = Or(v.B, any); v.Mean = Or(v.Mean, any); v.Rstd = Or(v.Rstd, any); v.Weight = Or(v.Weight, any);
        v.Bias = Or(v.Bias, any); v.Out = Or(v.Out, any); v.Part1 = Or(v.Part1, any); v.Part2 = Or(v.Part2, any);
        v.Sum1 = Or(v.Sum1, any); v.Sum2 = Or(v.Sum2, any); v.RunMean = Or(v.RunMean, any);
        v.RunVar = Or(v.RunVar, any);
        if (!v.A4.IsValid) v.A4 = ArrayView<Vec4>.Empty;
        if (!v.B4.IsValid) v.B4 = v.A4;
        if (!v.Out4.IsValid) v.Out4 = v.A4;
        return v;
    }

    private KernelConfig Groups(int items) =>
        new(Math.Clamp(items, 1, backend.IsCuda ? int.MaxValue : backend.MaxGroups), backend.GroupSize);

    private ArrayView<float> View(Buf b) => backend.View<float>(b);

    private ArrayView<float> Part(Storage st, int offset, int length) => View(new Buf(st, offset, length));

    private static void Check(in BatchNormShape s, Buf x, Buf mean, Buf rstd)
    {
        CheckLen(s.Numel, x, "x"); CheckLen(s.C, mean, "mean"); CheckLen(s.C, rstd, "rstd");
    }

    private static void CheckLen(long expected, Buf b, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"batch_norm: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"batch_norm: {name} must be float32, got {b.DType.Name()}", name);
    }
}
