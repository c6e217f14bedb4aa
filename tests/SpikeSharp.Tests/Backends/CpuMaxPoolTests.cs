using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>The CPU backend's max pooling (<see cref="CpuMaxPool"/>) against the generic path and a direct
/// reference, with the ties of binary spikes.</summary>
public class CpuMaxPoolTests
{
    // (N, C, H, W, Kh, Kw, strideH, strideW, padH, padW)
    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 3, 4, 8, 8, 2, 2, 2, 2, 0, 0 },   // the 2×2 stride-2 fast path
        new[] { 2, 3, 7, 9, 2, 2, 2, 2, 0, 0 },   // odd sizes: the last row and column are dropped
        new[] { 2, 2, 7, 6, 3, 2, 2, 1, 1, 1 },   // overlapping, padded, non-square
        new[] { 1, 1, 5, 5, 3, 3, 1, 1, 1, 1 },   // N = C = 1, stride 1
        new[] { 2, 3, 6, 5, 2, 3, 3, 2, 1, 0 },   // stride larger than the kernel on one side
    };

    private static (float[] y, float[] dx) Run(int[] a, float[] x, float[] g, bool generic)
    {
        bool before = Tensor.GenericConvOnly;
        Tensor.GenericConvOnly = generic;
        try
        {
            using var scope = TensorScope.Begin();
            var xt = Tensor.FromArray(x, new[] { a[0], a[1], a[2], a[3] }, Device.Cpu);
            xt.RequiresGrad = true;
            var y = Tensor.MaxPool2d(xt, (a[4], a[5]), (a[6], a[7]), (a[8], a[9]));
            (y * Tensor.FromArray(g, y.Shape, Device.Cpu)).Sum().Backward();
            return (y.ToArray(), xt.Grad!.ToArray());
        }
        finally { Tensor.GenericConvOnly = before; }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SpikesWithTiesRouteTheGradientToTheFirstMaximumLikeTheGenericPath(int[] a)
    {
        var s = new Pool2dShape(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
        var r = new Random(5);
        // Binary spikes: most windows have ties (all zero, or several ones).
        var x = Enumerable.Range(0, a[0] * a[1] * a[2] * a[3]).Select(_ => r.Next(3) == 0 ? 1f : 0f).ToArray();
        var g = Enumerable.Range(0, a[0] * a[1] * s.OutH * s.OutW).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
        var (y, dx) = Run(a, x, g, generic: false);
        var (gy, gdx) = Run(a, x, g, generic: true);
        Assert.Equal(gy, y);
        Assert.Equal(gdx, dx);
        // Directly: each output's gradient lands on the first tap (row-major in the window) holding the maximum.
        var ex = new float[x.Length];
        for (int p = 0; p < a[0] * a[1]; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                {
                    float best = float.NegativeInfinity; int at = -1;
                    for (int i = 0; i < s.Kh; i++)
                        for (int j = 0; j < s.Kw; j++)
                        {
                            int ih = oh * s.StrideH - s.PadH + i, iw = ow * s.StrideW - s.PadW + j;
                            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                            int xi = (p * s.H + ih) * s.W + iw;
                            if (at < 0 || x[xi] > best) { best = x[xi]; at = xi; }
                        }
                    int yi = (p * s.OutH + oh) * s.OutW + ow;
                    Assert.Equal(best, y[yi]);
                    ex[at] += g[yi];
                }
        for (int i = 0; i < ex.Length; i++)
            Assert.True(Math.Abs(ex[i] - dx[i]) <= 1e-6f, $"dx[{i}]: {ex[i]} vs {dx[i]}");
    }

    [Fact]
    public void RandomValuesMatchTheGenericPathAndTheFamilyIsRegistered()
    {
        Assert.Same(CpuMaxPool.Instance, BackendRegistry.Get(Device.Cpu).Family<IMaxPool2dKernels>());
        var a = new[] { 4, 5, 12, 10, 3, 3, 2, 2, 1, 1 };
        var r = new Random(9);
        var x = Enumerable.Range(0, 4 * 5 * 12 * 10).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var g = Enumerable.Range(0, 4 * 5 * 6 * 5).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var (y, dx) = Run(a, x, g, generic: false);
        var (gy, gdx) = Run(a, x, g, generic: true);
        Assert.Equal(gy, y);
        Assert.Equal(gdx, dx);
    }

    [Fact]
    public void TimeFoldedSpikesPoolPerStepAndSample()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(new float[] { 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 },
            new[] { 2, 2, 1, 2, 2 }, Device.Cpu);
        var y = Tensor.MaxPool2d(x, (2, 2));
        Assert.Equal(new[] { 2, 2, 1, 1, 1 }, y.Shape);
        Assert.Equal(new float[] { 1, 1, 1, 0 }, y.ToArray());
    }
}
