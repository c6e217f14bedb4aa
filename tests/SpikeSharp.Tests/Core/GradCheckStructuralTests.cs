using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>Finite-difference checks of reductions, matrix products, shape ops, softmax family, losses and statistics.</summary>
public class GradCheckStructuralTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void SumMeanMaxMinAllAndDims(string dev)
    {
        var d = Device.Parse(dev);
        int s = 1;
        foreach (var keep in new[] { false, true })
        {
            GradCheck.Check(x => x[0].Sum(null, keep), new[] { Randn(d, s++, 3, 4) });
            GradCheck.Check(x => x[0].Sum(new[] { 0, 2 }, keep), new[] { Randn(d, s++, 2, 3, 4) });
            GradCheck.Check(x => x[0].Sum(-1, keep), new[] { Randn(d, s++, 2, 3, 4) });
            GradCheck.Check(x => x[0].Mean(null, keep), new[] { Randn(d, s++, 3, 4) });
            GradCheck.Check(x => x[0].Mean(new[] { 1 }, keep), new[] { Randn(d, s++, 2, 3, 4) });
            GradCheck.Check(x => x[0].Max(null, keep), new[] { Randn(d, s++, 3, 4) });
            GradCheck.Check(x => x[0].Max(new[] { 0, 2 }, keep), new[] { Randn(d, s++, 2, 3, 4) });
            GradCheck.Check(x => x[0].Min(null, keep), new[] { Randn(d, s++, 3, 4) });
            GradCheck.Check(x => x[0].Min(1, keep), new[] { Randn(d, s++, 2, 3, 4) });
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void MatmulAllLayouts(string dev)
    {
        var d = Device.Parse(dev);
        int s = 1;
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
            {
                int[] A2 = ta ? new[] { 4, 3 } : new[] { 3, 4 }, B2 = tb ? new[] { 5, 4 } : new[] { 4, 5 };
                GradCheck.Check(x => Tensor.Matmul(x[0], x[1], ta, tb), new[] { Randn(d, s++, A2), Randn(d, s++, B2) });
                int[] A3 = new[] { 2 }.Concat(A2).ToArray(), B3 = new[] { 2 }.Concat(B2).ToArray();
                GradCheck.Check(x => Tensor.Matmul(x[0], x[1], ta, tb), new[] { Randn(d, s++, A3), Randn(d, s++, B3) });
                // Shared 2-D right operand across the batch.
                GradCheck.Check(x => Tensor.Matmul(x[0], x[1], ta, tb), new[] { Randn(d, s++, A3), Randn(d, s++, B2) });
            }
        GradCheck.Check(x => x[0].Matmul(x[1]), new[] { Randn(d, s++, 1, 3), Randn(d, s++, 3, 1) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void Linear(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], x[2]), new[] { Randn(d, 1, 4, 6), Randn(d, 2, 3, 6), Randn(d, 3, 3) });
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], x[2]), new[] { Randn(d, 4, 2, 3, 6), Randn(d, 5, 4, 6), Randn(d, 6, 4) });
        GradCheck.Check(x => Tensor.Linear(x[0], x[1]), new[] { Randn(d, 7, 5, 6), Randn(d, 8, 2, 6) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void ViewsAndCopies(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0].Reshape(4, -1) * x[0].Reshape(4, 6), new[] { Randn(d, 1, 2, 3, 4) });
        GradCheck.Check(x => x[0].Flatten(1).Unsqueeze(0).Squeeze(0), new[] { Randn(d, 2, 2, 3, 4) });
        GradCheck.Check(x => x[0].Permute(2, 0, 1), new[] { Randn(d, 3, 2, 3, 4) });
        GradCheck.Check(x => x[0].Transpose(0, 2), new[] { Randn(d, 4, 2, 3, 4) });
        GradCheck.Check(x => x[0].T(), new[] { Randn(d, 5, 3, 5) });
        GradCheck.Check(x => x[0].Narrow(0, 1, 2), new[] { Randn(d, 6, 4, 3) });        // view path
        GradCheck.Check(x => x[0].Narrow(1, 1, 2), new[] { Randn(d, 7, 2, 4, 3) });     // inner dim, copy path
        GradCheck.Check(x => x[0].Narrow(-1, 0, 1), new[] { Randn(d, 8, 2, 4, 3) });
        GradCheck.Check(x => Tensor.Cat(new[] { x[0], x[1] }, 0), new[] { Randn(d, 9, 2, 3), Randn(d, 10, 1, 3) });
        GradCheck.Check(x => Tensor.Cat(new[] { x[0], x[1], x[0] }, 1), new[] { Randn(d, 11, 2, 3), Randn(d, 12, 2, 2) });
        GradCheck.Check(x => Tensor.Stack(new[] { x[0], x[1] }, 0), new[] { Randn(d, 13, 2, 3), Randn(d, 14, 2, 3) });
        GradCheck.Check(x => Tensor.Stack(new[] { x[0], x[1] }, -1), new[] { Randn(d, 15, 2, 3), Randn(d, 16, 2, 3) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void IndexSelectAndEmbedding(string dev)
    {
        var d = Device.Parse(dev);
        using var idx = I(d, new[] { 2, 0, 2, 3 });
        GradCheck.Check(x => x[0].IndexSelect(0, idx), new[] { Randn(d, 1, 4, 3) });
        GradCheck.Check(x => x[0].IndexSelect(1, idx), new[] { Randn(d, 2, 2, 5, 3) });
        using var tokens = I(d, new[] { 1, 4, 1, 0, 4, 4 }, 2, 3);
        GradCheck.Check(x => x[0].Embedding(tokens), new[] { Randn(d, 3, 5, 3) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void SoftmaxFamily(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0].Softmax(), new[] { Randn(d, 1, 3, 5) });
        GradCheck.Check(x => x[0].Softmax(0), new[] { Randn(d, 2, 3, 2, 4) });
        GradCheck.Check(x => x[0].LogSoftmax(), new[] { Randn(d, 3, 3, 5) });
        GradCheck.Check(x => x[0].LogSoftmax(1), new[] { Randn(d, 4, 2, 3, 4) });
        GradCheck.Check(x => x[0].LogSumExp(-1), new[] { Randn(d, 5, 3, 5) });
        GradCheck.Check(x => x[0].LogSumExp(0, keepDim: true), new[] { Randn(d, 6, 3, 5) });
        GradCheck.Check(x => x[0].LogSumExp(), new[] { Randn(d, 7, 3, 5) });
    }

    [Theory, MemberData(nameof(Devices))]
    public void Losses(string dev)
    {
        var d = Device.Parse(dev);
        using var labels = I(d, new[] { 2, 0, 4, 4 });
        foreach (var red in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
        {
            GradCheck.Check(x => Tensor.CrossEntropy(x[0], labels, red), new[] { Randn(d, 1, 4, 5) });
            GradCheck.Check(x => Tensor.CrossEntropy(x[0], labels, red, labelSmoothing: 0.2f), new[] { Randn(d, 2, 4, 5) });
            GradCheck.Check(x => Tensor.Mse(x[0], x[1], red), new[] { Randn(d, 3, 3, 4), Randn(d, 4, 3, 4) });
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void VarStd(string dev)
    {
        var d = Device.Parse(dev);
        GradCheck.Check(x => x[0].Var(), new[] { Randn(d, 1, 3, 4) });
        GradCheck.Check(x => x[0].Var(1, unbiased: false, keepDim: true), new[] { Randn(d, 2, 3, 4) });
        GradCheck.Check(x => x[0].Std(new[] { 0, 2 }), new[] { Randn(d, 3, 3, 2, 4) });
        GradCheck.Check(x => x[0].Std(-1, unbiased: false), new[] { Randn(d, 4, 3, 4) });
    }
}
