using System.Runtime.CompilerServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU backend's max pooling: one pass over the input per (sample, channel) plane, in parallel over planes,
/// instead of the generic path's window gather (K·K times the input), reduction and one masked scatter per tap.
/// </summary>
internal sealed unsafe class CpuMaxPool : IMaxPool2dKernels
{
    public static CpuMaxPool Instance { get; } = new();

    private CpuMaxPool() { }

    private struct Job
    {
        public Pool2dShape S;
        public float* X, Y;   // forward: x → y; backward: dy (in Y) → dx (in X)
        public int* Arg;      // null when not asked for
    }

    /// <inheritdoc/>
    public bool TryForward(in Pool2dShape s, Buf x, Buf y, Buf? argmax)
    {
        if (s.N * s.C == 0 || s.OutH <= 0 || s.OutW <= 0) return false;
        fixed (float* px = x.Array<float>(), py = y.Array<float>())
        fixed (int* pa = argmax?.Array<int>())
        {
            var job = new Job
            {
                S = s, X = px + x.Offset, Y = py + y.Offset, Arg = pa == null ? null : pa + argmax!.Value.Offset,
            };
            CpuParallel.For(s.N * s.C, in job, static (in Job j, int p0, int p1) => Forward(j, p0, p1),
                Math.Max(1, (1 << 15) / Math.Max(1, s.H * s.W)));
        }
        return true;
    }

    /// <inheritdoc/>
    public bool TryBackward(in Pool2dShape s, Buf dy, Buf argmax, Buf dx)
    {
        if (s.N * s.C == 0 || s.OutH <= 0 || s.OutW <= 0) return false;
        fixed (float* pdy = dy.Array<float>(), pdx = dx.Array<float>())
        fixed (int* pa = argmax.Array<int>())
        {
            var job = new Job { S = s, X = pdx + dx.Offset, Y = pdy + dy.Offset, Arg = pa + argmax.Offset };
            CpuParallel.For(s.N * s.C, in job, static (in Job j, int p0, int p1) => Backward(j, p0, p1),
                Math.Max(1, (1 << 15) / Math.Max(1, s.H * s.W)));
        }
        return true;
    }

    // The value of tap (i, j) of the window at (oh, ow): −∞ on the padding.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tap(in Pool2dShape s, float* plane, int oh, int ow, int i, int j)
    {
        int ih = oh * s.StrideH - s.PadH + i, iw = ow * s.StrideW - s.PadW + j;
        return (uint)ih < (uint)s.H && (uint)iw < (uint)s.W ? plane[ih * s.W + iw] : float.NegativeInfinity;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Forward(in Job j, int p0, int p1)
    {
        var s = j.S;
        int ho = s.OutH, wo = s.OutW, plane = s.H * s.W, outPlane = ho * wo;
        bool pairs = s is { Kh: 2, Kw: 2, StrideH: 2, StrideW: 2, PadH: 0, PadW: 0 };
        for (int p = p0; p < p1; p++)
        {
            float* x = j.X + (long)p * plane, y = j.Y + (long)p * outPlane;
            int* arg = j.Arg == null ? null : j.Arg + (long)p * outPlane;
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    float best; int bi;
                    if (pairs)
                    {
                        // The common 2×2 stride-2 window: four loads, no bounds checks.
                        float* r0 = x + 2 * oh * s.W + 2 * ow, r1 = r0 + s.W;
                        best = r0[0]; bi = 0;
                        Take(r0[1], 1, ref best, ref bi);
                        Take(r1[0], 2, ref best, ref bi);
                        Take(r1[1], 3, ref best, ref bi);
                    }
                    else
                    {
                        best = Tap(s, x, oh, ow, 0, 0); bi = 0;
                        for (int t = 1, kk = s.Kh * s.Kw; t < kk; t++)
                            Take(Tap(s, x, oh, ow, t / s.Kw, t % s.Kw), t, ref best, ref bi);
                    }
                    y[oh * wo + ow] = best;
                    if (arg != null) arg[oh * wo + ow] = bi;
                }
        }
    }

    // The first largest value wins; a NaN beats any number (the generic argmax's rule); a tie keeps the first tap
    // but takes the later value (+0 after −0), as the generic max does. Written without branches: on real data the
    // winning tap is random, and mispredicted jumps cost more than the selects.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(float v, int t, ref float best, ref int bi)
    {
        bool wins = (v > best) | (float.IsNaN(v) & !float.IsNaN(best));
        bi = wins ? t : bi;
        best = wins | (v == best) ? v : best;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Backward(in Job j, int p0, int p1)
    {
        var s = j.S;
        int ho = s.OutH, wo = s.OutW, plane = s.H * s.W, outPlane = ho * wo;
        for (int p = p0; p < p1; p++)
        {
            float* dx = j.X + (long)p * plane, dy = j.Y + (long)p * outPlane;
            int* arg = j.Arg + (long)p * outPlane;
            new Span<float>(dx, plane).Clear();
            // Overlapping windows add into one input in tap order, as the generic path's per-tap scatter does, so
            // the sums round alike; otherwise every input gets at most one value and one pass does.
            bool overlap = s.StrideH < s.Kh || s.StrideW < s.Kw;
            for (int tap = overlap ? 0 : -1, kk = overlap ? s.Kh * s.Kw : 0; tap < kk; tap++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                    {
                        int t = arg[oh * wo + ow];
                        if (overlap && t != tap) continue;
                        int ih = oh * s.StrideH - s.PadH + t / s.Kw, iw = ow * s.StrideW - s.PadW + t % s.Kw;
                        // A maximum on the padding (a window of −∞ only) has nowhere to go.
                        if ((uint)ih < (uint)s.H && (uint)iw < (uint)s.W) dx[ih * s.W + iw] += dy[oh * wo + ow];
                    }
        }
    }
}
