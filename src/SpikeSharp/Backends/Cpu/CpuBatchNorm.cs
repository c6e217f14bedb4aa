using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU batch normalisation (<see cref="IBatchNormKernels"/>): reductions in parallel over channels (each channel
/// summed row by row in SIMD lanes, the row sums added in double precision, in row order, so results do not depend
/// on the thread count); elementwise passes in parallel over (sample, channel) rows. The vector loops evaluate the
/// <see cref="NormMath"/> formulas lane by lane in the same operation order as the scalar tails that call them.
/// </summary>
internal sealed class CpuBatchNorm : IBatchNormKernels
{
    public static CpuBatchNorm Instance { get; } = new();

    private CpuBatchNorm() { }

    private struct Job
    {
        public BatchNormShape S;
        public float[] A, B, Mean, Rstd, Weight, Bias, Out, Sum1, Sum2, RunMean, RunVar;
        public int OffA, OffB, OffMean, OffRstd, OffWeight, OffBias, OffOut, OffSum1, OffSum2, OffRunMean, OffRunVar;
        public bool HasWeight, HasBias, HasRunning, Batch;
        public float Eps, Momentum, Unbias, InvCount;
    }

    /// <inheritdoc/>
    public void Statistics(in BatchNormShape s, Buf x, float eps, float momentum, Buf mean, Buf rstd,
        Buf? runningMean, Buf? runningVar)
    {
        Check(s.Numel, x, "x"); Check(s.C, mean, "mean"); Check(s.C, rstd, "rstd");
        if (s.C == 0 || s.Count == 0) return;
        var j = NewJob(s);
        Set(ref j.A, ref j.OffA, x); Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        j.Eps = eps; j.Momentum = momentum;
        j.Unbias = s.Count > 1 ? s.Count / (s.Count - 1f) : float.PositiveInfinity;
        if (runningMean is { } rm && runningVar is { } rv)
        {
            j.HasRunning = true;
            Set(ref j.RunMean, ref j.OffRunMean, rm); Set(ref j.RunVar, ref j.OffRunVar, rv);
        }
        CpuParallel.For(s.C, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int c0, int c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double sum = 0;
                for (int n = 0; n < j.S.N; n++) sum += CpuRowSums.Sum(Row(j.A, j.OffA, j.S, n, c));
                float m = (float)sum * j.InvCount;
                double sq = 0;
                for (int n = 0; n < j.S.N; n++) sq += CpuRowSums.CentredSquares(Row(j.A, j.OffA, j.S, n, c), m);
                float variance = (float)sq * j.InvCount;
                j.Mean[j.OffMean + c] = m;
                j.Rstd[j.OffRstd + c] = NormMath.Rstd(variance, j.Eps);
                if (!j.HasRunning) continue;
                ref float r1 = ref j.RunMean[j.OffRunMean + c], r2 = ref j.RunVar[j.OffRunVar + c];
                r1 = NormMath.Ema(r1, m, j.Momentum, 1f);
                r2 = NormMath.Ema(r2, variance, j.Momentum, j.Unbias);
            }
        }, Grain(s.Count));
    }

    /// <inheritdoc/>
    public void Normalize(in BatchNormShape s, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias, Buf y)
    {
        Check(s.Numel, x, "x"); Check(s.Numel, y, "y"); Check(s.C, mean, "mean"); Check(s.C, rstd, "rstd");
        if (s.Numel == 0) return;
        var j = NewJob(s);
        Set(ref j.A, ref j.OffA, x); Set(ref j.Out, ref j.OffOut, y);
        Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        if (weight is { } w) { j.HasWeight = true; Set(ref j.Weight, ref j.OffWeight, w); }
        if (bias is { } b) { j.HasBias = true; Set(ref j.Bias, ref j.OffBias, b); }
        CpuParallel.For(s.N * s.C, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int r0, int r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int c = r % j.S.C;
                float m = j.Mean[j.OffMean + c], rs = j.Rstd[j.OffRstd + c];
                float w = j.HasWeight ? j.Weight[j.OffWeight + c] : 1f, b = j.HasBias ? j.Bias[j.OffBias + c] : 0f;
                var src = j.A.AsSpan(j.OffA + r * j.S.S, j.S.S);
                var dst = j.Out.AsSpan(j.OffOut + r * j.S.S, j.S.S);
                var vs = MemoryMarshal.Cast<float, Vector<float>>(src);
                var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
                Vector<float> vm = new(m), vr = new(rs), vw = new(w), vb = new(b);
                for (int i = 0; i < vs.Length; i++) vd[i] = (vs[i] - vm) * vr * vw + vb;
                for (int i = vs.Length * Vector<float>.Count; i < src.Length; i++)
                    dst[i] = NormMath.Affine(NormMath.Xhat(src[i], m, rs), w, b);
            }
        }, Grain(s.S));
    }

    /// <inheritdoc/>
    public void BackwardReduce(in BatchNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf sumG, Buf sumGXhat)
    {
        Check(s.Numel, g, "g"); Check(s.Numel, x, "x"); Check(s.C, mean, "mean"); Check(s.C, rstd, "rstd");
        Check(s.C, sumG, "sumG"); Check(s.C, sumGXhat, "sumGXhat");
        if (s.C == 0) return;
        var j = NewJob(s);
        Set(ref j.A, ref j.OffA, g); Set(ref j.B, ref j.OffB, x);
        Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        Set(ref j.Sum1, ref j.OffSum1, sumG); Set(ref j.Sum2, ref j.OffSum2, sumGXhat);
        CpuParallel.For(s.C, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int c0, int c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                float m = j.Mean[j.OffMean + c], rs = j.Rstd[j.OffRstd + c];
                double s1 = 0, s2 = 0;
                for (int n = 0; n < j.S.N; n++)
                {
                    var (a, b) = GradSums(Row(j.A, j.OffA, j.S, n, c), Row(j.B, j.OffB, j.S, n, c), m, rs);
                    s1 += a; s2 += b;
                }
                j.Sum1[j.OffSum1 + c] = (float)s1;
                j.Sum2[j.OffSum2 + c] = (float)s2;
            }
        }, Grain(s.Count));
    }

    /// <inheritdoc/>
    public void BackwardData(in BatchNormShape s, Buf g, Buf? x, Buf? mean, Buf rstd, Buf? weight, Buf? sumG,
        Buf? sumGXhat, Buf dx)
    {
        Check(s.Numel, g, "g"); Check(s.Numel, dx, "dx"); Check(s.C, rstd, "rstd");
        var j = NewJob(s);
        j.Batch = sumG != null;
        if (j.Batch && (x == null || mean == null || sumGXhat == null))
            throw new ArgumentException("batch_norm: batch statistics need x, mean and both sums", nameof(sumG));
        if (s.Numel == 0) return;
        Set(ref j.A, ref j.OffA, g); Set(ref j.Out, ref j.OffOut, dx); Set(ref j.Rstd, ref j.OffRstd, rstd);
        if (j.Batch)
        {
            Set(ref j.B, ref j.OffB, x!.Value); Set(ref j.Mean, ref j.OffMean, mean!.Value);
            Set(ref j.Sum1, ref j.OffSum1, sumG!.Value); Set(ref j.Sum2, ref j.OffSum2, sumGXhat!.Value);
        }
        if (weight is { } w) { j.HasWeight = true; Set(ref j.Weight, ref j.OffWeight, w); }
        CpuParallel.For(s.N * s.C, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int r0, int r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int c = r % j.S.C;
                float rs = j.Rstd[j.OffRstd + c];
                float scale = j.HasWeight ? rs * j.Weight[j.OffWeight + c] : rs;
                float m = j.Batch ? j.Mean[j.OffMean + c] : 0f;
                float mg = j.Batch ? j.Sum1[j.OffSum1 + c] * j.InvCount : 0f;
                float mgx = j.Batch ? j.Sum2[j.OffSum2 + c] * j.InvCount : 0f;
                var gs = j.A.AsSpan(j.OffA + r * j.S.S, j.S.S);
                var dst = j.Out.AsSpan(j.OffOut + r * j.S.S, j.S.S);
                var vg = MemoryMarshal.Cast<float, Vector<float>>(gs);
                var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
                var vs = new Vector<float>(scale);
                int tail = vg.Length * Vector<float>.Count;
                if (!j.Batch)
                {
                    // Running statistics: x̂ and the means are 0, dx = scale·g.
                    for (int i = 0; i < vg.Length; i++) vd[i] = vs * vg[i];
                    for (int i = tail; i < gs.Length; i++) dst[i] = NormMath.InputGradient(gs[i], 0f, scale, 0f, 0f);
                    continue;
                }
                var xs = j.B.AsSpan(j.OffB + r * j.S.S, j.S.S);
                var vx = MemoryMarshal.Cast<float, Vector<float>>(xs);
                Vector<float> vm = new(m), vr = new(rs), vmg = new(mg), vmgx = new(mgx);
                for (int i = 0; i < vg.Length; i++) vd[i] = vs * (vg[i] - (vx[i] - vm) * vr * vmgx - vmg);
                for (int i = tail; i < gs.Length; i++)
                    dst[i] = NormMath.InputGradient(gs[i], NormMath.Xhat(xs[i], m, rs), scale, mg, mgx);
            }
        }, Grain(s.S));
    }

    // Row n of channel c: S contiguous values.
    private static ReadOnlySpan<float> Row(float[] a, int off, in BatchNormShape s, int n, int c) =>
        a.AsSpan(off + (n * s.C + c) * s.S, s.S);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float, float) GradSums(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mean, float rstd)
    {
        var vg = MemoryMarshal.Cast<float, Vector<float>>(g);
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        Vector<float> a = Vector<float>.Zero, b = Vector<float>.Zero, vm = new(mean), vr = new(rstd);
        for (int i = 0; i < vg.Length; i++) { a += vg[i]; b += vg[i] * ((vx[i] - vm) * vr); }
        float s1 = Vector.Sum(a), s2 = Vector.Sum(b);
        for (int i = vg.Length * Vector<float>.Count; i < g.Length; i++)
        {
            s1 += g[i];
            s2 += g[i] * NormMath.Xhat(x[i], mean, rstd);
        }
        return (s1, s2);
    }

    private static Job NewJob(in BatchNormShape s) => new()
    {
        S = s, InvCount = s.Count > 0 ? 1f / s.Count : 0f,
        A = Array.Empty<float>(), B = Array.Empty<float>(), Mean = Array.Empty<float>(), Rstd = Array.Empty<float>(),
        Weight = Array.Empty<float>(), Bias = Array.Empty<float>(), Out = Array.Empty<float>(),
        Sum1 = Array.Empty<float>(), Sum2 = Array.Empty<float>(), RunMean = Array.Empty<float>(),
        RunVar = Array.Empty<float>(),
    };

    private static void Set(ref float[] array, ref int offset, Buf b)
    {
        array = b.Array<float>();
        offset = b.Offset;
    }

    // Rows or channels per chunk: about 32 K values of work each.
    private static int Grain(int perItem) => Math.Max(1, (1 << 15) / Math.Max(1, perItem));

    private static void Check(long expected, Buf b, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"batch_norm: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"batch_norm: {name} must be float32, got {b.DType.Name()}", name);
    }
}
