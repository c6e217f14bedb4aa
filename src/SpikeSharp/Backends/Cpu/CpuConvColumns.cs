using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The columns of one sample of a convolution and their adjoint, the building blocks of <see cref="CpuConv"/>:
/// a (C·Kh·Kw, OutH·OutW) row-major matrix whose row (c, i, j) holds the input values kernel tap (i, j) of channel
/// c meets at every output position (zero where the tap falls on padding). Rows are in the weight's (C, Kh, Kw)
/// order, so the (O, C, Kh, Kw) weight is the GEMM's (O, K) matrix as stored. One sample's columns are small
/// (K·L floats: 220 KiB for a 3×3 conv of 32 channels at 14×14) and stay in cache for the GEMM that reads them.
/// </summary>
internal static unsafe class CpuConvColumns
{
    /// <summary>Whether the columns are the input itself (1×1 kernel, stride 1, no padding): no copy needed.</summary>
    public static bool IsIdentity(in Conv2dShape s) =>
        s is { Kh: 1, Kw: 1, StrideH: 1, StrideW: 1, PadH: 0, PadW: 0 };

    /// <summary>The output columns [lo, hi) whose tap at kernel column <paramref name="j"/> lands inside the input
    /// (iw = ow·StrideW − PadW + j in [0, W)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int lo, int hi) ValidColumns(in Conv2dShape s, int wo, int j)
    {
        int first = s.PadW - j, lo = first <= 0 ? 0 : (first + s.StrideW - 1) / s.StrideW;
        int last = s.W - 1 + s.PadW - j, hi = last < 0 ? 0 : Math.Min(wo, last / s.StrideW + 1);
        lo = Math.Min(lo, wo);
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>cols (K, L) = the columns of sample x (C, H, W).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Im2Col(in Conv2dShape s, float* x, float* cols)
    {
        int ho = s.OutH, wo = s.OutW, l = ho * wo, plane = s.H * s.W;
        for (int c = 0; c < s.C; c++)
            for (int i = 0; i < s.Kh; i++)
                for (int j = 0; j < s.Kw; j++)
                {
                    float* row = cols + (long)((c * s.Kh + i) * s.Kw + j) * l;
                    float* xc = x + (long)c * plane;
                    var (lo, hi) = ValidColumns(s, wo, j);
                    for (int oh = 0; oh < ho; oh++)
                    {
                        float* r = row + oh * wo;
                        int ih = oh * s.StrideH - s.PadH + i;
                        if ((uint)ih >= (uint)s.H || lo == hi)
                        {
                            new Span<float>(r, wo).Clear();
                            continue;
                        }
                        for (int ow = 0; ow < lo; ow++) r[ow] = 0f;
                        for (int ow = hi; ow < wo; ow++) r[ow] = 0f;
                        float* src = xc + ih * s.W + lo * s.StrideW - s.PadW + j;
                        if (s.StrideW == 1)
                            new ReadOnlySpan<float>(src, hi - lo).CopyTo(new Span<float>(r + lo, hi - lo));
                        else
                            for (int ow = lo, q = 0; ow < hi; ow++, q += s.StrideW) r[ow] = src[q];
                    }
                }
    }

    /// <summary>dx (C, H, W) = the adjoint of <see cref="Im2Col"/> applied to dcols (K, L): every column value added
    /// to the input position it was read from. Overwrites dx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Col2Im(in Conv2dShape s, float* dcols, float* dx)
    {
        int ho = s.OutH, wo = s.OutW, l = ho * wo, plane = s.H * s.W;
        new Span<float>(dx, s.C * plane).Clear();
        for (int c = 0; c < s.C; c++)
            for (int i = 0; i < s.Kh; i++)
                for (int j = 0; j < s.Kw; j++)
                {
                    float* row = dcols + (long)((c * s.Kh + i) * s.Kw + j) * l;
                    float* xc = dx + (long)c * plane;
                    var (lo, hi) = ValidColumns(s, wo, j);
                    if (lo == hi) continue;
                    for (int oh = 0; oh < ho; oh++)
                    {
                        int ih = oh * s.StrideH - s.PadH + i;
                        if ((uint)ih >= (uint)s.H) continue;
                        float* r = row + oh * wo;
                        float* dst = xc + ih * s.W + lo * s.StrideW - s.PadW + j;
                        if (s.StrideW == 1)
                        {
                            var d = new Span<float>(dst, hi - lo);
                            TensorPrimitives.Add(d, new ReadOnlySpan<float>(r + lo, hi - lo), d);
                        }
                        else
                            for (int ow = lo, q = 0; ow < hi; ow++, q += s.StrideW) dst[q] += r[ow];
                    }
                }
    }
}
