using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// 2-D convolution by im2col: a rank-6 Gather builds the columns, a GEMM multiplies them with the weight; the Gather's
/// adjoint (col2im) is one ScatterAdd per kernel tap, whose targets are distinct. The columns are kh·kw times the
/// input, so conv builds them for a chunk of the batch at a time (at most Tensor.ColumnChunkElements), in the forward
/// pass and again in the backward pass, and keeps only x and the weight for its backward: the columns never outlive the
/// chunk (PyTorch's cuDNN path does not keep them either).
/// </summary>
public static class ConvOps
{
    // Test and benchmark switches, kept on Tensor where their callers look for them.
    extension(Tensor)
    {
        /// <summary>While true in the calling flow, convolutions skip the backend's <see cref="IConv2dKernels"/> family
        /// and take the generic im2col + GEMM path (tests compare the two; benchmarks time both). Pooling and batch
        /// norm have their own switch, <see cref="NormOps.extension(Tensor).GenericNormPoolOnly"/>.</summary>
        internal static bool GenericConvOnly
        {
            get => _genericConvOnly.Value;
            set => _genericConvOnly.Value = value;
        }

        /// <summary>The most elements of im2col columns a convolution builds at once: 64 MiB of float32, enough for
        /// GEMMs that keep any device busy; settable per thread (tests split small batches into chunks with it).
        /// </summary>
        internal static int ColumnChunkElements
        {
            get => _columnChunkOverride > 0 ? _columnChunkOverride : 1 << 24;
            set => _columnChunkOverride = value;
        }
    }

    extension(Tensor)
    {
        /// <summary>
        /// Sliding windows of x: (N, C, H, W) → (kh·kw, C, N, Ho, Wo) when <paramref name="channelsOuter"/>
        /// (the layout conv's GEMM wants: K = (tap, C) rows, N·Ho·Wo columns), else (kh·kw, N, C, Ho, Wo) (pooling
        /// reduces over the leading tap dim). The border is padded with <paramref name="padValue"/>.
        /// Differentiable with respect to x.
        /// </summary>
        internal static Tensor Unfold2d(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw, float padValue,
            bool channelsOuter, string op)
        {
            var w = CheckWindow(x, kh, kw, sh, sw, ph, pw, op);
            var cols = Im2Col(x.Backend, x.Device, x.Buf, w, padValue, channelsOuter);
            var inShape = x.Dims;
            return Tape.Record(op, cols, Saves.None, g =>
            {
                var gx = Empty(inShape, DType.Float32, g.Device);
                int m = g.Numel / w.Taps;
                Col2Im(g.Backend, g.Device, w, channelsOuter, t => g.View(t * m, new[] { m }), gx.Buf);
                return new Tensor?[] { gx };
            }, x);
        }

        /// <summary>
        /// 2-D convolution (cross-correlation, as in PyTorch). x: (N, C, H, W) or (T, B, C, H, W) (time folded into
        /// the batch); weight: (O, C, kh, kw); bias: (O) or null. Output (N, O, Ho, Wo) with
        /// Ho = (H + 2·padH − kh) / strideH + 1.
        /// </summary>
        public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, (int H, int W)? stride = null,
            (int H, int W)? padding = null)
        {
            if (x.Rank == 5)
            {
                var x4 = x.Flatten(0, 1);
                var y4 = Conv2d(x4, weight, bias, stride, padding);
                x4.Release();
                return Releasing(y4, y4.Reshape(new[] { x.Dims[0], x.Dims[1] }.Concat(y4.Dims.Skip(1)).ToArray()));
            }
            var (sh, sw) = stride ?? (1, 1);
            var (ph, pw) = padding ?? (0, 0);
            if (weight.Rank != 4) throw new ArgumentException($"conv2d: weight must be (O, C, kh, kw), "
                + $"got {ShapeUtil.Format(weight.Dims)}", nameof(weight));
            if (x.Rank != 4 || x.Dims[1] != weight.Dims[1])
                throw new ArgumentException($"conv2d: input must be (N, C, H, W) or (T, B, C, H, W) with C "
                    + $"= {weight.Dims[1]} (weight {ShapeUtil.Format(weight.Dims)}), "
                    + $"got {ShapeUtil.Format(x.Dims)}", nameof(x));
            int o = weight.Dims[0], c = weight.Dims[1], kh = weight.Dims[2], kw = weight.Dims[3];
            if (bias != null && (bias.Rank != 1 || bias.Dims[0] != o))
                throw new ArgumentException($"conv2d: bias must be ({o}), "
                    + $"got {ShapeUtil.Format(bias.Dims)}", nameof(bias));
            x.CheckSameDevice(weight, "conv2d");
            if (bias != null) x.CheckSameDevice(bias, "conv2d");
            var win = CheckWindow(x, kh, kw, sh, sw, ph, pw, "conv2d");
            int n = win.N, k = kh * kw * c, l = win.Ho * win.Wo;
            var be = x.Backend; var dev = x.Device;
            var y = Empty(new[] { n, o, win.Ho, win.Wo }, DType.Float32, dev);
            if (y.Numel > 0)
            {
                using var _ = MemoryProfile.Label("conv2d");
                var shape = new Conv2dShape(n, c, win.H, win.W, o, kh, kw, sh, sw, ph, pw);
                if (k == 0) be.Fill(y.Buf, 0f);
                else if (ConvKernels(be)?.TryForward(shape, x.Buf, weight.Buf, y.Buf) == true) { }
                else
                {
                    using var w2 = WeightMatrix(weight);
                    foreach (var (n0, nc) in Chunks(n, k * l))
                    {
                        using var cols = Im2Col(be, dev, Rows(x, n0, nc), win with { N = nc }, 0f, channelsOuter: true);
                        using var ym = Empty(new[] { o, nc * l }, DType.Float32, dev);
                        be.Gemm(false, false, o, nc * l, k, 1f, w2.Buf, cols.Buf, 0f, ym.Buf);
                        // (O, nc, L) → the chunk's rows (nc, O, L) of y.
                        be.Gather(ym.Buf, StridedIndex.Create(new[] { nc, o, l },
                            new[] { l, nc * l, 1 }), Rows(y, n0, nc));
                    }
                }
                if (bias != null)
                {
                    var (iy, ib) = Broadcasting.Indices(y.Dims, y.Dims, new[] { 1, o, 1, 1 });
                    be.MapBroadcast(new AddOp(), y.Buf, iy, bias.Buf, ib, y.Buf);
                }
            }
            bool gx = x.RequiresGrad, gw = weight.RequiresGrad, gb = bias is { RequiresGrad: true };
            return Tape.Record("conv2d", y, Saves.Of(gw ? x : null, gx ? weight : null),
                g => Conv2dBackward(g, x, weight, win, gx, gw, gb), x, weight, bias);
        }
    }

    [ThreadStatic] private static int _columnChunkOverride;
    private static readonly AsyncLocal<bool> _genericConvOnly = new();

    // The backend's convolution kernels, or null when it has none or the flow asks for the generic path.
    private static IConv2dKernels? ConvKernels(IBackend be) => Tensor.GenericConvOnly ? null
        : be.Family<IConv2dKernels>();

    // Geometry of a sliding-window unfold of an (N, C, H, W) input.
    internal readonly record struct Window(int N, int C, int H, int W, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw)
    {
        public int Hp => H + 2 * Ph;
        public int Wp => W + 2 * Pw;
        public int Ho => (Hp - Kh) / Sh + 1;
        public int Wo => (Wp - Kw) / Sw + 1;
        public bool Padded => Ph > 0 || Pw > 0;
        public int Taps => Kh * Kw;
        public int SampleSize => C * H * W;

        // Strides of the padded input, and of the columns' (A, B) dims for the chosen layout.
        public (int sA, int sB, int a, int b) Layout(bool channelsOuter) =>
            channelsOuter ? (Hp * Wp, C * Hp * Wp, C, N) : (C * Hp * Wp, Hp * Wp, N, C);

        public StridedIndex Interior =>
            StridedIndex.Create(new[] { N, C, H, W }, new[] { C * Hp * Wp, Hp * Wp, Wp, 1 });
    }

    internal static Window CheckWindow(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw, string op)
    {
        x.CheckFloat(op);
        if (x.Rank != 4)
            throw new ArgumentException($"{op}: expected input (N, C, H, W), got {ShapeUtil.Format(x.Dims)}", "input");
        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0)
            throw new ArgumentException($"{op}: kernel ({kh}, {kw}) and stride ({sh}, {sw}) must be positive and "
                + $"padding ({ph}, {pw}) non-negative");
        var w = new Window(x.Dims[0], x.Dims[1], x.Dims[2], x.Dims[3], kh, kw, sh, sw, ph, pw);
        if (w.Hp < kh || w.Wp < kw)
            throw new ArgumentException($"{op}: kernel ({kh}, {kw}) is larger than the padded input ({w.Hp}, {w.Wp}) "
                + $"of {ShapeUtil.Format(x.Dims)}", "input");
        return w;
    }

    // Columns of the samples in x (N = w.N, contiguous): (kh·kw, C, N, Ho, Wo) when channelsOuter, else
    // (kh·kw, N, C, Ho, Wo); the border reads padValue. No autograd.
    internal static Tensor Im2Col(IBackend be, Device dev, Buf x, Window w, float padValue, bool channelsOuter)
    {
        var (sA, sB, a, b) = w.Layout(channelsOuter);
        Buf src = x;
        Tensor? padded = null;
        if (w.Padded)
        {
            padded = Full(new[] { w.N, w.C, w.Hp, w.Wp }, padValue, DType.Float32, dev);
            if (x.Length > 0) be.Scatter(x, Sub(padded, w.Ph * w.Wp + w.Pw), w.Interior);
            src = padded.Buf;
        }
        var cols = Empty(new[] { w.Taps, a, b, w.Ho, w.Wo }, DType.Float32, dev);
        if (cols.Numel > 0)
            be.Gather(src, StridedIndex.Create(new[] { w.Kh, w.Kw, a, b, w.Ho, w.Wo },
                new[] { w.Wp, 1, sA, sB, w.Sh * w.Wp, w.Sw }), cols.Buf);
        padded?.Dispose();
        return cols;
    }

    // The adjoint of Im2Col: dst (N, C, H, W) = Σ over taps of the tap's column gradient placed at its input
    // positions. tap(t) gives tap t's (A, B, Ho, Wo) gradient as a tensor this function disposes (a view or a
    // temporary). Taps overlap each other, so each is its own ScatterAdd (distinct targets within a call).
    internal static void Col2Im(IBackend be, Device dev, Window w, bool channelsOuter, Func<int, Tensor> tap, Buf dst)
    {
        var (sA, sB, a, b) = w.Layout(channelsOuter);
        int m = a * b * w.Ho * w.Wo;
        var tapIdx = StridedIndex.Create(new[] { a, b, w.Ho, w.Wo }, new[] { sA, sB, w.Sh * w.Wp, w.Sw });
        // Unpadded, the input itself is the scatter target; padded, a zeroed padded copy whose interior is read out.
        var gp = w.Padded ? Zeros(new[] { w.N, w.C, w.Hp, w.Wp }, dev) : null;
        var target = gp?.Buf ?? dst;
        if (gp == null && dst.Length > 0) be.Fill(dst, 0f);
        if (m > 0)
            for (int i = 0; i < w.Kh; i++)
                for (int j = 0; j < w.Kw; j++)
                {
                    using var g = tap(i * w.Kw + j);
                    int start = i * w.Wp + j;
                    be.ScatterAdd(g.Buf, new Buf(target.Storage, target.Offset + start, target.Length - start), tapIdx);
                }
        if (gp == null) return;
        if (dst.Length > 0) be.Gather(Sub(gp, w.Ph * w.Wp + w.Pw), w.Interior, dst);
        gp.Dispose();
    }

    // The tail of t's storage window starting at element `start`.
    private static Buf Sub(Tensor t, int start) => new(t.Storage, t.Offset + start, t.Numel - start);

    // Samples [n0, n0 + count) of a tensor whose leading dim is the batch, as a window of its storage.
    internal static Buf Rows(Tensor t, int n0, int count)
    {
        int per = t.Dims[0] == 0 ? 0 : t.Numel / t.Dims[0];
        return new Buf(t.Storage, t.Offset + n0 * per, count * per);
    }

    // weight (O, C, kh, kw) as the GEMM's (O, K) matrix with K over (tap, C), the row order of the columns.
    private static Tensor WeightMatrix(Tensor weight)
    {
        using (Tape.NoGrad()) return weight.Permute(0, 2, 3, 1);
    }

    // [n0, n0 + count) chunks of n samples whose columns (perSample elements each) fit Tensor.ColumnChunkElements.
    internal static IEnumerable<(int n0, int count)> Chunks(int n, int perSample)
    {
        int step = (int)Math.Clamp(Tensor.ColumnChunkElements / Math.Max(1L, perSample), 1, Math.Max(1, n));
        for (int n0 = 0; n0 < n; n0 += step) yield return (n0, Math.Min(step, n - n0));
    }

    private static Tensor?[] Conv2dBackward(Tensor g, Tensor x, Tensor weight, Window win, bool needX, bool needW,
        bool needB)
    {
        int o = weight.Dims[0], c = weight.Dims[1], kh = weight.Dims[2], kw = weight.Dims[3];
        int n = win.N, k = kh * kw * c, l = win.Ho * win.Wo;
        var be = g.Backend; var dev = g.Device;
        Tensor? gx = needX ? Empty(x.Dims, DType.Float32, dev) : null;
        Tensor? gW = null;
        // The backend's own kernels first; the im2col path computes whatever they decline.
        var family = g.Numel > 0 && k > 0 ? ConvKernels(be) : null;
        if (family != null)
        {
            var shape = new Conv2dShape(n, c, win.H, win.W, o, kh, kw, win.Sh, win.Sw, win.Ph, win.Pw);
            if (gx != null && family.TryBackwardData(shape, g.Buf, weight.Buf, gx.Buf)) needX = false;
            if (needW)
            {
                gW = Empty(weight.Dims, DType.Float32, dev);
                if (family.TryBackwardFilter(shape, x.Buf, g.Buf, gW.Buf)) needW = false;
                else { gW.Dispose(); gW = null; }
            }
        }
        Tensor? gw2 = needW ? Zeros(new[] { o, kh, kw, c }, dev) : null;
        if (g.Numel > 0 && k > 0 && (needX || needW))
        {
            using var w2 = needX ? WeightMatrix(weight) : null;
            foreach (var (n0, nc) in Chunks(n, k * l))
            {
                // The chunk's output gradient as the GEMM's (O, nc·L) matrix.
                using var gm = Empty(new[] { o, nc * l }, DType.Float32, dev);
                be.Gather(Rows(g, n0, nc), StridedIndex.Create(new[] { o, nc, l }, new[] { l, o * l, 1 }), gm.Buf);
                var wc = win with { N = nc };
                if (gw2 != null)
                {
                    using var cols = Im2Col(be, dev, Rows(x, n0, nc), wc, 0f, channelsOuter: true);
                    be.Gemm(false, true, o, k, nc * l, 1f, gm.Buf, cols.Buf, 1f, gw2.Buf);
                }
                if (needX)
                {
                    using var dcols = Empty(new[] { k, nc * l }, DType.Float32, dev);
                    be.Gemm(true, false, k, nc * l, o, 1f, w2!.Buf, gm.Buf, 0f, dcols.Buf);
                    int m = c * nc * l;
                    Col2Im(be, dev, wc, channelsOuter: true, t => dcols.View(t * m, new[] { m }), Rows(gx!, n0, nc));
                }
            }
        }
        else if (needX && gx!.Numel > 0) be.Fill(gx.Buf, 0f);
        if (gw2 != null)
        {
            using (Tape.NoGrad()) gW = gw2.Permute(0, 3, 1, 2);
            gw2.Dispose();
        }
        Tensor? gB = null;
        if (needB)
        {
            var s = g.SumTo(new[] { 1, o, 1, 1 });
            gB = s.ReshapeNoGrad(new[] { o });
            if (!ReferenceEquals(s, g)) s.Dispose();
        }
        return new[] { gx, gW, gB };
    }
}
