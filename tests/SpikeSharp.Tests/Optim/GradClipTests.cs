using SpikeSharp.Backends;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Optim;

public class GradClipTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // Sizes around the kernels' edges: 1, a ragged group, more than 64 groups of 256, a launch of 8 and a
    // ragged ninth slot.
    private static readonly int[] Sizes = { 1, 3, 257, 70_001, 5, 64 * 256 + 1, 8, 1000, 2, 33 };

    [Theory, MemberData(nameof(Devices))]
    public void ManyGradients_NormMatchesFloat64_AndEveryGradientIsScaledByOneFactor(string dev)
    {
        var d = Device.Parse(dev);
        var rng = new Random(7);
        var host = Sizes.Select(n => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray())
            .ToArray();
        double exact = Math.Sqrt(host.Sum(g => g.Sum(v => (double)v * v)));
        var ps = host.Select(g =>
        {
            var p = Tensor.Zeros(new[] { g.Length }, d).Persist();
            p.RequiresGrad = true;
            p.Grad = Tensor.FromArray(g, null, d).Persist();
            return p;
        }).ToArray();
        float maxNorm = (float)(exact / 3);
        long launches;
        using (var counter = LaunchCounter.Start())
        using (var norm = GradClip.ClipGradNorm(ps, maxNorm)!)
        {
            launches = counter.Launches;
            Assert.Equal(exact, norm.Item(), exact * 1e-5);
        }
        // Per gradient, elementwise ops would take 4 launches (square, sum, accumulate, scale): 40 here. The
        // multi-tensor path takes ⌈10 / 8⌉ launches for the sums and as many for the scaling, plus the total, the
        // root and the factor.
        Assert.InRange(launches, 3, 10);
        float f = maxNorm / (float)(exact + 1e-6);
        for (int i = 0; i < ps.Length; i++)
        {
            var got = ps[i].Grad!.ToArray();
            for (int j = 0; j < got.Length; j++)
                Assert.True(Math.Abs(got[j] - host[i][j] * f) <= 1e-6f * Math.Abs(host[i][j] * f) + 1e-12f,
                    $"grad {i}[{j}]: {got[j]} vs {host[i][j] * f}");
        }
        foreach (var p in ps) { p.Grad!.Dispose(); p.Dispose(); }
    }

    [Fact]
    public void TheKernelFamily_RefusesBadPartialsAndFactors()
    {
        var k = BackendRegistry.Get(Device.Cpu).Require<IOptimizerKernels>("test");
        using var g = Tensor.Ones(new[] { 4 });
        using var small = Tensor.Zeros(new[] { 3 });
        var e = Assert.Throws<ArgumentException>(() => k.SumOfSquares(new[] { g.Buf }, small.Buf));
        Assert.Equal("partials", e.ParamName);
        Assert.Contains("1 × 64 elements, got 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => k.Scale(new[] { g.Buf }, small.Buf));
        Assert.Equal("factor", e.ParamName);
        Assert.Contains("one float32 element, got 3", e.Message);
    }
}
