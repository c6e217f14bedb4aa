using SpikeSharp.Autograd;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// 2-D max and average pooling over the windows that Unfold2d builds.
public sealed partial class Tensor
{
    /// <summary>
    /// Max pooling. x: (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel; padding counts as −∞.
    /// The gradient goes to the first maximum of each window (as in PyTorch), which matters for binary spikes
    /// where ties are the rule.
    /// </summary>
    public static Tensor MaxPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null, (int H, int W)? padding = null)
    {
        if (x.Rank == 5) return Unfold5(x, MaxPool2d(x.Flatten(0, 1), kernel, stride, padding));
        var (sh, sw) = stride ?? kernel;
        var (ph, pw) = padding ?? (0, 0);
        if (ph * 2 > kernel.H || pw * 2 > kernel.W)
            throw new ArgumentException($"max_pool2d: padding ({ph}, {pw}) must be at most half the kernel ({kernel.H}, {kernel.W})", nameof(padding));
        var cols = Unfold2d(x, kernel.H, kernel.W, sh, sw, ph, pw, float.NegativeInfinity, channelsOuter: false, "max_pool2d");
        int kk = cols._shape[0], m = cols.Numel / Math.Max(kk, 1);
        var outShape = cols._shape.Skip(1).ToArray();
        var y = Empty(outShape, DType.Float32, x.Device);
        if (m == 0) return y;
        cols.Backend.Reduce(new MaxOp(), cols.Buf, y.Buf, 1, kk, m);
        if (!Tape.Needs(cols)) { cols.Dispose(); return y; }
        var arg = Empty(new[] { 1, m }, DType.Int32, x.Device);
        cols.Backend.ArgMax(cols.Buf, arg.Buf, 1, kk, m);
        var colShape = cols._shape;
        return Tape.Record("max_pool2d", y, g =>
        {
            // One-hot of the winning tap per window, times the upstream gradient: (kk, M).
            using var argF = arg.To(DType.Float32);
            using var taps = Arange(0, kk, 1, g.Device);
            using var tapCol = taps.ReshapeNoGrad(new[] { kk, 1 });
            using var mask = Binary(tapCol, argF, new CompareOp(0), "max_pool2d_backward");
            using var g2 = g.ReshapeNoGrad(new[] { 1, m });
            var gc = Binary(mask, g2, new MulOp(), "max_pool2d_backward");
            return new Tensor?[] { gc.ReshapeNoGrad(colShape) };
        }, cols);
    }

    /// <summary>
    /// Average pooling. x: (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel; zero padding is
    /// counted in the average (PyTorch's count_include_pad = true).
    /// </summary>
    public static Tensor AvgPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null, (int H, int W)? padding = null)
    {
        if (x.Rank == 5) return Unfold5(x, AvgPool2d(x.Flatten(0, 1), kernel, stride, padding));
        var (sh, sw) = stride ?? kernel;
        var (ph, pw) = padding ?? (0, 0);
        var cols = Unfold2d(x, kernel.H, kernel.W, sh, sw, ph, pw, 0f, channelsOuter: false, "avg_pool2d");
        return cols.Mean(0);
    }

    // (T·B, ...) back to (T, B, ...) using the original 5-D input's leading dims.
    private static Tensor Unfold5(Tensor x5, Tensor y) =>
        y.Reshape(new[] { x5._shape[0], x5._shape[1] }.Concat(y._shape.Skip(1)).ToArray());
}
