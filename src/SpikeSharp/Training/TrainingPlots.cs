using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>The PNGs a training run leaves in DIR/plots: curves, a spike raster, membrane traces, firing rates.</summary>
public static class TrainingPlots
{
    /// <summary>Writes every plot; the network is run once on the first test sample to record spikes and traces.</summary>
    public static void Write(string dir, IReadOnlyList<EpochResult> history, Module model, ArrayDataset test, FashionTrainOptions o, Generator encGen)
    {
        Directory.CreateDirectory(dir);
        Plots.SaveTrainingCurves(Path.Combine(dir, "curves.png"),
            history.Select(h => h.TrainLoss).ToArray(), history.Select(h => h.TestLoss).ToArray(),
            history.Select(h => h.TrainAccuracy).ToArray(), history.Select(h => h.TestAccuracy).ToArray(),
            title: $"Fashion-MNIST, {FashionModels.Name(o.Model)}");

        var neurons = model.NamedModules().Where(m => m.Module is SpikingLayer).Select(m => (m.Name, Layer: (SpikingLayer)m.Module)).ToList();
        if (neurons.Count == 0) return;
        foreach (var (_, n) in neurons) { n.StoreSpikes = true; n.StoreTraces = true; n.TrackFiringRate = true; }
        try
        {
            model.Eval();
            using var _ = Tape.NoGrad();
            using var scope = TensorScope.Begin();
            model.ResetState();
            var x = Tensor.FromArray(test.Data.AsSpan(0, test.SampleSize).ToArray(), new[] { 1 }.Concat(test.SampleShape).ToArray(), o.Device);
            model.Forward(Encoders.Encode(x, o.Steps, o.Encoding, encGen));
            var (name0, first) = neurons[0];
            var spikes = first.LastSpikes!.ToArray();
            int steps = o.Steps, feats = spikes.Length / steps;
            int shown = Math.Min(feats, 256);
            var sub = new float[steps * shown];
            for (int t = 0; t < steps; t++) Array.Copy(spikes, t * feats, sub, t * shown, shown);
            Plots.SaveSpikeRaster(Path.Combine(dir, "raster.png"), sub, steps, shown, title: $"spikes of layer {name0} (first {shown} neurons, one test sample)");
            if (first.Trace is { } trace)
            {
                var h = trace.ToArray();
                var th = first.StateDict().TryGetValue("threshold", out var thr) ? thr.ToArray()[0] : 1f;
                var idx = Enumerable.Range(0, Math.Min(5, feats)).Select(i => i * Math.Max(1, feats / 5)).Where(i => i < feats).ToArray();
                Plots.SaveMembraneTraces(Path.Combine(dir, "membrane.png"), h, steps, feats, idx, th, title: $"membrane of layer {name0}");
            }
            Plots.SaveFiringRates(Path.Combine(dir, "firing-rates.png"), neurons.Select(n => n.Name).ToArray(),
                neurons.Select(n => (double)n.Layer.FiringRate!.Item()).ToArray(),
                title: "firing rate per layer (one test sample)");
        }
        finally
        {
            foreach (var (_, n) in neurons) { n.StoreSpikes = false; n.StoreTraces = false; n.TrackFiringRate = false; }
            model.ResetState();
        }
    }
}
