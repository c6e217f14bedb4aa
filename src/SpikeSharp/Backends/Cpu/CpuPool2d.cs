using System.Runtime.CompilerServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU pooling (<see cref="IPool2dKernels"/>): one pass over each (sample, channel) plane, in parallel over
/// planes. The backward pass visits each input once and adds the windows that contain it in tap order, as the
/// ILGPU kernels do; the comparison rules and window arithmetic are <see cref="PoolMath"/>.
/// </summary>
internal sealed class CpuPool2d : IPool2dKernels
{
    public static CpuPool2d Instance { get; } = new();

    private CpuPool2d() { }

    private struct Job
    {
        public Pool2dShape S;
        public float[] X, Y;
        public byte[]? Arg;
        public int OffX, OffY, OffArg;
        public bool Avg;
        public int[] OwFirst, OwLast; // backward: the windows along W that contain each input column
        public int[] TapRow, TapCol;  // backward without overlaps: tap t = i·Kw + j as (i, j)
    }

    /// <inheritdoc/>
    public bool TryMaxForward(in Pool2dShape s, Buf x, Buf y, Buf? argmax)
    {
        if (s.Taps > 256 || TooLarge(s)) return false;
        Check(s, x, y);
        if (argmax is { } a) Check(s.OutputNumel, a, DType.UInt8, "argmax");
        var j = NewJob(s, x, y);
        if (argmax is { } am) { j.Arg = am.Array<byte>(); j.OffArg = am.Offset; }
        Run(j, forward: true);
        return true;
    }

    /// <inheritdoc/>
    public bool TryMaxBackward(in Pool2dShape s, Buf dy, Buf argmax, Buf dx)
    {
        if (s.Taps > 256 || TooLarge(s)) return false;
        Check(s, dx, dy);
        Check(s.OutputNumel, argmax, DType.UInt8, "argmax");
        var j = NewJob(s, dx, dy);
        j.Arg = argmax.Array<byte>(); j.OffArg = argmax.Offset;
        Run(j, forward: false);
        return true;
    }

    /// <inheritdoc/>
    public bool TryAvgForward(in Pool2dShape s, Buf x, Buf y)
    {
        if (TooLarge(s)) return false;
        Check(s, x, y);
        var j = NewJob(s, x, y);
        j.Avg = true;
        Run(j, forward: true);
        return true;
    }

    /// <inheritdoc/>
    public bool TryAvgBackward(in Pool2dShape s, Buf dy, Buf dx)
    {
        if (TooLarge(s)) return false;
        Check(s, dx, dy);
        var j = NewJob(s, dx, dy);
        j.Avg = true;
        Run(j, forward: false);
        return true;
    }

    private static void Run(Job j, bool forward)
    {
        var s = j.S;
        int planes = s.N * s.C;
        if (planes == 0 || (forward && s.OutputNumel == 0)) return;
        int grain = Math.Max(1, (1 << 15) / Math.Max(1, s.H * s.W));
        if (forward)
        {
            CpuParallel.For(planes, in j, static (in Job j, int p0, int p1) =>
            {
                for (int p = p0; p < p1; p++) Forward(j, p);
            }, grain);
            return;
        }
        j.OwFirst = new int[s.W];
        j.OwLast = new int[s.W];
        ulong mw = PoolMath.Magic(s.StrideW);
        for (int iw = 0; iw < s.W; iw++)
        {
            j.OwFirst[iw] = PoolMath.FirstWindow(iw + s.PadW, s.Kw, s.StrideW, mw);
            j.OwLast[iw] = PoolMath.LastWindow(iw + s.PadW, mw, s.OutW);
        }
        if (!j.Avg && s.StrideH >= s.Kh && s.StrideW >= s.Kw)
        {
            // Windows do not overlap: each input takes at most one gradient, so the planes are cleared and each
            // output's gradient stored at its tap (0 + g, as the generic sum would give).
            j.TapRow = new int[s.Taps];
            j.TapCol = new int[s.Taps];
            for (int t = 0; t < s.Taps; t++) { j.TapRow[t] = t / s.Kw; j.TapCol[t] = t % s.Kw; }
            CpuParallel.For(planes, in j, static (in Job j, int p0, int p1) =>
            {
                for (int p = p0; p < p1; p++) ScatterBackward(j, p);
            }, grain);
            return;
        }
        CpuParallel.For(planes, in j, static (in Job j, int p0, int p1) =>
        {
            for (int p = p0; p < p1; p++) Backward(j, p);
        }, grain);
    }

    // Optimised from the first call (tier-0 code of these loops is several times slower).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Forward(in Job j, int p)
    {
        var s = j.S;
        int ho = s.OutH, wo = s.OutW;
        var x = j.X.AsSpan(j.OffX + p * s.H * s.W, s.H * s.W);
        var y = j.Y.AsSpan(j.OffY + p * ho * wo, ho * wo);
        var arg = j.Arg == null ? Span<byte>.Empty : j.Arg.AsSpan(j.OffArg + p * ho * wo, ho * wo);
        float inv = 1f / s.Taps;
        if (!j.Avg && s is { Kh: 2, Kw: 2, StrideH: 2, StrideW: 2, PadH: 0, PadW: 0 })
        {
            // The common 2×2 stride-2 window: four loads without bounds tests, the same rules in tap order.
            for (int oh = 0; oh < ho; oh++)
            {
                var r0 = x.Slice(2 * oh * s.W);
                var r1 = x.Slice((2 * oh + 1) * s.W);
                int done = CpuPool2dVector.Max2x2Row(r0, r1, y.Slice(oh * wo, wo),
                    arg.IsEmpty ? arg : arg.Slice(oh * wo, wo));
                for (int ow = done; ow < wo; ow++)
                {
                    float v0 = r0[2 * ow], first = v0, best = PoolMath.MaxValue(float.NegativeInfinity, v0);
                    int at = 0;
                    Take(r0[2 * ow + 1], 1, ref first, ref at, ref best);
                    Take(r1[2 * ow], 2, ref first, ref at, ref best);
                    Take(r1[2 * ow + 1], 3, ref first, ref at, ref best);
                    y[oh * wo + ow] = best;
                    if (!arg.IsEmpty) arg[oh * wo + ow] = (byte)at;
                }
            }
            return;
        }
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++)
            {
                int ih0 = oh * s.StrideH - s.PadH, iw0 = ow * s.StrideW - s.PadW;
                if (j.Avg)
                {
                    float acc = 0f;
                    for (int i = 0; i < s.Kh; i++)
                    {
                        int ih = ih0 + i;
                        bool rowIn = (uint)ih < (uint)s.H;
                        for (int jj = 0; jj < s.Kw; jj++)
                        {
                            int iw = iw0 + jj;
                            acc += rowIn && (uint)iw < (uint)s.W ? x[ih * s.W + iw] : 0f;
                        }
                    }
                    y[oh * wo + ow] = acc * inv;
                    continue;
                }
                float best = float.NegativeInfinity, first = 0f;
                int at = 0;
                for (int i = 0; i < s.Kh; i++)
                {
                    int ih = ih0 + i;
                    bool rowIn = (uint)ih < (uint)s.H;
                    for (int jj = 0; jj < s.Kw; jj++)
                    {
                        int iw = iw0 + jj;
                        float v = rowIn && (uint)iw < (uint)s.W ? x[ih * s.W + iw] : float.NegativeInfinity;
                        int t = i * s.Kw + jj;
                        if (t == 0) first = v;
                        else if (PoolMath.Beats(v, first)) { first = v; at = t; }
                        best = PoolMath.MaxValue(best, v);
                    }
                }
                y[oh * wo + ow] = best;
                if (!arg.IsEmpty) arg[oh * wo + ow] = (byte)at;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(float v, int t, ref float first, ref int at, ref float best)
    {
        if (PoolMath.Beats(v, first)) { first = v; at = t; }
        best = PoolMath.MaxValue(best, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScatterBackward(in Job j, int p)
    {
        var s = j.S;
        int ho = s.OutH, wo = s.OutW;
        var dx = j.X.AsSpan(j.OffX + p * s.H * s.W, s.H * s.W);
        var dy = j.Y.AsSpan(j.OffY + p * ho * wo, ho * wo);
        var arg = j.Arg.AsSpan(j.OffArg + p * ho * wo, ho * wo);
        int[] rows = j.TapRow, cols = j.TapCol;
        dx.Clear();
        for (int oh = 0; oh < ho; oh++)
        {
            int ih0 = oh * s.StrideH - s.PadH;
            for (int ow = 0; ow < wo; ow++)
            {
                int o = oh * wo + ow, t = arg[o];
                int ih = ih0 + rows[t], iw = ow * s.StrideW - s.PadW + cols[t];
                // A maximum on the padding (a window of −∞ only) has nowhere to go.
                if ((uint)ih < (uint)s.H && (uint)iw < (uint)s.W) dx[ih * s.W + iw] = 0f + dy[o];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Backward(in Job j, int p)
    {
        var s = j.S;
        int ho = s.OutH, wo = s.OutW;
        var dx = j.X.AsSpan(j.OffX + p * s.H * s.W, s.H * s.W);
        var dy = j.Y.AsSpan(j.OffY + p * ho * wo, ho * wo);
        var arg = j.Arg == null ? Span<byte>.Empty : j.Arg.AsSpan(j.OffArg + p * ho * wo, ho * wo);
        float inv = 1f / s.Taps;
        ulong mh = PoolMath.Magic(s.StrideH);
        for (int ih = 0; ih < s.H; ih++)
        {
            int a = ih + s.PadH;
            int oh0 = PoolMath.FirstWindow(a, s.Kh, s.StrideH, mh), oh1 = PoolMath.LastWindow(a, mh, ho);
            for (int iw = 0; iw < s.W; iw++)
            {
                int b = iw + s.PadW, ow0 = j.OwFirst[iw], ow1 = j.OwLast[iw];
                float acc = 0f;
                // Descending windows are ascending taps: the sum runs in the generic path's tap order.
                for (int oh = oh1; oh >= oh0; oh--)
                    for (int ow = ow1; ow >= ow0; ow--)
                    {
                        int o = oh * wo + ow;
                        if (j.Avg) acc += dy[o] * inv;
                        else if (arg[o] == (a - oh * s.StrideH) * s.Kw + b - ow * s.StrideW) acc += dy[o];
                    }
                dx[ih * s.W + iw] = acc;
            }
        }
    }

    // PoolMath.Div is exact for padded extents below 2^16 (the generic path takes larger planes).
    private static bool TooLarge(in Pool2dShape s) =>
        s.H + 2 * s.PadH >= PoolMath.MaxExtent || s.W + 2 * s.PadW >= PoolMath.MaxExtent;

    private static Job NewJob(in Pool2dShape s, Buf x, Buf y) => new()
    {
        S = s, X = x.Array<float>(), OffX = x.Offset, Y = y.Array<float>(), OffY = y.Offset,
        OwFirst = Array.Empty<int>(), OwLast = Array.Empty<int>(),
        TapRow = Array.Empty<int>(), TapCol = Array.Empty<int>(),
    };

    private static void Check(in Pool2dShape s, Buf input, Buf output)
    {
        Check(s.InputNumel, input, DType.Float32, "input");
        Check(s.OutputNumel, output, DType.Float32, "output");
    }

    private static void Check(long expected, Buf b, DType dtype, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"pool2d: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != dtype)
            throw new ArgumentException($"pool2d: {name} must be {dtype.Name()}, got {b.DType.Name()}", name);
    }
}
