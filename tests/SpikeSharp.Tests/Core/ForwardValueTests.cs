using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>Forward values against hand-computed or host-computed references.</summary>
public class ForwardValueTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void ArgMaxComparisonsOneHotArange(string dev)
    {
        var d = Device.Parse(dev);
        using var x = F(d, new float[] { 1, 5, 5, -2, 0, -1 }, 2, 3);
        Assert.Equal(new[] { 1, 1 }, x.ArgMax(1).ToArray<int>());        // first maximum on ties
        Assert.Equal(new[] { 0, 0, 0 }, x.ArgMax(0).ToArray<int>());
        Assert.Equal(new[] { 1 }, x.ArgMax().ToArray<int>());
        Assert.Equal(new[] { 2, 1 }, x.ArgMax(1, keepDim: true).Shape);

        using var b = F(d, new float[] { 1, 4, 5 }, 3);
        Assert.Equal(new float[] { 1, 0, 1, 0, 0, 0 }, x.Eq(b).ToArray());
        Assert.Equal(new float[] { 0, 1, 0, 1, 1, 1 }, x.Ne(b).ToArray());
        Assert.Equal(new float[] { 0, 0, 0, 1, 1, 1 }, x.Lt(b).ToArray());
        Assert.Equal(new float[] { 1, 0, 1, 1, 1, 1 }, x.Le(b).ToArray());
        Assert.Equal(new float[] { 0, 1, 0, 0, 0, 0 }, x.Gt(b).ToArray());
        Assert.Equal(new float[] { 1, 1, 1, 0, 0, 0 }, x.Ge(b).ToArray());
        Assert.Equal(new float[] { 0, 1, 1, 0, 0, 0 }, x.Eq(5f).ToArray());
        Assert.Equal(new float[] { 0, 1, 1, 0, 0, 0 }, x.Gt(1f).ToArray());
        Assert.Equal(new float[] { 1, 1, 1, 0, 1, 0 }, x.Ge(0f).ToArray());
        Assert.Equal(new float[] { 0, 0, 0, 1, 0, 1 }, x.Lt(0f).ToArray());

        using var labels = I(d, new[] { 2, 0, 1 });
        var oh = Tensor.OneHot(labels, 4);
        Assert.Equal(new[] { 3, 4 }, oh.Shape);
        Assert.Equal(new float[] { 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0 }, oh.ToArray());

        Assert.Equal(new float[] { 0, 1, 2, 3, 4 }, Tensor.Arange(0, 5, device: d).ToArray());
        Assert.Equal(new float[] { 1, 1.25f, 1.5f, 1.75f }, Tensor.Arange(1, 2, 0.25f, d).ToArray());
        Assert.Equal(new float[] { 3, 1 }, Tensor.Arange(3, 0, -2, d).ToArray());
        Assert.Empty(Tensor.Arange(2, 2, device: d).ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void RandomStatisticsAndDeterminism(string dev)
    {
        var d = Device.Parse(dev);
        const int n = 20000;
        var u = Tensor.Rand(new[] { n }, new Generator(7), d).ToArray();
        Assert.All(u, v => Assert.InRange(v, 0f, 0.99999994f));
        Assert.InRange(u.Average(), 0.49, 0.51);
        Assert.InRange(u.Select(v => (v - 0.5) * (v - 0.5)).Average(), 1 / 12.0 - 0.003, 1 / 12.0 + 0.003);
        var r = Tensor.Rand(new[] { n }, new Generator(7), d, lo: -2f, hi: 2f).ToArray();
        Assert.All(r, v => Assert.InRange(v, -2f, 2f));

        var z = Tensor.Randn(new[] { n }, new Generator(8), d, mean: 1f, std: 2f).ToArray();
        double mean = z.Average(), std = Math.Sqrt(z.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, 0.95, 1.05);
        Assert.InRange(std, 1.95, 2.05);
        Assert.InRange(z.Count(v => Math.Abs(v - 1) < 2) / (double)n, 0.67, 0.70); // within one sigma: 68.3 %

        Assert.Equal(Tensor.Randn(new[] { 50 }, new Generator(3), d).ToArray(), Tensor.Randn(new[] { 50 }, new Generator(3), d).ToArray());
        Assert.NotEqual(Tensor.Randn(new[] { 50 }, new Generator(3), d).ToArray(), Tensor.Randn(new[] { 50 }, new Generator(4), d).ToArray());
        var g = new Generator(5);
        var first = Tensor.Rand(new[] { 10 }, g, d).ToArray();
        Assert.NotEqual(first, Tensor.Rand(new[] { 10 }, g, d).ToArray()); // the stream advances
        g.ManualSeed(5);
        Assert.Equal(first, Tensor.Rand(new[] { 10 }, g, d).ToArray());

        using var p = Tensor.Full(new[] { n }, 0.3f, device: d);
        var bern = Tensor.Bernoulli(p, new Generator(9)).ToArray();
        Assert.All(bern, v => Assert.True(v == 0f || v == 1f));
        Assert.InRange(bern.Average(), 0.285, 0.315);
        using var p01 = F(d, new float[] { 0, 1, 0, 1 });
        Assert.Equal(new float[] { 0, 1, 0, 1 }, Tensor.Bernoulli(p01, new Generator(1)).ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void SoftmaxFamilyValues(string dev)
    {
        var d = Device.Parse(dev);
        var data = new float[] { 1, 2, 3, 0, -1, 0.5f, 1000, 1001, 999, -1000, -1000, -1000 };
        using var x = F(d, data, 4, 3);
        var p = HostSoftmax(data, 4, 3);
        Close(p, x.Softmax().ToArray());
        Close(p.Select(v => Math.Log(v)).ToArray(), x.LogSoftmax().ToArray(), 1e-5);
        var lse = Enumerable.Range(0, 4).Select(i =>
        {
            double m = data.Skip(i * 3).Take(3).Max();
            return m + Math.Log(data.Skip(i * 3).Take(3).Sum(v => Math.Exp(v - m)));
        }).ToArray();
        Close(lse, x.LogSumExp(1).ToArray(), 1e-6);
        Assert.Equal(new[] { 4, 1 }, x.LogSumExp(1, keepDim: true).Shape);
        // Softmax over dim 0 equals softmax of the transpose's rows.
        using var xt = x.T();
        Close(HostSoftmax(xt.ToArray(), 3, 4), x.Softmax(0).T().ToArray());
        // Rows of −inf: log-sum-exp is −inf, not NaN.
        using var ninf = F(d, new[] { float.NegativeInfinity, float.NegativeInfinity, 0f, 1f }, 2, 2);
        var l = ninf.LogSumExp(1).ToArray();
        Assert.Equal(float.NegativeInfinity, l[0]);
        Assert.Equal(1 + Math.Log(1 + Math.Exp(-1)), l[1], 5);
        var lsm = ninf.LogSoftmax().ToArray();
        Assert.True(float.IsNaN(lsm[0]) && float.IsNaN(lsm[1]), "a row of −inf has no distribution (NaN, as in PyTorch)");
        Close(new[] { -Math.Log(1 + Math.E), 1 - Math.Log(1 + Math.E) }, lsm[2..]);
    }

    [Theory, MemberData(nameof(Devices))]
    public void LossesAndAccuracyValues(string dev)
    {
        var d = Device.Parse(dev);
        var data = new float[] { 2, 1, 0.1f, 0.5f, 2.5f, -1, 0, 0, 3 };
        using var logits = F(d, data, 3, 3);
        using var labels = I(d, new[] { 0, 2, 2 });
        var p = HostSoftmax(data, 3, 3);
        var per = new[] { -Math.Log(p[0]), -Math.Log(p[5]), -Math.Log(p[8]) };
        Close(new[] { per.Average() }, Tensor.CrossEntropy(logits, labels).ToArray());
        Assert.Empty(Tensor.CrossEntropy(logits, labels).Shape);
        Close(new[] { per.Sum() }, Tensor.CrossEntropy(logits, labels, Reduction.Sum).ToArray());
        Close(per, Tensor.CrossEntropy(logits, labels, Reduction.None).ToArray());
        const double eps = 0.1;
        var smooth = new double[3];
        int[] lab = { 0, 2, 2 };
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 3; c++)
                smooth[i] -= ((c == lab[i] ? 1 - eps : 0) + eps / 3) * Math.Log(p[i * 3 + c]);
        Close(new[] { smooth.Average() }, Tensor.CrossEntropy(logits, labels, labelSmoothing: 0.1f).ToArray());

        using var a = F(d, new float[] { 1, 2, 3, 4 }, 2, 2);
        using var b = F(d, new float[] { 0, 2, 5, 1 }, 2, 2);
        Close(new[] { (1 + 0 + 4 + 9) / 4.0 }, Tensor.Mse(a, b).ToArray());
        Close(new[] { 14.0 }, Tensor.Mse(a, b, Reduction.Sum).ToArray());
        Close(new[] { 1.0, 0, 4, 9 }, Tensor.Mse(a, b, Reduction.None).ToArray());

        var acc = Tensor.Accuracy(logits, labels); // predictions 0, 1, 2 → 2 of 3 right
        Assert.Empty(acc.Shape);
        Assert.Equal(d, acc.Device);
        Assert.Equal(2f / 3f, acc.Item(), 6);
        // The functional form is the same metric with the same return type; on (T, B, C) it sums over T.
        Tensor facc = SpikeSharp.Nn.Functional.Accuracy(logits, labels);
        Assert.Empty(facc.Shape);
        Assert.Equal(d, facc.Device);
        Assert.Equal(acc.Item(), facc.Item());
        using var seq = F(d, new float[] { 0, 2, 0, 0, 0, 1, 1, 0, 0, /* t = 1 */ 3, 0, 0, 0, 0, 0, 0, 0, 2 }, 2, 3, 3);
        Assert.Equal(1f, SpikeSharp.Nn.Functional.Accuracy(seq, labels).Item()); // sums (3, 2, 0), (0, 0, 1), (1, 0, 2)
    }

    [Theory, MemberData(nameof(Devices))]
    public void StatisticsValues(string dev)
    {
        var d = Device.Parse(dev);
        var data = new float[] { 1, 2, 4, 7, -1, 3 };
        using var x = F(d, data, 2, 3);
        static double Var(IEnumerable<float> v, bool unbiased)
        {
            var a = v.Select(t => (double)t).ToArray();
            double m = a.Average();
            return a.Sum(t => (t - m) * (t - m)) / (a.Length - (unbiased ? 1 : 0));
        }
        Close(new[] { Var(data, true) }, x.Var().ToArray());
        Close(new[] { Var(data, false) }, x.Var(unbiased: false).ToArray());
        Close(new[] { Var(data.Take(3), true), Var(data.Skip(3), true) }, x.Var(1).ToArray());
        Close(new[] { Math.Sqrt(Var(data.Take(3), false)), Math.Sqrt(Var(data.Skip(3), false)) }, x.Std(1, unbiased: false).ToArray());
        Assert.Equal(new[] { 1, 3 }, x.Std(0, keepDim: true).Shape);
        Assert.True(float.IsNaN(x.Narrow(0, 0, 1).Var(0).ToArray()[0])); // one sample, unbiased

        Assert.Equal(new float[] { -1 }, x.Min().ToArray());
        Assert.Equal(new float[] { 1, -1 }, x.Min(1).ToArray());
        Assert.Equal(new float[] { 1, -1, 3 }, x.Min(0).ToArray());
        Assert.Equal(new float[] { 1, 4, 49, 1, 9, 16 }.OrderBy(v => v), x.Square().ToArray().OrderBy(v => v));
    }

    [Theory, MemberData(nameof(Devices))]
    public void SumMeanEdgeCases(string dev)
    {
        var d = Device.Parse(dev);
        using var s = Tensor.Scalar(3f, d);
        Assert.Equal(3f, s.Sum().Item());
        Assert.Empty(s.Sum().Shape);
        Assert.Equal(3f, s.Mean().Item());
        using var x = F(d, new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal(21f, x.Sum(Array.Empty<int>()).Item());             // empty dim list: all dims
        Assert.Equal(new[] { 1, 1 }, x.Sum(null, keepDim: true).Shape);
        Assert.Equal(new float[] { 6, 15 }, x.Sum(-1).ToArray());
        Assert.Equal(new float[] { 21 }, x.Sum(new[] { 1, 0 }).ToArray()); // order does not matter
        Assert.Equal(new float[] { 2.5f, 3.5f, 4.5f }, x.Mean(0).ToArray());
        var dup = Expect.Throws<ArgumentException>(() => x.Sum(new[] { 1, -1 }), "sum", "repeated dim in [1, -1]");
        Assert.Equal("dims", dup.ParamName);
        var range = Expect.Throws<ArgumentOutOfRangeException>(() => x.Sum(2),
            "sum", "dim 2 is out of range", "rank 2");
        Assert.Equal("dim", range.ParamName);

        using var empty = Tensor.Zeros(new[] { 0, 3 }, d);
        Assert.Equal(0f, empty.Sum().Item());
        Assert.Equal(new float[] { 0, 0, 0 }, empty.Sum(0).ToArray());
        Assert.Empty(empty.Sum(1).ToArray());
        Assert.True(float.IsNaN(empty.Mean().Item()));
        Expect.Throws<ArgumentException>(() => empty.Max(), "max: the tensor (0, 3) is empty");
        Expect.Throws<ArgumentException>(() => empty.Min(), "min: the tensor (0, 3) is empty");
        Assert.Equal(new[] { 0, 3 }, empty.Softmax().Shape);
    }
}
