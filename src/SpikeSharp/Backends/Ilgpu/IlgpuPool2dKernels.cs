using ILGPU;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>Device views and geometry of one pooling launch.</summary>
internal struct PoolViews
{
    public ArrayView<float> X, Y;
    public ArrayView<byte> Arg;
    public int H, W, Kh, Kw, Sh, Sw, Ph, Pw, Ho, Wo, Total, HasArg;
    public float InvTaps;
    public ulong MagicH, MagicW; // PoolMath.Magic of the strides
}

/// <summary>
/// ILGPU kernels of 2-D pooling: forward one thread per output reading its window once; backward one thread per
/// input summing, in tap order, the windows that contain it (so overlapping windows need no atomics and the sums
/// round as the generic per-tap scatter's). Grid-stride loops track (plane, row, column) with carries
/// (<see cref="IlgpuWalk"/>). The comparison rules and window arithmetic are <see cref="PoolMath"/>, as on the CPU.
/// </summary>
internal static class IlgpuPool2dKernels
{
    /// <summary>Y = window maxima (X input), Arg = their first tap when HasArg.</summary>
    public static void MaxForward(PoolViews v)
    {
        int stride = Grid.DimX * Group.DimX, o = Grid.GlobalIndex.X;
        if (o >= v.Total) return;
        var w = IlgpuWalk.Start(o, stride, v.Wo, v.Ho);
        for (; o < v.Total; o += stride)
        {
            int ih0 = w.Mid * v.Sh - v.Ph, iw0 = w.Lo * v.Sw - v.Pw, plane = w.Hi * v.H * v.W;
            float best = float.NegativeInfinity, first = 0f;
            int arg = 0;
            for (int i = 0; i < v.Kh; i++)
            {
                int ih = ih0 + i;
                bool rowIn = (uint)ih < (uint)v.H;
                for (int j = 0; j < v.Kw; j++)
                {
                    int iw = iw0 + j;
                    float x = rowIn && (uint)iw < (uint)v.W ? v.X[plane + ih * v.W + iw] : float.NegativeInfinity;
                    int t = i * v.Kw + j;
                    if (t == 0) first = x;
                    else if (PoolMath.Beats(x, first)) { first = x; arg = t; }
                    best = PoolMath.MaxValue(best, x);
                }
            }
            v.Y[o] = best;
            if (v.HasArg != 0) v.Arg[o] = (byte)arg;
            w = IlgpuWalk.Next(w);
        }
    }

    /// <summary>Y = window means (zero padding counted).</summary>
    public static void AvgForward(PoolViews v)
    {
        int stride = Grid.DimX * Group.DimX, o = Grid.GlobalIndex.X;
        if (o >= v.Total) return;
        var w = IlgpuWalk.Start(o, stride, v.Wo, v.Ho);
        for (; o < v.Total; o += stride)
        {
            int ih0 = w.Mid * v.Sh - v.Ph, iw0 = w.Lo * v.Sw - v.Pw, plane = w.Hi * v.H * v.W;
            float acc = 0f;
            for (int i = 0; i < v.Kh; i++)
            {
                int ih = ih0 + i;
                bool rowIn = (uint)ih < (uint)v.H;
                for (int j = 0; j < v.Kw; j++)
                {
                    int iw = iw0 + j;
                    acc += rowIn && (uint)iw < (uint)v.W ? v.X[plane + ih * v.W + iw] : 0f;
                }
            }
            v.Y[o] = acc * v.InvTaps;
            w = IlgpuWalk.Next(w);
        }
    }

    /// <summary>X = input gradient from Y = output gradient: max pooling (average when <paramref name="avg"/> ≠ 0).
    /// </summary>
    public static void Backward(PoolViews v, int avg)
    {
        int stride = Grid.DimX * Group.DimX, i = Grid.GlobalIndex.X;
        if (i >= v.Total) return;
        var w = IlgpuWalk.Start(i, stride, v.W, v.H);
        for (; i < v.Total; i += stride)
        {
            int a = w.Mid + v.Ph, b = w.Lo + v.Pw, plane = w.Hi * v.Ho * v.Wo;
            int oh0 = PoolMath.FirstWindow(a, v.Kh, v.Sh, v.MagicH), oh1 = PoolMath.LastWindow(a, v.MagicH, v.Ho);
            int ow0 = PoolMath.FirstWindow(b, v.Kw, v.Sw, v.MagicW), ow1 = PoolMath.LastWindow(b, v.MagicW, v.Wo);
            float acc = 0f;
            // Descending windows are ascending taps: the sum runs in the generic path's tap order.
            for (int oh = oh1; oh >= oh0; oh--)
                for (int ow = ow1; ow >= ow0; ow--)
                {
                    int o = plane + oh * v.Wo + ow;
                    if (avg != 0) acc += v.Y[o] * v.InvTaps;
                    else if (v.Arg[o] == (a - oh * v.Sh) * v.Kw + b - ow * v.Sw) acc += v.Y[o];
                }
            v.X[i] = acc;
            w = IlgpuWalk.Next(w);
        }
    }
}
