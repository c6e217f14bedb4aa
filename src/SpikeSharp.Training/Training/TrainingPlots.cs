using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>The PNGs a training run leaves in DIR/plots: curves, a spike raster, membrane traces, firing
/// rates.</summary>
public static class TrainingPlots
{
    /// <summary>Most neurons a raster shows (one row each).</summary>
    public const int RasterRows = 256;

    /// <summary>Writes every plot; the network is run once on the first test sample to record spikes and
    /// traces.</summary>
    public static void Write(string dir, IReadOnlyList<EpochResult> history, Module model, ArrayDataset test,
        FashionTrainOptions o, Generator encGen) =>
        Write(dir, history, model, test, $"Fashion-MNIST, {FashionModels.Name(o.Model)}",
            x => Encoders.Encode(x, o.TimeSteps, o.Encoding, encGen), o.Device);

    /// <summary>
    /// Writes every plot: the curves of <paramref name="history"/> under <paramref name="title"/>, and a raster,
    /// membrane traces and firing rates of one run of the network on the first sample of <paramref name="test"/>,
    /// which <paramref name="input"/> turns from a batch of one (the loader's layout) into the network's (T, 1, …).
    /// </summary>
    public static void Write(string dir, IReadOnlyList<EpochResult> history, Module model, ILabelledDataset test,
        string title, Func<Tensor, Tensor> input, Device device)
    {
        Directory.CreateDirectory(dir);
        Plots.SaveTrainingCurves(Path.Combine(dir, "curves.png"),
            history.Select(h => h.TrainLoss).ToArray(), history.Select(h => h.TestLoss).ToArray(),
            history.Select(h => h.TrainAccuracy).ToArray(), history.Select(h => h.TestAccuracy).ToArray(),
            title: title);

        var values = new float[test.SampleSize];
        test.CopySample(0, values);
        // A batch of one: (1, …) for static samples, (T, 1, …) for sequences (the same values either way).
        var shape = test.TimeMajor
            ? new[] { test.SampleShape[0], 1 }.Concat(test.SampleShape.Skip(1)).ToArray()
            : new[] { 1 }.Concat(test.SampleShape).ToArray();
        var x = Tensor.FromArray(values, shape, device);
        NeuronRecording? rec;
        using (x) rec = Record(model, () => input(x));
        if (rec is null) return;

        var first = rec.Layers[0];
        var (raster, rows) = first.Raster(RasterRows);
        string which = first.Fired == 0
            ? $"none of {first.Neurons} neurons fired"
            : $"{rows.Length} of the {first.Fired} neurons that fired (of {first.Neurons})";
        Plots.SaveSpikeRaster(Path.Combine(dir, "raster.png"), raster, rec.Steps, rows.Length,
            title: $"spikes of {first.Label}: {which}", neuronIndices: rows);
        if (first.Membrane is { } h)
        {
            var pool = first.Fired > 0 ? first.FiredNeurons() : Enumerable.Range(0, first.Neurons).ToArray();
            int shown = Math.Min(5, pool.Length);
            var idx = Enumerable.Range(0, shown).Select(i => pool[(int)((long)i * pool.Length / shown)]).ToArray();
            Plots.SaveMembraneTraces(Path.Combine(dir, "membrane.png"), h, rec.Steps, first.Neurons, idx,
                first.Threshold,
                title: $"membrane of {first.Label}{(first.Fired > 0 ? ", neurons that fired" : "")} (one test sample)");
        }
        Plots.SaveFiringRates(Path.Combine(dir, "firing-rates.png"), rec.Layers.Select(l => l.Label).ToArray(),
            rec.Layers.Select(l => l.Rate).ToArray(), title: "firing rate per layer (one test sample)");
    }

    /// <summary>
    /// Runs <paramref name="model"/> once in eval mode on the (T, 1, ...) input <paramref name="input"/> makes and
    /// records every spiking layer's spikes (and the first one's membrane); null when the model has no spiking layer.
    /// The model's state is reset afterwards and its layers stop storing.
    /// </summary>
    internal static NeuronRecording? Record(Module model, Func<Tensor> input)
    {
        var neurons = model.NamedModules().Where(m => m.Module is SpikingLayer)
            .Select(m => (m.Name, Layer: (SpikingLayer)m.Module)).ToList();
        if (neurons.Count == 0) return null;
        foreach (var (_, n) in neurons) { n.StoreSpikes = true; n.StoreTraces = true; }
        try
        {
            model.Eval();
            using var _ = Tape.NoGrad();
            using var scope = TensorScope.Begin();
            model.ResetState();
            var xt = input();
            model.Forward(xt);
            int steps = xt.Size(0);
            var layers = neurons.Select((n, i) =>
            {
                var spikes = n.Layer.LastSpikes!;
                // (T, 1, ...): one sample, so the neurons are the trailing dims.
                var shape = spikes.Shape.Skip(2).ToArray();
                int count = shape.Aggregate(1, (a, b) => a * b);
                string label = $"{n.Name} {n.Layer.GetType().Name} {string.Join("×", shape)}";
                float[]? membrane = i == 0 ? n.Layer.Trace?.ToArray() : null;
                float threshold = i == 0 && n.Layer.StateDict().TryGetValue("threshold", out var th)
                    ? th.ToArray()[0]
                    : 1f;
                return new LayerRecording(label, spikes.ToArray(), steps, count, membrane, threshold);
            }).ToArray();
            return new NeuronRecording(steps, layers);
        }
        finally
        {
            foreach (var (_, n) in neurons) { n.StoreSpikes = false; n.StoreTraces = false; n.TrackFiringRate = false; }
            model.ResetState();
        }
    }
}

/// <summary>One forward pass of one sample through a model's spiking layers.</summary>
internal sealed record NeuronRecording(int Steps, LayerRecording[] Layers);

/// <summary>
/// One spiking layer on one sample: spikes (T, Neurons) time-major, the membrane when recorded, and a label
/// "module-path Type shape" (e.g. "1 Lif 32×28×28"): Sequential paths alone are bare indices.
/// </summary>
internal sealed record LayerRecording(string Label, float[] Spikes, int Steps, int Neurons, float[]? Membrane,
    float Threshold)
{
    /// <summary>Mean spikes per neuron per step.</summary>
    public double Rate => Spikes.Length == 0 ? 0 : Spikes.Sum(s => (double)s) / Spikes.Length;

    /// <summary>Neurons that spiked at least once.</summary>
    public int Fired => FiredNeurons().Length;

    /// <summary>Indices of the neurons that spiked at least once, ascending.</summary>
    public int[] FiredNeurons()
    {
        var fired = new List<int>();
        for (int n = 0; n < Neurons; n++)
            for (int t = 0; t < Steps; t++)
                if (Spikes[t * Neurons + n] != 0) { fired.Add(n); break; }
        return fired.ToArray();
    }

    /// <summary>
    /// At most <paramref name="maxRows"/> rows for a raster, (T, rows) time-major, and the neuron of each row:
    /// evenly spaced among the neurons that fired. A layer's first neurons are no sample of it: in a conv layer
    /// they are one channel's top rows, the image border, which is silent.
    /// </summary>
    public (float[] Raster, int[] Rows) Raster(int maxRows)
    {
        var fired = FiredNeurons();
        var pool = fired.Length > 0 ? fired : Enumerable.Range(0, Neurons).ToArray();
        int shown = Math.Min(maxRows, pool.Length);
        var rows = Enumerable.Range(0, shown).Select(k => pool[(int)((long)k * pool.Length / shown)]).ToArray();
        var raster = new float[Steps * shown];
        for (int t = 0; t < Steps; t++)
            for (int r = 0; r < shown; r++)
                raster[t * shown + r] = Spikes[t * Neurons + rows[r]];
        return (raster, rows);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Label}: rate {Rate:F4}, {Fired} of {Neurons} fired");
}
