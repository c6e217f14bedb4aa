namespace SpikeSharp.Tests.Core;

public class OpsGradTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void BroadcastArithmetic(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => (x[0] + x[1]) * x[0] - x[1] / (x[0].Abs() + 1f), new[] { GradCheck.Rand(d, 1, 3, 4), GradCheck.Rand(d, 2, 4) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void MatmulAndLinear(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => Tensor.Matmul(x[0], x[1]), new[] { GradCheck.Rand(d, 1, 5, 7), GradCheck.Rand(d, 2, 7, 3) });
        GradCheck.Check(x => Tensor.Matmul(x[0], x[1], true, true), new[] { GradCheck.Rand(d, 3, 7, 5), GradCheck.Rand(d, 4, 3, 7) });
        GradCheck.Check(x => Tensor.Matmul(x[0], x[1]), new[] { GradCheck.Rand(d, 5, 2, 5, 7), GradCheck.Rand(d, 6, 2, 7, 3) });
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], x[2]), new[] { GradCheck.Rand(d, 7, 2, 3, 6), GradCheck.Rand(d, 8, 4, 6), GradCheck.Rand(d, 9, 4) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void Reductions(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0].Sum(new[] { 0, 2 }), new[] { GradCheck.Rand(d, 1, 3, 4, 5) });
        GradCheck.Check(x => x[0].Mean(1, keepDim: true), new[] { GradCheck.Rand(d, 2, 3, 4, 5) });
        GradCheck.Check(x => x[0].Max(-1), new[] { GradCheck.Rand(d, 3, 3, 4, 5) });
    }
}
