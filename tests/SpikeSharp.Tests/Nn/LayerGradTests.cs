using SpikeSharp.Nn;

namespace SpikeSharp.Tests.Nn;

public class LayerGradTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // Direct loops: y[n,o,i,j] = b[o] + Σ x[n,c,i·s+a−p, j·s+b−p] · w[o,c,a,b].
    private static float[] NaiveConv(float[] x, int[] xs, float[] w, int[] ws, float[]? bias, (int, int) s, (int, int) p, out int[] ys)
    {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], kh = ws[2], kw = ws[3];
        int ho = (h + 2 * p.Item1 - kh) / s.Item1 + 1, wo = (wd + 2 * p.Item2 - kw) / s.Item2 + 1;
        ys = new[] { n, o, ho, wo };
        var y = new float[n * o * ho * wo];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        double acc = bias?[oc] ?? 0;
                        for (int ic = 0; ic < c; ic++)
                            for (int a = 0; a < kh; a++)
                                for (int bb = 0; bb < kw; bb++)
                                {
                                    int r = i * s.Item1 + a - p.Item1, q = j * s.Item2 + bb - p.Item2;
                                    if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                                    acc += x[((b * c + ic) * h + r) * wd + q] * w[((oc * c + ic) * kh + a) * kw + bb];
                                }
                        y[((b * o + oc) * ho + i) * wo + j] = (float)acc;
                    }
        return y;
    }

    public static IEnumerable<object[]> ConvCases()
    {
        foreach (var d in TestDevices.Names)
            foreach (var (s, p) in new[] { ((1, 1), (0, 0)), ((2, 2), (1, 1)), ((1, 2), (1, 0)), ((2, 1), (0, 1)) })
                yield return new object[] { d[0], s.Item1, s.Item2, p.Item1, p.Item2 };
    }

    [Theory, MemberData(nameof(ConvCases))]
    public void Conv2dForwardMatchesNaiveLoop(string dev, int sh, int sw, int ph, int pw)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = GradCheck.Rand(d, 1, 2, 3, 7, 6);
        var w = GradCheck.Rand(d, 2, 4, 3, 3, 2);
        var b = GradCheck.Rand(d, 3, 4);
        var y = Tensor.Conv2d(x, w, b, (sh, sw), (ph, pw));
        var expect = NaiveConv(x.ToArray(), x.Shape, w.ToArray(), w.Shape, b.ToArray(), (sh, sw), (ph, pw), out var ys);
        Assert.Equal(ys, y.Shape);
        var got = y.ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expect[i]) < 1e-4, $"element {i}: {got[i]} vs {expect[i]}");
    }

    [Theory, MemberData(nameof(ConvCases))]
    public void Conv2dGradients(string dev, int sh, int sw, int ph, int pw)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        GradCheck.Check(t => Tensor.Conv2d(t[0], t[1], t[2], (sh, sw), (ph, pw)),
            new[] { GradCheck.Rand(d, 4, 2, 2, 5, 6), GradCheck.Rand(d, 5, 3, 2, 3, 2), GradCheck.Rand(d, 6, 3) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void Conv2dFoldsTime(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var conv = new Conv2d(2, 3, 3, padding: 1, gen: new Generator(1), device: d);
        var x = GradCheck.Rand(d, 7, 2, 3, 2, 4, 4);
        var y5 = conv.Forward(x);
        Assert.Equal(new[] { 2, 3, 3, 4, 4 }, y5.Shape);
        var y4 = conv.Forward(x.Reshape(6, 2, 4, 4));
        Assert.Equal(y4.ToArray(), y5.ToArray());
        conv.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void PoolingForwardAndGradients(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(new float[] { 1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2, 0, 0, 3, 3 }, new[] { 1, 1, 4, 4 }, d);
        Assert.Equal(new float[] { 5, 9, 7, 3 }, Tensor.MaxPool2d(x, (2, 2)).ToArray());
        Assert.Equal(new float[] { 13 / 4f, 19 / 4f, 13 / 4f, 9 / 4f }, Tensor.AvgPool2d(x, (2, 2)).ToArray());
        GradCheck.Check(t => Tensor.MaxPool2d(t[0], (2, 3), (1, 2)), new[] { GradCheck.Rand(d, 1, 2, 2, 5, 7) });
        GradCheck.Check(t => Tensor.MaxPool2d(t[0], (3, 3), (2, 2), (1, 1)), new[] { GradCheck.Rand(d, 2, 1, 2, 5, 6) });
        GradCheck.Check(t => Tensor.AvgPool2d(t[0], (2, 2), (1, 1), (1, 0)), new[] { GradCheck.Rand(d, 3, 2, 2, 4, 5) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void MaxPoolTiesSendGradientToFirstMaximumOnly(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new[] { 1, 1, 2, 2 }, d);
        x.RequiresGrad = true;
        Tensor.MaxPool2d(x, (2, 2)).Sum().Backward();
        Assert.Equal(new float[] { 1, 0, 0, 0 }, x.Grad!.ToArray());
        x.Grad.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void NormGradients(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        using var rm = Tensor.Zeros(new[] { 3 }, d);
        using var rv = Tensor.Ones(new[] { 3 }, d);
        GradCheck.Check(t => Tensor.BatchNorm(t[0], null, null, t[1], t[2], training: true),
            new[] { GradCheck.Rand(d, 1, 4, 3, 2, 2), GradCheck.Rand(d, 2, 3), GradCheck.Rand(d, 3, 3) });
        GradCheck.Check(t => Tensor.BatchNorm(t[0], null, null, null, null, training: true), new[] { GradCheck.Rand(d, 4, 5, 3) });
        GradCheck.Check(t => Tensor.LayerNorm(t[0], 2, t[1], t[2]),
            new[] { GradCheck.Rand(d, 5, 2, 3, 4), GradCheck.Rand(d, 6, 3, 4), GradCheck.Rand(d, 7, 3, 4) });
        GradCheck.Check(t => Tensor.Linear(t[0], t[1], t[2]), new[] { GradCheck.Rand(d, 8, 3, 5), GradCheck.Rand(d, 9, 2, 5), GradCheck.Rand(d, 10, 2) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormRunningStatsAndEval(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        using var bn = new BatchNorm1d(2, momentum: 0.5f, device: d);
        // Channel 0: 1, 3, 5 (mean 3, unbiased var 4); channel 1: 0, 0, 6 (mean 2, unbiased var 12).
        var x = Tensor.FromArray(new float[] { 1, 0, 3, 0, 5, 6 }, new[] { 3, 2 }, d);
        var y = bn.Forward(x).ToArray();
        Assert.Equal(-2 / Math.Sqrt(8 / 3.0 + 1e-5), y[0], 4);
        Assert.Equal(new[] { 1.5f, 1f }, bn.RunningMean.ToArray());
        Assert.Equal(new[] { 2.5f, 6.5f }, bn.RunningVar.ToArray());
        bn.Eval();
        var e = bn.Forward(x).ToArray();
        Assert.Equal((1 - 1.5) / Math.Sqrt(2.5 + 1e-5), e[0], 4);
        Assert.Equal((6 - 1) / Math.Sqrt(6.5 + 1e-5), e[5], 4);
        Assert.Equal(new[] { 1.5f, 1f }, bn.RunningMean.ToArray()); // eval leaves the statistics alone
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNorm2dOverTimeAndBatch(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        using var bn = new BatchNorm2d(3, device: d);
        var x = GradCheck.Rand(d, 1, 2, 4, 3, 2, 2);
        var y = bn.Forward(x);
        Assert.Equal(x.Shape, y.Shape);
        var m = y.Permute(2, 0, 1, 3, 4).Reshape(3, -1).Mean(1).ToArray();
        foreach (var v in m) Assert.True(Math.Abs(v) < 1e-5);
    }

    [Theory, MemberData(nameof(Devices))]
    public void DropoutMasksScalesAndSharesOverTime(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new[] { 4, 3, 50 }, d);
        var y = new Dropout(0.25f, sharedOverTime: true, gen: new Generator(3)).Forward(x).ToArray();
        int zeros = y.Count(v => v == 0f);
        Assert.All(y, v => Assert.True(v == 0f || Math.Abs(v - 4f / 3f) < 1e-6));
        Assert.InRange(zeros, 4 * 150 * 0.15, 4 * 150 * 0.35);
        for (int t = 1; t < 4; t++)
            for (int i = 0; i < 150; i++) Assert.Equal(y[i], y[t * 150 + i]);
        var again = new Dropout(0.25f, sharedOverTime: true, gen: new Generator(3)).Forward(x).ToArray();
        Assert.Equal(y, again);
        var drop = new Dropout(0.5f); drop.Eval();
        Assert.Same(x, drop.Forward(x));
        var ind = new Dropout(0.5f, gen: new Generator(4)).Forward(x).ToArray();
        Assert.NotEqual(ind.Take(150), ind.Skip(150).Take(150));
    }

    [Theory, MemberData(nameof(Devices))]
    public void MultiStepNetworkOverSequence(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var g = new Generator(5);
        using var net = new Sequential(
            new Conv2d(1, 2, 3, padding: 1, gen: g, device: d),
            new BatchNorm2d(2, device: d),
            new MaxPool2d(2),
            new Flatten(2),
            new MultiStep(new Linear(8, 3, gen: g, device: d), new BatchNorm1d(3, device: d)));
        var x = GradCheck.Rand(d, 2, 3, 2, 1, 4, 4);
        var y = net.Forward(x);
        Assert.Equal(new[] { 3, 2, 3 }, y.Shape);
        y.Sum().Backward();
        Assert.All(net.Parameters(), p => Assert.NotNull(p.Grad));
        Assert.Equal("4.module.0.weight", net.NamedParameters().Select(p => p.Name).First(n => n.StartsWith("4.")));
    }
}
