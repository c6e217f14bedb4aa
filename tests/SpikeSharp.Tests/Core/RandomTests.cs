using SpikeSharp.Kernels;

namespace SpikeSharp.Tests.Core;

/// <summary>Counter-based draws: every draw of a generator uses its own counters.</summary>
public class RandomTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    private static float BoxMuller(float u1, float u2) =>
        MathF.Sqrt(-2f * MathF.Log(u1 + 1f / 33554432f)) * MathF.Cos(6.28318530718f * u2);

    [Theory, MemberData(nameof(Devices))]
    public void ANormalDrawConsumesTwoCountersPerElement(string dev)
    {
        var d = Device.Parse(dev);
        const int n = 1000, m = 3000;
        var g = new Generator(11);
        using var normal = Tensor.Randn(new[] { n }, g, d);
        Assert.Equal((ulong)(2 * n), g.Offset);
        using var uniform = Tensor.Rand(new[] { m }, g, d);
        Assert.Equal((ulong)(2 * n + m), g.Offset);

        // Seed 11 fits in the low key word: key = (11, 0). The normal draw reads counters [0, 2n),
        // the uniform draw the next m counters.
        var z = normal.ToArray();
        var u = uniform.ToArray();
        for (int k = 0; k < n; k++)
            Assert.Equal(BoxMuller(Rng.Uniform(11, 0, (uint)(2 * k)), Rng.Uniform(11, 0, (uint)(2 * k + 1))), z[k], 5);
        for (int j = 0; j < m; j++) Assert.Equal(Rng.Uniform(11, 0, (uint)(2 * n + j)), u[j]);
    }

    [Theory, MemberData(nameof(Devices))]
    public void AUniformDrawAfterANormalOneCannotRebuildIt(string dev)
    {
        // The embedding-then-Linear order of the spiking LM: a normal draw, then uniform ones from one generator.
        // When counters were reused, normal[k] was exactly BoxMuller(uniform[2k − n], uniform[2k − n + 1]).
        var d = Device.Parse(dev);
        const int n = 2048;
        var g = new Generator(42);
        using var normal = Tensor.Randn(new[] { n }, g, d);
        using var uniform = Tensor.Rand(new[] { 2 * n }, g, d);
        var z = normal.ToArray();
        var u = uniform.ToArray();
        int rebuilt = 0;
        var pairs = new List<(double a, double b)>();
        for (int k = n / 2; k < n; k++)
        {
            float r = BoxMuller(u[2 * k - n], u[2 * k - n + 1]);
            if (MathF.Abs(r - z[k]) < 1e-5f) rebuilt++;
            pairs.Add((z[k], r));
        }
        Assert.Equal(0, rebuilt);
        Assert.True(Math.Abs(Correlation(pairs)) < 0.1, $"correlation {Correlation(pairs):F3} between the draws");
    }

    private static double Correlation(List<(double a, double b)> p)
    {
        double ma = p.Average(x => x.a), mb = p.Average(x => x.b);
        double cov = p.Sum(x => (x.a - ma) * (x.b - mb));
        double va = p.Sum(x => (x.a - ma) * (x.a - ma)), vb = p.Sum(x => (x.b - mb) * (x.b - mb));
        return cov / Math.Sqrt(va * vb);
    }

    [Fact]
    public void DrawsNeverStraddleA32BitBlockAndTheOffsetResumesExactly()
    {
        var g = new Generator(7) { Offset = (1UL << 32) - 10 };
        using var a = Tensor.Rand(new[] { 100 }, g, Device.Cpu);
        Assert.Equal((1UL << 32) + 100, g.Offset); // the draw moved to the start of the next block
        var resumed = new Generator(7) { Offset = 1UL << 32 };
        using var b = Tensor.Rand(new[] { 100 }, resumed, Device.Cpu);
        Assert.Equal(a.ToArray(), b.ToArray());
        // The next block hashes with another key: its values are not those of block 0.
        using var first = Tensor.Rand(new[] { 100 }, new Generator(7), Device.Cpu);
        Assert.NotEqual(first.ToArray(), a.ToArray());
    }

    [Fact]
    public void ManualSeedRestartsTheStream()
    {
        using var scope = TensorScope.Begin();
        var g = new Generator(3);
        var x = Tensor.Randn(new[] { 10 }, g, Device.Cpu).ToArray();
        g.ManualSeed(3);
        Assert.Equal(0UL, g.Offset);
        Assert.Equal(x, Tensor.Randn(new[] { 10 }, g, Device.Cpu).ToArray());
    }
}
