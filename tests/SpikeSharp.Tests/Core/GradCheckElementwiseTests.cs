using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>Finite-difference checks of every elementwise op: arithmetic with broadcasting on either side, scalars, unary math.</summary>
public class GradCheckElementwiseTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void AddSubMulBroadcastEitherSide(string dev)
    {
        var d = Device.Parse(dev);
        int[][][] pairs =
        {
            new[] { new[] { 3, 4 }, new[] { 3, 4 } },
            new[] { new[] { 3, 4 }, new[] { 4 } },      // right broadcast
            new[] { new[] { 4 }, new[] { 3, 4 } },      // left broadcast
            new[] { new[] { 3, 1 }, new[] { 1, 4 } },   // both sides
            new[] { new[] { 2, 3, 1 }, new[] { 3, 4 } },
            new[] { Array.Empty<int>(), new[] { 2, 3 } }, // scalar tensor
        };
        int seed = 1;
        foreach (var p in pairs)
        {
            GradCheck.Check(x => x[0] + x[1], new[] { Randn(d, seed++, p[0]), Randn(d, seed++, p[1]) });
            GradCheck.Check(x => x[0] - x[1], new[] { Randn(d, seed++, p[0]), Randn(d, seed++, p[1]) });
            GradCheck.Check(x => x[0] * x[1], new[] { Randn(d, seed++, p[0]), Randn(d, seed++, p[1]) });
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void DivBroadcastEitherSide(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0] / x[1], new[] { Randn(d, 1, 3, 4), Positive(d, 2, 3, 4) });
        GradCheck.Check(x => x[0] / x[1], new[] { Randn(d, 3, 3, 4), Positive(d, 4, 4) });
        GradCheck.Check(x => x[0] / x[1], new[] { Randn(d, 5, 4), Positive(d, 6, 3, 1) });
        GradCheck.Check(x => x[0] / x[1], new[] { Randn(d, 7, 1, 4), Positive(d, 8, 3, 1) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void ScalarArithmetic(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0] + 2.5f, new[] { Randn(d, 1, 2, 3) });
        GradCheck.Check(x => 1.5f - x[0], new[] { Randn(d, 2, 2, 3) });
        GradCheck.Check(x => x[0] - 0.5f, new[] { Randn(d, 3, 2, 3) });
        GradCheck.Check(x => x[0] * -3f, new[] { Randn(d, 4, 2, 3) });
        GradCheck.Check(x => x[0] / 4f, new[] { Randn(d, 5, 2, 3) });
        GradCheck.Check(x => 2f / x[0], new[] { Positive(d, 6, 2, 3) });
        GradCheck.Check(x => -x[0], new[] { Randn(d, 7, 2, 3) });
        GradCheck.Check(x => x[0].Affine(0.5f, 1f), new[] { Randn(d, 8, 5) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void UnaryMath(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0].Exp(), new[] { Randn(d, 1, 3, 4) });
        GradCheck.Check(x => x[0].Log(), new[] { Positive(d, 2, 3, 4) });
        GradCheck.Check(x => x[0].Sqrt(), new[] { Positive(d, 3, 3, 4) });
        GradCheck.Check(x => x[0].Abs(), new[] { Randn(d, 4, 3, 4) });
        GradCheck.Check(x => x[0].Pow(2.5f), new[] { Positive(d, 5, 3, 4) });
        GradCheck.Check(x => x[0].Pow(-1.5f), new[] { Positive(d, 6, 3, 4) });
        GradCheck.Check(x => x[0].Pow(3f), new[] { Randn(d, 7, 3, 4) });
        GradCheck.Check(x => x[0].Square(), new[] { Randn(d, 8, 3, 4) });
        GradCheck.Check(x => x[0].Relu(), new[] { Randn(d, 9, 3, 4) });
        GradCheck.Check(x => x[0].Sigmoid(), new[] { Randn(d, 10, 3, 4) });
        GradCheck.Check(x => x[0].Tanh(), new[] { Randn(d, 11, 3, 4) });
        GradCheck.Check(x => x[0].Clamp(-0.5f, 0.7f), new[] { Randn(d, 12, 3, 4) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void WhereMaximumCloneTo(string dev)
    {
        var d = Device.Parse(dev);
        using var cond = F(d, new float[] { 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1 }, 3, 4);
        GradCheck.Check(x => Tensor.Where(cond, x[0], x[1]), new[] { Randn(d, 1, 3, 4), Randn(d, 2, 3, 4) });
        GradCheck.Check(x => x[0].Maximum(x[1]), new[] { Randn(d, 3, 3, 4), Randn(d, 4, 3, 4) });
        GradCheck.Check(x => x[0].Maximum(x[1]), new[] { Randn(d, 5, 3, 4), Randn(d, 6, 4) });
        GradCheck.Check(x => x[0].Clone() * x[0], new[] { Randn(d, 7, 2, 5) });
        GradCheck.Check(x => x[0].To(Device.Cpu).To(d) * 2f, new[] { Randn(d, 8, 2, 5) });
        GradCheck.Check(x => x[0].To(d), new[] { Randn(d, 9, 2, 5) });
    }
}
