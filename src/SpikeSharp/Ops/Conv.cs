using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// 2-D convolution by im2col: one rank-6 Gather builds the columns, one GEMM multiplies them with the
// weight; the Gather's adjoint (col2im) is one ScatterAdd per kernel tap, whose targets are distinct.
public sealed partial class Tensor
{
    /// <summary>
    /// Sliding windows of x: (N, C, H, W) → (kh·kw, C, N, Ho, Wo) when <paramref name="channelsOuter"/>
    /// (the layout conv's GEMM wants: K = (tap, C) rows, N·Ho·Wo columns), else (kh·kw, N, C, Ho, Wo) (pooling
    /// reduces over the leading tap dim). The border is padded with <paramref name="padValue"/>.
    /// Differentiable with respect to x.
    /// </summary>
    internal static Tensor Unfold2d(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw, float padValue, bool channelsOuter, string op)
    {
        x.CheckFloat(op);
        if (x.Rank != 4) throw new ArgumentException($"{op}: expected input (N, C, H, W), got {ShapeUtil.Format(x._shape)}", "input");
        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0)
            throw new ArgumentException($"{op}: kernel ({kh}, {kw}) and stride ({sh}, {sw}) must be positive and padding ({ph}, {pw}) non-negative");
        int n = x._shape[0], c = x._shape[1], h = x._shape[2], w = x._shape[3];
        int hp = h + 2 * ph, wp = w + 2 * pw;
        if (hp < kh || wp < kw)
            throw new ArgumentException($"{op}: kernel ({kh}, {kw}) is larger than the padded input ({hp}, {wp}) of {ShapeUtil.Format(x._shape)}", "input");
        int ho = (hp - kh) / sh + 1, wo = (wp - kw) / sw + 1;
        bool padded = ph > 0 || pw > 0;
        int sC = hp * wp, sN = c * hp * wp, interior = ph * wp + pw;
        var innerIdx = StridedIndex.Create(new[] { n, c, h, w }, new[] { sN, sC, wp, 1 });

        Tensor src = x;
        if (padded)
        {
            src = Full(new[] { n, c, hp, wp }, padValue, DType.Float32, x.Device);
            if (x.Numel > 0) x.Backend.Scatter(x.Buf, Sub(src, interior), innerIdx);
        }
        int[] outShape = channelsOuter ? new[] { kh * kw, c, n, ho, wo } : new[] { kh * kw, n, c, ho, wo };
        int sA = channelsOuter ? sC : sN, sB = channelsOuter ? sN : sC, a = outShape[1], b = outShape[2];
        var cols = Empty(outShape, DType.Float32, x.Device);
        if (cols.Numel > 0)
            x.Backend.Gather(src.Buf, StridedIndex.Create(new[] { kh, kw, a, b, ho, wo }, new[] { wp, 1, sA, sB, sh * wp, sw }), cols.Buf);
        if (padded) src.Dispose();

        var inShape = x._shape;
        return Tape.Record(op, cols, g =>
        {
            // col2im: taps overlap each other, so each tap is its own ScatterAdd (distinct targets within a call).
            var gp = Zeros(new[] { n, c, hp, wp }, g.Device);
            int m = a * b * ho * wo;
            var tapIdx = StridedIndex.Create(new[] { a, b, ho, wo }, new[] { sA, sB, sh * wp, sw });
            if (m > 0)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                    {
                        int t = i * kw + j;
                        g.Backend.ScatterAdd(new Buf(g.Storage, g._offset + t * m, m), Sub(gp, i * wp + j), tapIdx);
                    }
            if (!padded) return new Tensor?[] { gp };
            var gx = Empty(inShape, DType.Float32, g.Device);
            if (gx.Numel > 0) g.Backend.Gather(Sub(gp, interior), innerIdx, gx.Buf);
            gp.Dispose();
            return new Tensor?[] { gx };
        }, x);
    }

    // The tail of t's storage window starting at element `start`.
    private static Buf Sub(Tensor t, int start) => new(t.Storage, t._offset + start, t.Numel - start);

    /// <summary>
    /// 2-D convolution (cross-correlation, as in PyTorch). x: (N, C, H, W) or (T, B, C, H, W) (time folded into
    /// the batch); weight: (O, C, kh, kw); bias: (O) or null. Output (N, O, Ho, Wo) with
    /// Ho = (H + 2·padH − kh) / strideH + 1.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, (int H, int W)? stride = null, (int H, int W)? padding = null)
    {
        if (x.Rank == 5)
        {
            var y5 = Conv2d(x.Flatten(0, 1), weight, bias, stride, padding);
            return y5.Reshape(new[] { x._shape[0], x._shape[1] }.Concat(y5._shape.Skip(1)).ToArray());
        }
        var (sh, sw) = stride ?? (1, 1);
        var (ph, pw) = padding ?? (0, 0);
        if (weight.Rank != 4) throw new ArgumentException($"conv2d: weight must be (O, C, kh, kw), got {ShapeUtil.Format(weight._shape)}", nameof(weight));
        if (x.Rank != 4 || x._shape[1] != weight._shape[1])
            throw new ArgumentException($"conv2d: input must be (N, C, H, W) or (T, B, C, H, W) with C = {weight._shape[1]} (weight {ShapeUtil.Format(weight._shape)}), got {ShapeUtil.Format(x._shape)}", nameof(x));
        int o = weight._shape[0], c = weight._shape[1], kh = weight._shape[2], kw = weight._shape[3];
        if (bias != null && (bias.Rank != 1 || bias._shape[0] != o))
            throw new ArgumentException($"conv2d: bias must be ({o}), got {ShapeUtil.Format(bias._shape)}", nameof(bias));
        x.CheckSameDevice(weight, "conv2d");
        int n = x._shape[0];
        var cols = Unfold2d(x, kh, kw, sh, sw, ph, pw, 0f, channelsOuter: true, "conv2d");
        int ho = cols._shape[3], wo = cols._shape[4], l = ho * wo;
        // Rows of the column matrix run over (tap, C), so the weight's K dim must too: (O, kh, kw, C).
        var w2 = weight.Permute(0, 2, 3, 1).Reshape(o, kh * kw * c);
        var y = Matmul(w2, cols.Reshape(kh * kw * c, n * l));             // (O, N·L)
        y = y.Reshape(o, n, l).Permute(1, 0, 2).Reshape(n, o, ho, wo);
        if (bias != null) y = y.Add(bias.Reshape(1, o, 1, 1));
        return y;
    }
}
