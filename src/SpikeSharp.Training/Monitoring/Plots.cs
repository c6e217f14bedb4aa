using System.Globalization;
using ScottPlot;

namespace SpikeSharp.Monitoring;

/// <summary>PNG plots for training runs: learning curves, spike rasters, membrane traces and firing rates.</summary>
/// <remarks>
/// Inputs are plain arrays; time-major [T, N] arrays are row-major float[] of length T*N. Every method
/// creates the destination directory and writes a PNG of exactly <c>width</c> x <c>height</c> pixels.
/// </remarks>
public static class Plots
{
    /// <summary>Default image width in pixels.</summary>
    public const int DefaultWidth = 800;

    /// <summary>Default image height in pixels.</summary>
    public const int DefaultHeight = 500;

    /// <summary>Loss (left axis) and accuracy (right axis) per epoch; any series may be null or empty.</summary>
    /// <param name="path">PNG destination.</param>
    /// <param name="trainLoss">Training loss per epoch.</param>
    /// <param name="testLoss">Test loss per epoch.</param>
    /// <param name="trainAccuracy">Training accuracy per epoch (fraction 0..1 or percent).</param>
    /// <param name="testAccuracy">Test accuracy per epoch.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    public static void SaveTrainingCurves(string path,
        IReadOnlyList<double>? trainLoss, IReadOnlyList<double>? testLoss,
        IReadOnlyList<double>? trainAccuracy, IReadOnlyList<double>? testAccuracy,
        string title = "Training curves", int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel("loss");
        bool any = false;
        any |= AddCurve(plot, trainLoss, "train loss", right: false, dashed: false);
        any |= AddCurve(plot, testLoss, "test loss", right: false, dashed: true);
        bool acc = AddCurve(plot, trainAccuracy, "train accuracy", right: true, dashed: false);
        acc |= AddCurve(plot, testAccuracy, "test accuracy", right: true, dashed: true);
        if (!any && !acc)
            throw new ArgumentException("At least one non-empty series is required.", nameof(trainLoss));
        if (acc) plot.Axes.Right.Label.Text = "accuracy";
        // Epochs are whole numbers; fractional ticks would suggest otherwise.
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(Alignment.UpperCenter);
        Save(plot, path, width, height);
    }

    /// <summary>A dot for every nonzero entry of a [T, N] spike array: time on x, neuron on y.</summary>
    /// <param name="path">PNG destination.</param>
    /// <param name="spikes">Row-major [steps, neurons] spikes (nonzero = spike).</param>
    /// <param name="steps">Number of time steps T.</param>
    /// <param name="neurons">Number of neurons N.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="neuronIndices">The layer's index of each of the N rows, shown as the y tick labels (when the
    /// rows are a selection of a layer's neurons); null labels the rows 0..N-1.</param>
    public static void SaveSpikeRaster(string path, float[] spikes, int steps, int neurons,
        string title = "Spike raster", int width = DefaultWidth, int height = DefaultHeight,
        IReadOnlyList<int>? neuronIndices = null)
        => Save(SpikeRaster(spikes, steps, neurons, title, neuronIndices), path, width, height);

    /// <summary>The plot <see cref="SaveSpikeRaster"/> saves.</summary>
    internal static Plot SpikeRaster(float[] spikes, int steps, int neurons, string title,
        IReadOnlyList<int>? neuronIndices = null)
    {
        CheckTimeMajor(spikes, steps, neurons, nameof(spikes));
        if (neuronIndices is not null && neuronIndices.Count != neurons)
            throw new ArgumentException(
                $"Expected one neuron index per row ({neurons}), got {neuronIndices.Count}.", nameof(neuronIndices));
        var xs = new List<double>();
        var ys = new List<double>();
        for (int t = 0; t < steps; t++)
            for (int n = 0; n < neurons; n++)
                if (spikes[t * neurons + n] != 0f) { xs.Add(t); ys.Add(n); }

        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("time step");
        plot.YLabel(neuronIndices is null ? "neuron" : "neuron (index in the layer)");
        if (xs.Count > 0)
        {
            // Dot size shrinks with density so large rasters stay readable.
            float size = neurons > 200 || steps > 200 ? 2 : 4;
            plot.Add.Markers(xs.ToArray(), ys.ToArray(), MarkerShape.FilledSquare, size, Colors.Black);
        }
        plot.Axes.SetLimits(-0.5, steps - 0.5, -0.5, neurons - 0.5);
        plot.Axes.Bottom.TickGenerator = IntegerTicks(steps);
        plot.Axes.Left.TickGenerator = IntegerTicks(neurons, neuronIndices);
        return plot;
    }

    /// <summary>Membrane potential over time for selected neurons, with the firing threshold as a dashed
    /// line.</summary>
    /// <param name="path">PNG destination.</param>
    /// <param name="membrane">Row-major [steps, neurons] membrane potentials.</param>
    /// <param name="steps">Number of time steps T.</param>
    /// <param name="neurons">Number of neurons N.</param>
    /// <param name="neuronIndices">Neurons to draw (each in 0..N-1).</param>
    /// <param name="threshold">Threshold to draw, or null for none.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    public static void SaveMembraneTraces(string path, float[] membrane, int steps, int neurons,
        IReadOnlyList<int> neuronIndices,
        double? threshold = 1.0, string title = "Membrane potential", int width = DefaultWidth,
        int height = DefaultHeight)
        => Save(MembraneTraces(membrane, steps, neurons, neuronIndices, threshold, title), path, width, height);

    /// <summary>The plot <see cref="SaveMembraneTraces"/> saves.</summary>
    internal static Plot MembraneTraces(float[] membrane, int steps, int neurons, IReadOnlyList<int> neuronIndices,
        double? threshold, string title)
    {
        CheckTimeMajor(membrane, steps, neurons, nameof(membrane));
        ArgumentNullException.ThrowIfNull(neuronIndices);
        if (neuronIndices.Count == 0)
            throw new ArgumentException("At least one neuron index is required.", nameof(neuronIndices));
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("time step");
        plot.YLabel("membrane potential");
        var xs = Enumerable.Range(0, steps).Select(t => (double)t).ToArray();
        foreach (var n in neuronIndices)
        {
            if (n < 0 || n >= neurons)
                throw new ArgumentOutOfRangeException(nameof(neuronIndices), n,
                    $"Neuron index must be in 0..{neurons - 1}.");
            var ys = new double[steps];
            for (int t = 0; t < steps; t++) ys[t] = membrane[t * neurons + n];
            var line = plot.Add.Scatter(xs, ys);
            line.MarkerSize = 0;
            line.LegendText = $"neuron {n}";
        }
        if (threshold is double th)
        {
            var h = plot.Add.HorizontalLine(th);
            h.LinePattern = LinePattern.Dashed;
            h.Color = Colors.Red;
            h.LegendText = "threshold";
        }
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = IntegerTicks(steps);
        return plot;
    }

    /// <summary>Bar chart of the mean firing rate of each layer.</summary>
    /// <param name="path">PNG destination.</param>
    /// <param name="layerNames">Bar labels.</param>
    /// <param name="rates">Firing rate per layer (spikes per neuron per step).</param>
    /// <param name="title">Plot title.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    public static void SaveFiringRates(string path, IReadOnlyList<string> layerNames, IReadOnlyList<double> rates,
        string title = "Firing rate per layer", int width = DefaultWidth, int height = DefaultHeight)
        => Save(FiringRates(layerNames, rates, title), path, width, height);

    /// <summary>The plot <see cref="SaveFiringRates"/> saves.</summary>
    internal static Plot FiringRates(IReadOnlyList<string> layerNames, IReadOnlyList<double> rates, string title)
    {
        ArgumentNullException.ThrowIfNull(layerNames);
        ArgumentNullException.ThrowIfNull(rates);
        if (layerNames.Count != rates.Count || rates.Count == 0)
            throw new ArgumentException(
                $"Need one rate per layer name and at least one layer; got {layerNames.Count} names and "
                + $"{rates.Count} rates.", nameof(rates));
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("layer");
        plot.YLabel("firing rate (spikes per neuron per step)");
        plot.Add.Bars(rates.ToArray());
        var positions = Enumerable.Range(0, rates.Count).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, layerNames.ToArray());
        plot.Axes.Margins(bottom: 0);
        return plot;
    }

    /// <summary>
    /// Ticks at whole numbers 0, k, 2k, … below <paramref name="count"/> only, at most about ten of them, labelled
    /// with the number or with <paramref name="labels"/>[i]. Time steps and neuron rows are whole numbers from 0:
    /// ScottPlot's automatic ticks would put fractional and (with a half-step margin) negative ones there.
    /// </summary>
    internal static ScottPlot.TickGenerators.NumericManual IntegerTicks(int count, IReadOnlyList<int>? labels = null)
    {
        int every = TickStep(count);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < count; i += every)
            ticks.AddMajor(i, (labels is null ? i : labels[i]).ToString(CultureInfo.InvariantCulture));
        return ticks;
    }

    // The smallest of 1, 2, 5, 10, 20, 50, … that leaves fewer than ten intervals below count.
    private static int TickStep(int count)
    {
        for (long scale = 1; ; scale *= 10)
            foreach (int m in new[] { 1, 2, 5 })
                if ((count - 1) / (m * scale) < 10) return (int)(m * scale);
    }

    private static bool AddCurve(Plot plot, IReadOnlyList<double>? values, string label, bool right, bool dashed)
    {
        if (values is null || values.Count == 0) return false;
        var xs = Enumerable.Range(1, values.Count).Select(e => (double)e).ToArray();
        var s = plot.Add.Scatter(xs, values.ToArray());
        s.LegendText = label;
        s.MarkerSize = values.Count > 50 ? 0 : 5;
        if (dashed) s.LinePattern = LinePattern.Dashed;
        if (right) s.Axes.YAxis = plot.Axes.Right;
        return true;
    }

    private static void CheckTimeMajor(float[] data, int steps, int neurons, string name)
    {
        ArgumentNullException.ThrowIfNull(data, name);
        if (steps <= 0 || neurons <= 0)
            throw new ArgumentException($"steps and neurons must be positive, got {steps} x {neurons}.", name);
        if (data.Length != (long)steps * neurons)
            throw new ArgumentException(
                $"Expected {steps} x {neurons} = {(long)steps * neurons} values, got {data.Length}.", name);
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width} x {height}.", nameof(width));
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        plot.SavePng(full, width, height);
    }
}
