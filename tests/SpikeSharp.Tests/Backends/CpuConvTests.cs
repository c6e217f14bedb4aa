using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>The CPU backend's convolution kernels (<see cref="CpuConv"/>) against the generic im2col path and a
/// float64 reference: forward and both gradients on odd shapes.</summary>
public class CpuConvTests
{
    // (N, C, H, W, O, Kh, Kw, strideH, strideW, padH, padW)
    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 2, 3, 7, 5, 4, 3, 2, 2, 1, 1, 0 },   // stride 2 on one side, non-square input and kernel
        new[] { 3, 2, 6, 6, 5, 3, 3, 1, 1, 2, 2 },   // padding 2
        new[] { 1, 1, 9, 8, 3, 3, 3, 2, 2, 1, 1 },   // N = 1, C = 1, stride 2
        new[] { 4, 1, 8, 8, 6, 3, 3, 1, 1, 1, 1 },   // a first layer: C = 1
        new[] { 2, 4, 5, 5, 3, 1, 1, 1, 1, 0, 0 },   // 1×1: the input is its own columns
        new[] { 2, 3, 5, 6, 2, 1, 1, 2, 2, 0, 0 },   // strided 1×1
        new[] { 2, 3, 4, 5, 2, 1, 1, 1, 1, 1, 0 },   // padded 1×1
        new[] { 2, 2, 3, 4, 3, 5, 6, 1, 1, 1, 1 },   // kernel as large as the padded input: one output
        new[] { 3, 2, 4, 4, 3, 2, 2, 3, 3, 0, 1 },   // stride 3, rows and columns left over
        new[] { 5, 3, 11, 13, 6, 3, 5, 2, 1, 0, 2 }, // more samples than threads, wide kernel
        new[] { 19, 2, 6, 5, 3, 3, 3, 1, 1, 1, 1 },  // more samples than filter-gradient parts
    };

    private static Conv2dShape ShapeOf(int[] a) =>
        new(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);

    private static float[] Random(int seed, int n)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    // y, dx, dw of loss = Σ y ⊙ g through Tensor.Conv2d, with the CPU family or the generic path.
    private static (float[] y, float[] dx, float[] dw) Run(Conv2dShape s, float[] x, float[] w, float[] g, bool generic)
    {
        bool before = Tensor.GenericConvOnly;
        Tensor.GenericConvOnly = generic;
        try
        {
            using var scope = TensorScope.Begin();
            var xt = Tensor.FromArray(x, new[] { s.N, s.C, s.H, s.W }, Device.Cpu);
            var wt = Tensor.FromArray(w, new[] { s.O, s.C, s.Kh, s.Kw }, Device.Cpu);
            xt.RequiresGrad = true; wt.RequiresGrad = true;
            var y = Tensor.Conv2d(xt, wt, stride: (s.StrideH, s.StrideW), padding: (s.PadH, s.PadW));
            Assert.Equal(new[] { s.N, s.O, s.OutH, s.OutW }, y.Shape);
            var gt = Tensor.FromArray(g, y.Shape, Device.Cpu);
            (y * gt).Sum().Backward();
            return (y.ToArray(), xt.Grad!.ToArray(), wt.Grad!.ToArray());
        }
        finally { Tensor.GenericConvOnly = before; }
    }

    // The convolution and its two gradients in float64, straight from the definition.
    private static (double[] y, double[] dx, double[] dw) Reference(Conv2dShape s, float[] x, float[] w, float[] g)
    {
        int ho = s.OutH, wo = s.OutW;
        var y = new double[s.N * s.O * ho * wo];
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        for (int n = 0; n < s.N; n++)
            for (int o = 0; o < s.O; o++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                    {
                        int yi = ((n * s.O + o) * ho + oh) * wo + ow;
                        for (int c = 0; c < s.C; c++)
                            for (int i = 0; i < s.Kh; i++)
                                for (int j = 0; j < s.Kw; j++)
                                {
                                    int ih = oh * s.StrideH - s.PadH + i, iw = ow * s.StrideW - s.PadW + j;
                                    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                    int xi = ((n * s.C + c) * s.H + ih) * s.W + iw;
                                    int wi = ((o * s.C + c) * s.Kh + i) * s.Kw + j;
                                    y[yi] += (double)x[xi] * w[wi];
                                    dx[xi] += (double)g[yi] * w[wi];
                                    dw[wi] += (double)g[yi] * x[xi];
                                }
                    }
        return (y, dx, dw);
    }

    private static void Close(double[] expected, float[] actual, string what, double tol = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndGradientsMatchTheGenericPathAndFloat64(int[] shape)
    {
        var s = ShapeOf(shape);
        var x = Random(1, s.N * s.C * s.H * s.W);
        var w = Random(2, s.O * s.C * s.Kh * s.Kw);
        var g = Random(3, s.N * s.O * s.OutH * s.OutW);
        var (y, dx, dw) = Run(s, x, w, g, generic: false);
        var (gy, gdx, gdw) = Run(s, x, w, g, generic: true);
        var (ry, rdx, rdw) = Reference(s, x, w, g);
        Close(ry, y, "y"); Close(rdx, dx, "dx"); Close(rdw, dw, "dw");
        // The generic path computes the same values to float32 rounding.
        Close(D(gy), y, "y vs generic"); Close(D(gdx), dx, "dx vs generic"); Close(D(gdw), dw, "dw vs generic");
    }

    [Fact]
    public void TheCpuBackendRegistersTheFamilyAndItComputesEveryCall()
    {
        var be = BackendRegistry.Get(Device.Cpu);
        Assert.Same(CpuConv.Instance, be.Family<IConv2dKernels>());
        var s = new Conv2dShape(3, 2, 5, 4, 3, 3, 2, 2, 1, 1, 1);
        using var x = Tensor.FromArray(Random(4, 3 * 2 * 5 * 4), new[] { 3, 2, 5, 4 }, Device.Cpu);
        using var w = Tensor.FromArray(Random(5, 3 * 2 * 3 * 2), new[] { 3, 2, 3, 2 }, Device.Cpu);
        using var g = Tensor.FromArray(Random(6, 3 * 3 * s.OutH * s.OutW), new[] { 3, 3, s.OutH, s.OutW }, Device.Cpu);
        using var y = Tensor.Full(new[] { 3, 3, s.OutH, s.OutW }, float.NaN, DType.Float32, Device.Cpu);
        using var dx = Tensor.Full(new[] { 3, 2, 5, 4 }, float.NaN, DType.Float32, Device.Cpu);
        using var dw = Tensor.Full(new[] { 3, 2, 3, 2 }, float.NaN, DType.Float32, Device.Cpu);
        // Outputs start as NaN: each call must overwrite every element.
        Assert.True(CpuConv.Instance.TryForward(s, x.Buf, w.Buf, y.Buf));
        Assert.True(CpuConv.Instance.TryBackwardData(s, g.Buf, w.Buf, dx.Buf));
        Assert.True(CpuConv.Instance.TryBackwardFilter(s, x.Buf, g.Buf, dw.Buf));
        var (ry, rdx, rdw) = Reference(s, x.ToArray(), w.ToArray(), g.ToArray());
        Close(ry, y.ToArray(), "y"); Close(rdx, dx.ToArray(), "dx"); Close(rdw, dw.ToArray(), "dw");
    }

    [Fact]
    public void AnEmptyBatchGivesAnEmptyOutputAndZeroWeightGradient()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Zeros(new[] { 0, 2, 5, 5 }, Device.Cpu);
        var w = Tensor.FromArray(Random(7, 3 * 2 * 3 * 3), new[] { 3, 2, 3, 3 }, Device.Cpu);
        x.RequiresGrad = true; w.RequiresGrad = true;
        var y = Tensor.Conv2d(x, w, padding: (1, 1));
        Assert.Equal(new[] { 0, 3, 5, 5 }, y.Shape);
        y.Sum().Backward();
        Assert.Equal(new[] { 0, 2, 5, 5 }, x.Grad!.Shape);
        Assert.All(w.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void GradientsThroughBackwardMatchFiniteDifferences()
    {
        var x = GradCheck.Rand(Device.Cpu, 11, 2, 3, 6, 5);
        var w = GradCheck.Rand(Device.Cpu, 12, 4, 3, 3, 2);
        var b = GradCheck.Rand(Device.Cpu, 13, 4);
        GradCheck.Check(t => Tensor.Conv2d(t[0], t[1], t[2], stride: (2, 1), padding: (1, 2)), new[] { x, w, b });
    }

    [Fact]
    public void TimeFoldedInputsTakeTheFamilyToo()
    {
        // (T, B, C, H, W) folds time into the batch before the family sees it.
        var s = new Conv2dShape(6, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1);
        var x = Random(21, 6 * 2 * 5 * 5);
        var w = Random(22, 3 * 2 * 3 * 3);
        using var scope = TensorScope.Begin();
        var y5 = Tensor.Conv2d(Tensor.FromArray(x, new[] { 2, 3, 2, 5, 5 }, Device.Cpu),
            Tensor.FromArray(w, new[] { 3, 2, 3, 3 }, Device.Cpu), padding: (1, 1));
        Assert.Equal(new[] { 2, 3, 3, 5, 5 }, y5.Shape);
        var (ry, _, _) = Reference(s, x, w, new float[6 * 3 * 25]);
        Close(ry, y5.ToArray(), "y");
    }
}

/// <summary>The filter gradient is summed over fixed ranges of samples, so the thread count does not change it.
/// </summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)]
public class CpuConvThreadTests
{
    [Fact]
    public void FilterGradientIsTheSameBitsOnOneThreadAndOnAll()
    {
        var s = new Conv2dShape(23, 3, 9, 7, 5, 3, 3, 1, 2, 1, 1);
        var r = new Random(31);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        using var x = Tensor.FromArray(R(s.N * s.C * s.H * s.W), new[] { s.N, s.C, s.H, s.W }, Device.Cpu);
        using var g = Tensor.FromArray(R(s.N * s.O * s.OutH * s.OutW), new[] { s.N, s.O, s.OutH, s.OutW }, Device.Cpu);
        using var dw = Tensor.Zeros(new[] { s.O, s.C, s.Kh, s.Kw }, Device.Cpu);
        int before = Threads.Count;
        try
        {
            Threads.Count = 1;
            Assert.True(CpuConv.Instance.TryBackwardFilter(s, x.Buf, g.Buf, dw.Buf));
            var one = dw.ToArray();
            Threads.Count = Threads.MaxCount;
            Assert.True(CpuConv.Instance.TryBackwardFilter(s, x.Buf, g.Buf, dw.Buf));
            Assert.Equal(one, dw.ToArray());
        }
        finally { Threads.Count = before; }
    }
}
