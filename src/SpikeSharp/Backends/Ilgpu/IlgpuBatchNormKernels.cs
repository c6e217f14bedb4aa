using ILGPU;
using SpikeSharp.Kernels;
using SpikeSharp.Neurons.Ilgpu;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>Device views and sizes of one batch-norm launch (one struct keeps the kernels' signatures short).
/// </summary>
internal struct BnViews
{
    public ArrayView<float> A, B, Mean, Rstd, Weight, Bias, Out, Part1, Part2, Sum1, Sum2, RunMean, RunVar;
    public ArrayView<Vec4> A4, B4, Out4; // the same windows four floats at a time, when S % 4 == 0 and aligned
    public int C, S, Count, Total, P, Chunk, HasWeight, HasBias, HasRunning, BatchStats;
    public float InvCount, Eps, Momentum, Unbias;
}

/// <summary>What one per-channel reduction pass sums: the first term always, the second when
/// <see cref="Two"/>.</summary>
internal interface IBnTerm
{
    bool Two { get; }
    float First(float a, float b, float mean, float rstd);
    float Second(float a, float b, float mean, float rstd);
}

/// <summary>Σx.</summary>
internal struct BnSumTerm : IBnTerm
{
    public readonly bool Two => false;
    public readonly float First(float a, float b, float mean, float rstd) => a;
    public readonly float Second(float a, float b, float mean, float rstd) => 0f;
}

/// <summary>Σ(x − μ)², μ taken from the first pass's partials.</summary>
internal struct BnCentredSquareTerm : IBnTerm
{
    public readonly bool Two => false;
    public readonly float First(float a, float b, float mean, float rstd) { float d = a - mean; return d * d; }
    public readonly float Second(float a, float b, float mean, float rstd) => 0f;
}

/// <summary>Σg and Σg·x̂ (a = g, b = x).</summary>
internal struct BnGradTerm : IBnTerm
{
    public readonly bool Two => true;
    public readonly float First(float a, float b, float mean, float rstd) => a;
    public readonly float Second(float a, float b, float mean, float rstd) => a * NormMath.Xhat(b, mean, rstd);
}

/// <summary>
/// ILGPU kernels of batch normalisation over x viewed as (N, C, S). A per-channel reduction uses the whole device:
/// each channel's N·S values are split into P contiguous ranges, one group per (channel, range) writes a partial
/// sum (its threads' sums combined by a shuffle tree), and the partials are added in range order by the next kernel,
/// so results are deterministic (fixed by the shape and the device, not by timing). The elementwise kernels are
/// grid-stride loops that track the channel with carries (<see cref="IlgpuWalk"/>). The math is
/// <see cref="NormMath"/>, as on the CPU.
/// </summary>
internal static class IlgpuBatchNormKernels
{
    /// <summary>
    /// Partials of one reduction pass: Part1[c·P + p] (and Part2 when the term has two) over range p of channel c.
    /// With <paramref name="meanFromPartials"/> ≠ 0 the mean the term sees is Σ_p Sum1[c·P + p]·InvCount
    /// (the first pass's partials, added in the same order as <see cref="Combine"/>); else Mean[c], with Rstd[c].
    /// </summary>
    public static void Partials<TTerm>(BnViews v, int meanFromPartials, TTerm term) where TTerm : struct, IBnTerm
    {
        int items = v.C * v.P, g = Group.DimX, t = Group.IdxX;
        for (int item = Grid.IdxX; item < items; item += Grid.DimX)
        {
            int c = item / v.P, p = item - c * v.P;
            float mean = 0f, rstd = 0f;
            if (meanFromPartials != 0)
            {
                for (int j = 0; j < v.P; j++) mean += v.Sum1[c * v.P + j];
                mean *= v.InvCount;
            }
            else if (term.Two)
            {
                mean = v.Mean[c];
                rstd = v.Rstd[c];
            }
            int k0 = p * v.Chunk, k1 = k0 + v.Chunk < v.Count ? k0 + v.Chunk : v.Count;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;
            int k = k0 + t;
            if (k < k1)
            {
                var w = IlgpuWalk.Start(k, g, v.S, int.MaxValue);
                // Four loads in flight per thread: one each would leave the memory system underused.
                for (; k + 3 * g < k1; k += 4 * g)
                {
                    int i0 = (w.Mid * v.C + c) * v.S + w.Lo; w = IlgpuWalk.Next(w);
                    int i1 = (w.Mid * v.C + c) * v.S + w.Lo; w = IlgpuWalk.Next(w);
                    int i2 = (w.Mid * v.C + c) * v.S + w.Lo; w = IlgpuWalk.Next(w);
                    int i3 = (w.Mid * v.C + c) * v.S + w.Lo; w = IlgpuWalk.Next(w);
                    float x0 = v.A[i0], x1 = v.A[i1], x2 = v.A[i2], x3 = v.A[i3];
                    if (term.Two)
                    {
                        float y0 = v.B[i0], y1 = v.B[i1], y2 = v.B[i2], y3 = v.B[i3];
                        a0 += term.First(x0, y0, mean, rstd); b0 += term.Second(x0, y0, mean, rstd);
                        a1 += term.First(x1, y1, mean, rstd); b1 += term.Second(x1, y1, mean, rstd);
                        a2 += term.First(x2, y2, mean, rstd); b2 += term.Second(x2, y2, mean, rstd);
                        a3 += term.First(x3, y3, mean, rstd); b3 += term.Second(x3, y3, mean, rstd);
                    }
                    else
                    {
                        a0 += term.First(x0, 0f, mean, rstd); a1 += term.First(x1, 0f, mean, rstd);
                        a2 += term.First(x2, 0f, mean, rstd); a3 += term.First(x3, 0f, mean, rstd);
                    }
                }
                for (; k < k1; k += g)
                {
                    int i = (w.Mid * v.C + c) * v.S + w.Lo; w = IlgpuWalk.Next(w);
                    float x = v.A[i], y = term.Two ? v.B[i] : 0f;
                    a0 += term.First(x, y, mean, rstd);
                    if (term.Two) b0 += term.Second(x, y, mean, rstd);
                }
            }
            float sa = IlgpuBackend.BlockReduce((a0 + a1) + (a2 + a3), new SumOp());
            if (t == 0) v.Part1[item] = sa;
            if (term.Two)
            {
                float sb = IlgpuBackend.BlockReduce((b0 + b1) + (b2 + b3), new SumOp());
                if (t == 0) v.Part2[item] = sb;
            }
            // The next item's reduction reuses the shared memory that warp 0 may still be reading.
            Group.Barrier();
        }
    }

    /// <summary>
    /// One thread per channel adds the P partials in order. Statistics (<paramref name="stats"/> ≠ 0): Part1 = Σx,
    /// Part2 = Σ(x − μ)² give Mean, Rstd and the running statistics' update; else Sum1 = Σg, Sum2 = Σg·x̂.
    /// </summary>
    public static void Combine(Index1D c, BnViews v, int stats)
    {
        float s1 = 0f, s2 = 0f;
        for (int j = 0; j < v.P; j++) { s1 += v.Part1[c * v.P + j]; s2 += v.Part2[c * v.P + j]; }
        if (stats == 0)
        {
            v.Sum1[c] = s1;
            v.Sum2[c] = s2;
            return;
        }
        float mean = s1 * v.InvCount, variance = s2 * v.InvCount;
        v.Mean[c] = mean;
        v.Rstd[c] = NormMath.Rstd(variance, v.Eps);
        if (v.HasRunning != 0)
        {
            v.RunMean[c] = NormMath.Ema(v.RunMean[c], mean, v.Momentum, 1f);
            v.RunVar[c] = NormMath.Ema(v.RunVar[c], variance, v.Momentum, v.Unbias);
        }
    }

    /// <summary>Out = (A − Mean)·Rstd·γ + β over all elements.</summary>
    public static void Normalize(BnViews v)
    {
        int stride = Grid.DimX * Group.DimX, i = Grid.GlobalIndex.X;
        if (i >= v.Total) return;
        var w = IlgpuWalk.Start(i, stride, v.S, v.C);
        for (; i < v.Total; i += stride)
        {
            int c = w.Mid;
            float wt = v.HasWeight != 0 ? v.Weight[c] : 1f, bs = v.HasBias != 0 ? v.Bias[c] : 0f;
            v.Out[i] = NormMath.Affine(NormMath.Xhat(v.A[i], v.Mean[c], v.Rstd[c]), wt, bs);
            w = IlgpuWalk.Next(w);
        }
    }

    /// <summary>Out = dx from A = g, B = x (read only with batch statistics) and the sums of the reduction pass.
    /// </summary>
    public static void InputGradient(BnViews v)
    {
        int stride = Grid.DimX * Group.DimX, i = Grid.GlobalIndex.X;
        if (i >= v.Total) return;
        var w = IlgpuWalk.Start(i, stride, v.S, v.C);
        for (; i < v.Total; i += stride)
        {
            int c = w.Mid;
            float rstd = v.Rstd[c];
            float scale = v.HasWeight != 0 ? rstd * v.Weight[c] : rstd;
            float xhat = 0f, meanG = 0f, meanGXhat = 0f;
            if (v.BatchStats != 0)
            {
                xhat = NormMath.Xhat(v.B[i], v.Mean[c], rstd);
                meanG = v.Sum1[c] * v.InvCount;
                meanGXhat = v.Sum2[c] * v.InvCount;
            }
            v.Out[i] = NormMath.InputGradient(v.A[i], xhat, scale, meanG, meanGXhat);
            w = IlgpuWalk.Next(w);
        }
    }

    /// <summary><see cref="Normalize"/> four elements of one channel per access (16-byte loads and stores).
    /// </summary>
    public static void Normalize4(BnViews v)
    {
        int stride = Grid.DimX * Group.DimX, i = Grid.GlobalIndex.X, total = v.Total / 4;
        if (i >= total) return;
        var w = IlgpuWalk.Start(i, stride, v.S / 4, v.C);
        for (; i < total; i += stride)
        {
            int c = w.Mid;
            float m = v.Mean[c], r = v.Rstd[c];
            float wt = v.HasWeight != 0 ? v.Weight[c] : 1f, bs = v.HasBias != 0 ? v.Bias[c] : 0f;
            var a = v.A4[i];
            Vec4 y;
            y.X = NormMath.Affine(NormMath.Xhat(a.X, m, r), wt, bs);
            y.Y = NormMath.Affine(NormMath.Xhat(a.Y, m, r), wt, bs);
            y.Z = NormMath.Affine(NormMath.Xhat(a.Z, m, r), wt, bs);
            y.W = NormMath.Affine(NormMath.Xhat(a.W, m, r), wt, bs);
            v.Out4[i] = y;
            w = IlgpuWalk.Next(w);
        }
    }

    /// <summary><see cref="InputGradient"/> four elements of one channel per access.</summary>
    public static void InputGradient4(BnViews v)
    {
        int stride = Grid.DimX * Group.DimX, i = Grid.GlobalIndex.X, total = v.Total / 4;
        if (i >= total) return;
        var w = IlgpuWalk.Start(i, stride, v.S / 4, v.C);
        for (; i < total; i += stride)
        {
            int c = w.Mid;
            float rstd = v.Rstd[c];
            float scale = v.HasWeight != 0 ? rstd * v.Weight[c] : rstd;
            var g = v.A4[i];
            Vec4 dx;
            if (v.BatchStats != 0)
            {
                float m = v.Mean[c], meanG = v.Sum1[c] * v.InvCount, meanGXhat = v.Sum2[c] * v.InvCount;
                var x = v.B4[i];
                dx.X = NormMath.InputGradient(g.X, NormMath.Xhat(x.X, m, rstd), scale, meanG, meanGXhat);
                dx.Y = NormMath.InputGradient(g.Y, NormMath.Xhat(x.Y, m, rstd), scale, meanG, meanGXhat);
                dx.Z = NormMath.InputGradient(g.Z, NormMath.Xhat(x.Z, m, rstd), scale, meanG, meanGXhat);
                dx.W = NormMath.InputGradient(g.W, NormMath.Xhat(x.W, m, rstd), scale, meanG, meanGXhat);
            }
            else
            {
                dx.X = NormMath.InputGradient(g.X, 0f, scale, 0f, 0f);
                dx.Y = NormMath.InputGradient(g.Y, 0f, scale, 0f, 0f);
                dx.Z = NormMath.InputGradient(g.Z, 0f, scale, 0f, 0f);
                dx.W = NormMath.InputGradient(g.W, 0f, scale, 0f, 0f);
            }
            v.Out4[i] = dx;
            w = IlgpuWalk.Next(w);
        }
    }
}
