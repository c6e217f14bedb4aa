using SpikeSharp.Data;

namespace SpikeSharp.Tests.DataLoading;

public class EncoderLoaderTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void RateEncodingMatchesProbabilityAndSeed(string dev)
    {
        var d = Device.Parse(dev);
        var x = Tensor.FromArray(new[] { 0f, 0.25f, 0.9f, 1f }, new[] { 1, 4 }, d);
        var s = Encoders.Rate(x, 2000, new Generator(7));
        Assert.Equal(new[] { 2000, 1, 4 }, s.Shape);
        var rate = s.Mean(0).ToArray();
        Assert.Equal(0f, rate[0]); Assert.Equal(1f, rate[3]);
        Assert.InRange(rate[1], 0.22f, 0.28f); Assert.InRange(rate[2], 0.87f, 0.93f);
        var again = Encoders.Rate(x, 2000, new Generator(7)).ToArray();
        Assert.Equal(s.ToArray(), again);
    }

    [Theory, MemberData(nameof(Devices))]
    public void LatencyFiresOnceBrighterEarlier(string dev)
    {
        var d = Device.Parse(dev);
        var x = Tensor.FromArray(new[] { 1f, 0.5f, 0f }, new[] { 3 }, d);
        var s = Encoders.Latency(x, 5).ToArray(); // (5, 3)
        float At(int t, int i) => s[t * 3 + i];
        Assert.Equal(1f, At(0, 0)); Assert.Equal(1f, At(2, 1));
        Assert.Equal(1f, Enumerable.Range(0, 5).Sum(t => At(t, 0)));
        Assert.Equal(0f, Enumerable.Range(0, 5).Sum(t => At(t, 2)));
    }

    [Fact]
    public void DirectRepeats()
    {
        var x = Tensor.FromArray(new[] { 0.1f, 0.2f }, new[] { 1, 2 }, Device.Cpu);
        Assert.Equal(new[] { 0.1f, 0.2f, 0.1f, 0.2f, 0.1f, 0.2f }, Encoders.Direct(x, 3).ToArray());
        var steps = Expect.Throws<ArgumentOutOfRangeException>(() => Encoders.Direct(x, 0),
            "steps (T) must be positive, got 0");
        Assert.Equal("steps", steps.ParamName);
    }

    [Fact]
    public void LoaderShufflesDeterministicallyAndCoversAll()
    {
        var ds = new ArrayDataset(Enumerable.Range(0, 10).Select(i => (float)i).ToArray(), Enumerable.Range(0, 10).ToArray(), new[] { 1 });
        var a = new DataLoader(ds, 3, shuffle: true, seed: 5, device: Device.Cpu);
        var labels = a.Batches().SelectMany(b => b.y.ToArray<int>()).ToArray();
        Assert.Equal(Enumerable.Range(0, 10), labels.OrderBy(v => v));
        Assert.NotEqual(Enumerable.Range(0, 10), labels);
        var b2 = new DataLoader(ds, 3, shuffle: true, seed: 5, device: Device.Cpu);
        Assert.Equal(labels, b2.Batches().SelectMany(b => b.y.ToArray<int>()).ToArray());
        var drop = new DataLoader(ds, 3, dropLast: true, device: Device.Cpu);
        Assert.Equal(3, drop.Batches().Count());
        Assert.Equal("batchSize", Expect.Throws<ArgumentException>(() => new DataLoader(ds, 11, dropLast: true),
            "batch size 11 is larger than the dataset (10 samples)", "dropLast").ParamName);
        var zero = Expect.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 0),
            "batch size must be positive, got 0");
        Assert.Equal("batchSize", zero.ParamName);
    }
}
