using System.Buffers.Binary;
using SpikeSharp.Monitoring;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Monitoring;

public class PlotsTests
{
    private static readonly byte[] PngSignature = { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };

    /// <summary>Checks the PNG signature and reads width/height from the IHDR chunk.</summary>
    private static void AssertPng(string path, int width, int height)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33, "PNG too small");
        Assert.Equal(PngSignature, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Fact]
    public void TrainingCurves()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("plots", "curves.png");
        Plots.SaveTrainingCurves(path, new[] { 2.3, 1.1, 0.7 }, new[] { 2.2, 1.3, 0.9 }, new[] { 0.3, 0.6, 0.8 }, new[] { 0.35, 0.55, 0.7 },
            width: 640, height: 400);
        AssertPng(path, 640, 400);
        Assert.Throws<ArgumentException>(() => Plots.SaveTrainingCurves(tmp.Combine("x.png"), null, null, null, Array.Empty<double>()));
    }

    [Fact]
    public void SpikeRaster()
    {
        using var tmp = new TempDirectory();
        int steps = 30, neurons = 20;
        var spikes = new float[steps * neurons];
        for (int t = 0; t < steps; t++)
            for (int n = 0; n < neurons; n++)
                if ((t * 7 + n * 3) % 5 == 0) spikes[t * neurons + n] = 1f;
        var path = tmp.Combine("raster.png");
        Plots.SaveSpikeRaster(path, spikes, steps, neurons);
        AssertPng(path, Plots.DefaultWidth, Plots.DefaultHeight);

        var e = Assert.Throws<ArgumentException>(() => Plots.SaveSpikeRaster(path, spikes, steps, neurons + 1));
        Assert.Contains("spikes", e.ParamName);
    }

    [Fact]
    public void EmptyRaster_StillRenders()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("silent.png");
        Plots.SaveSpikeRaster(path, new float[50], 10, 5, width: 300, height: 200);
        AssertPng(path, 300, 200);
    }

    [Fact]
    public void MembraneTraces()
    {
        using var tmp = new TempDirectory();
        int steps = 40, neurons = 8;
        var h = new float[steps * neurons];
        for (int t = 0; t < steps; t++)
            for (int n = 0; n < neurons; n++)
                h[t * neurons + n] = (float)Math.Sin(0.3 * t + n);
        var path = tmp.Combine("mem.png");
        Plots.SaveMembraneTraces(path, h, steps, neurons, new[] { 0, 3, 7 }, threshold: 0.8, width: 500, height: 300);
        AssertPng(path, 500, 300);
        Assert.Throws<ArgumentOutOfRangeException>(() => Plots.SaveMembraneTraces(path, h, steps, neurons, new[] { 8 }));
    }

    [Fact]
    public void FiringRates()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("rates.png");
        Plots.SaveFiringRates(path, new[] { "conv1", "conv2", "fc1", "out" }, new[] { 0.12, 0.08, 0.05, 0.2 }, width: 400, height: 300);
        AssertPng(path, 400, 300);
        Assert.Throws<ArgumentException>(() => Plots.SaveFiringRates(path, new[] { "a" }, new[] { 0.1, 0.2 }));
    }
}
