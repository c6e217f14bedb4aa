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

    /// <summary>The bottom axis ticks after rendering (what the PNG shows).</summary>
    private static ScottPlot.Tick[] BottomTicks(ScottPlot.Plot plot)
    {
        plot.GetImage(400, 300);
        return plot.Axes.Bottom.TickGenerator.Ticks;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(300)]
    public void TimeAxesTickWholeStepsFromZero(int steps)
    {
        // Before: ScottPlot's automatic ticks, e.g. -0.4, -0.2, 0, 0.2, … for T = 4 (the raster's half-step margin).
        var spikes = new float[steps * 3];
        spikes[0] = 1;
        foreach (var plot in new[]
        {
            Plots.SpikeRaster(spikes, steps, 3, "raster"),
            Plots.MembraneTraces(new float[steps * 3], steps, 3, new[] { 0, 2 }, 1.0, "membrane"),
        })
        {
            var ticks = BottomTicks(plot);
            Assert.NotEmpty(ticks);
            Assert.Equal(0, ticks[0].Position);
            Assert.All(ticks, t =>
            {
                Assert.True(t.IsMajor);
                Assert.Equal(Math.Round(t.Position), t.Position);
                Assert.InRange(t.Position, 0, steps - 1);
                Assert.Equal(((int)t.Position).ToString(System.Globalization.CultureInfo.InvariantCulture), t.Label);
            });
            Assert.InRange(ticks.Length, 1, 10);
        }
    }

    [Fact]
    public void RasterRowsCanBeLabelledWithTheLayersNeuronIndices()
    {
        var plot = Plots.SpikeRaster(new float[2 * 3], 2, 3, "raster", neuronIndices: new[] { 7, 100, 2048 });
        plot.GetImage(400, 300);
        Assert.Equal(new[] { "7", "100", "2048" }, plot.Axes.Left.TickGenerator.Ticks.Select(t => t.Label));
        Assert.Equal("neuron (index in the layer)", plot.Axes.Left.Label.Text);
        var e = Assert.Throws<ArgumentException>(
            () => Plots.SpikeRaster(new float[6], 2, 3, "raster", neuronIndices: new[] { 1 }));
        Assert.Equal("neuronIndices", e.ParamName);
    }

    [Fact]
    public void FiringRatesLabelTheAxisAndEachBarByLayer()
    {
        var plot = Plots.FiringRates(new[] { "1 Lif 32×28×28", "3 Lif 64×14×14", "5 Lif 256" },
            new[] { 0.017, 0.002, 0.0 }, "rates");
        var ticks = BottomTicks(plot);
        // Before: no axis label.
        Assert.Equal("layer", plot.Axes.Bottom.Label.Text);
        Assert.Equal(new[] { "1 Lif 32×28×28", "3 Lif 64×14×14", "5 Lif 256" }, ticks.Select(t => t.Label));
        Assert.Equal(new double[] { 0, 1, 2 }, ticks.Select(t => t.Position));
    }
}
