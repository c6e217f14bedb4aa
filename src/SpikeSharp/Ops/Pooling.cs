using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.ConvOps;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// 2-D max and average pooling: on the backend's IPool2dKernels family (one pass each way) where it has one, else over
/// the windows that Im2Col builds.
/// </summary>
public static class PoolingOps
{
    extension(Tensor)
    {
        /// <summary>
        /// Max pooling. x: (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel; padding counts as −∞.
        /// The gradient goes to the first maximum of each window (as in PyTorch), which matters for binary spikes
        /// where ties are the rule.
        /// </summary>
        public static Tensor MaxPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null,
            (int H, int W)? padding = null)
        {
            if (x.Rank == 5)
            {
                var x4 = x.Flatten(0, 1);
                var y4 = MaxPool2d(x4, kernel, stride, padding);
                x4.Release();
                return Releasing(y4, Unfold5(x, y4));
            }
            var (sh, sw) = stride ?? kernel;
            var (ph, pw) = padding ?? (0, 0);
            if (ph * 2 > kernel.H || pw * 2 > kernel.W)
                throw new ArgumentException($"max_pool2d: padding ({ph}, {pw}) must be at most half the kernel "
                    + $"({kernel.H}, {kernel.W})", nameof(padding));
            var win = CheckWindow(x, kernel.H, kernel.W, sh, sw, ph, pw, "max_pool2d");
            var be = x.Backend; var dev = x.Device;
            int kk = win.Taps;
            var y = Empty(new[] { win.N, win.C, win.Ho, win.Wo }, DType.Float32, dev);
            int m = y.Numel;
            if (m == 0) return y;
            bool needArg = Tape.Needs(x);
            var family = PoolKernels(be);
            var ps = PoolShape(win);
            Tensor? arg = null;
            bool done = false;
            using (MemoryProfile.Label("max_pool2d"))
            {
                // The family records the winning tap in a byte; the generic path's argmax is an int32.
                if (family != null && kk <= 256)
                {
                    arg = needArg ? Empty(y.Dims, DType.UInt8, dev) : null;
                    done = family.TryMaxForward(ps, x.Buf, y.Buf, arg?.Buf);
                    if (!done) { arg?.Dispose(); arg = null; }
                }
                if (!done)
                {
                    arg = needArg ? Empty(y.Dims, DType.Int32, dev) : null;
                    // The windows are built for a chunk of the batch at a time, as conv2d builds its columns.
                    foreach (var (n0, nc) in Chunks(win.N, kk * win.C * win.Ho * win.Wo))
                    {
                        using var cols = Im2Col(be, dev, Rows(x, n0, nc), win with { N = nc }, float.NegativeInfinity,
                            channelsOuter: false);
                        int mc = nc * win.C * win.Ho * win.Wo;
                        be.Reduce(new MaxOp(), cols.Buf, Rows(y, n0, nc), 1, kk, mc);
                        if (arg != null) be.ArgMax(cols.Buf, Rows(arg, n0, nc), 1, kk, mc);
                    }
                }
            }
            if (arg == null) return y;
            var inShape = x.Dims;
            Tape.Record("max_pool2d", y, Saves.Of(arg), g =>
            {
                var gx = Empty(inShape, DType.Float32, g.Device);
                if (arg.DType == DType.UInt8 && family!.TryMaxBackward(ps, g.Buf, arg.Buf, gx.Buf))
                    return new Tensor?[] { gx };
                // Tap t's column gradient: g where the window's first maximum is tap t, else 0.
                using var argF = arg.To(DType.Float32);
                Col2Im(g.Backend, g.Device, win, channelsOuter: false, t =>
                {
                    using var tapNo = Full(Array.Empty<int>(), t, DType.Float32, g.Device);
                    var mask = Binary(argF, tapNo, new CompareOp(0), "max_pool2d_backward");
                    g.Backend.Map(new MulOp(), mask.Buf, g.Buf, mask.Buf);
                    return mask;
                }, gx.Buf);
                return new Tensor?[] { gx };
            }, x);
            arg.Release();
            return y;
        }

        /// <summary>
        /// Average pooling. x: (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel; zero padding is
        /// counted in the average (PyTorch's count_include_pad = true).
        /// </summary>
        public static Tensor AvgPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null,
            (int H, int W)? padding = null)
        {
            if (x.Rank == 5)
            {
                var x4 = x.Flatten(0, 1);
                var y4 = AvgPool2d(x4, kernel, stride, padding);
                x4.Release();
                return Releasing(y4, Unfold5(x, y4));
            }
            var (sh, sw) = stride ?? kernel;
            var (ph, pw) = padding ?? (0, 0);
            var win = CheckWindow(x, kernel.H, kernel.W, sh, sw, ph, pw, "avg_pool2d");
            var family = PoolKernels(x.Backend);
            var ps = PoolShape(win);
            var y = Empty(new[] { win.N, win.C, win.Ho, win.Wo }, DType.Float32, x.Device);
            bool done;
            using (MemoryProfile.Label("avg_pool2d")) done = family != null && family.TryAvgForward(ps, x.Buf, y.Buf);
            if (!done)
            {
                y.Dispose();
                var cols = Unfold2d(x, kernel.H, kernel.W, sh, sw, ph, pw, 0f, channelsOuter: false, "avg_pool2d");
                return Releasing(cols, cols.Mean(0));
            }
            var inShape = x.Dims;
            return Tape.Record("avg_pool2d", y, Saves.None, g =>
            {
                var gx = Empty(inShape, DType.Float32, g.Device);
                if (family!.TryAvgBackward(ps, g.Buf, gx.Buf)) return new Tensor?[] { gx };
                // Every tap's column gradient is g / (kh·kw).
                using var scaled = g.MulScalar(1f / win.Taps);
                Col2Im(g.Backend, g.Device, win, channelsOuter: false, _ => scaled.View(0, new[] { scaled.Numel }),
                    gx.Buf);
                return new Tensor?[] { gx };
            }, x);
        }
    }

    // The backend's pooling kernels, or null when it has none or the flow asks for the generic path.
    private static IPool2dKernels? PoolKernels(IBackend be) =>
        Tensor.GenericNormPoolOnly ? null : be.Family<IPool2dKernels>();

    private static Pool2dShape PoolShape(Window w) => new(w.N, w.C, w.H, w.W, w.Kh, w.Kw, w.Sh, w.Sw, w.Ph, w.Pw);

    // (T·B, ...) back to (T, B, ...) using the original 5-D input's leading dims.
    private static Tensor Unfold5(Tensor x5, Tensor y) =>
        y.Reshape(new[] { x5.Dims[0], x5.Dims[1] }.Concat(y.Dims.Skip(1)).ToArray());
}
