using SpikeSharp.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Monitoring;

public class TrainingPlotsTests
{
    /// <summary>The bundled Fashion-MNIST sample's first test image, (1, 1, 28, 28), as the trainer's plots use it.
    /// </summary>
    private static Tensor FirstTestImage()
    {
        var ds = FashionMnist.LoadBundledSample();
        var pixels = ds.TestImages[..784].Select(b => b / 255f).ToArray();
        return Tensor.FromArray(pixels, new[] { 1, 1, 28, 28 }, Device.Cpu);
    }

    [Fact]
    public void CsnnRasterShowsNeuronsThatFireAndLayersAreNamed()
    {
        using var model = FashionModels.Create(FashionModelKind.Csnn, new Generator(0), Device.Cpu);
        using var x = FirstTestImage();
        var rec = TrainingPlots.Record(model, () => Encoders.Encode(x, 4, EncodingKind.Direct, new Generator(1)));
        Assert.NotNull(rec);
        Assert.Equal(4, rec!.Steps);
        // Bars are labelled by module path, type and shape; before: by the bare Sequential index (1, 3, 5).
        Assert.Equal(new[] { "1 Lif 32×28×28", "3 Lif 64×14×14", "5 Lif 256" }, rec.Layers.Select(l => l.Label));

        var conv = rec.Layers[0];
        Assert.Equal(32 * 28 * 28, conv.Neurons);
        Assert.True(conv.Fired > 0, "the first conv layer should fire on a Fashion-MNIST image");
        // The root cause of the empty raster: the first 256 neurons of a conv layer are channel 0's top nine rows,
        // the image's background, which never fires.
        for (int t = 0; t < conv.Steps; t++)
            Assert.All(conv.Spikes.Skip(t * conv.Neurons).Take(TrainingPlots.RasterRows), s => Assert.Equal(0f, s));

        var (raster, rows) = conv.Raster(TrainingPlots.RasterRows);
        Assert.Equal(Math.Min(TrainingPlots.RasterRows, conv.Fired), rows.Length);
        Assert.Equal(conv.Steps * rows.Length, raster.Length);
        Assert.All(Enumerable.Range(0, rows.Length),
            r => Assert.Contains(Enumerable.Range(0, conv.Steps), t => raster[t * rows.Length + r] != 0));
        Assert.Equal(rows.OrderBy(r => r), rows);
        Assert.Equal(rows.Length, rows.Distinct().Count());

        // Rates are plain numbers from the recorded spikes (no layer API involved).
        Assert.Equal(conv.Spikes.Average(s => (double)s), conv.Rate, 12);
        Assert.NotNull(conv.Membrane);
        Assert.Null(rec.Layers[1].Membrane);
        // Recording leaves the model as it was: layers no longer store spikes.
        var layers = model.NamedModules().Select(m => m.Module).OfType<global::SpikeSharp.Nn.SpikingLayer>();
        Assert.All(layers, l => Assert.False(l.StoreSpikes));
    }

    [Fact]
    public void SilentLayersStillGiveARaster()
    {
        var silent = new LayerRecording("0 Lif 10", new float[3 * 10], 3, 10, null, 1f);
        var (raster, rows) = silent.Raster(4);
        Assert.Equal(new[] { 0, 2, 5, 7 }, rows);
        Assert.Equal(new float[12], raster);
        Assert.Equal(0, silent.Fired);
    }
}
