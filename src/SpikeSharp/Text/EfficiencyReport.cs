using System.Globalization;
using System.Text;

namespace SpikeSharp.Text;

/// <summary>
/// Synaptic operations of one layer per token: what a dense network of the same shape would do
/// (<see cref="DenseMacs"/>) against what the spiking network must do given measured firing rates:
/// multiply-accumulates where the input is real-valued and accumulates (additions) where it is a spike.
/// </summary>
/// <param name="Name">Layer path ("blocks.0.mlp.fc2").</param>
/// <param name="DenseMacs">Multiply-accumulates per token with every input treated as real-valued.</param>
/// <param name="Macs">Multiply-accumulates the spiking network still needs (real-valued inputs).</param>
/// <param name="Accumulates">Additions driven by input spikes: firing rate × fan-in × fan-out.</param>
/// <param name="InputRate">Measured firing rate of the layer's spiking input, or NaN for a real-valued input.</param>
public sealed record LayerOps(string Name, double DenseMacs, double Macs, double Accumulates, double InputRate)
{
    /// <summary>A matrix product whose input is real-valued: all of its MACs remain.</summary>
    public static LayerOps Dense(string name, long fanIn, long fanOut) =>
        new(name, fanIn * fanOut, fanIn * fanOut, 0, double.NaN);

    /// <summary>A matrix product fed by spikes at <paramref name="rate"/>: each spike adds one weight column.</summary>
    public static LayerOps Spiking(string name, long fanIn, long fanOut, double rate) =>
        new(name, fanIn * fanOut, 0, rate * fanIn * fanOut, rate);
}

/// <summary>
/// Dense MACs against spike-driven accumulates per token, summed over layers, with the energy estimate
/// commonly used for SNNs (45 nm, 32-bit float: 4.6 pJ per MAC, 0.9 pJ per accumulate; Horowitz 2014).
/// </summary>
public sealed class EfficiencyReport
{
    /// <summary>Energy of one 32-bit multiply-accumulate in picojoules (45 nm).</summary>
    public const double MacPicojoules = 4.6;
    /// <summary>Energy of one 32-bit addition in picojoules (45 nm).</summary>
    public const double AccumulatePicojoules = 0.9;

    /// <summary>Builds the report from per-layer counts.</summary>
    public EfficiencyReport(IReadOnlyList<LayerOps> layers) => Layers = layers;

    /// <summary>Per-layer counts, in model order.</summary>
    public IReadOnlyList<LayerOps> Layers { get; }

    /// <summary>Σ dense MACs per token.</summary>
    public double DenseMacs => Layers.Sum(l => l.DenseMacs);
    /// <summary>Σ remaining MACs per token.</summary>
    public double Macs => Layers.Sum(l => l.Macs);
    /// <summary>Σ spike-driven accumulates per token.</summary>
    public double Accumulates => Layers.Sum(l => l.Accumulates);
    /// <summary>Estimated energy per token of the dense network, pJ.</summary>
    public double DenseEnergy => DenseMacs * MacPicojoules;
    /// <summary>Estimated energy per token of the spiking network, pJ.</summary>
    public double SpikingEnergy => Macs * MacPicojoules + Accumulates * AccumulatePicojoules;
    /// <summary>Mean firing rate over the spiking inputs (weighted by their dense MACs), NaN when none.</summary>
    public double MeanRate
    {
        get
        {
            var sp = Layers.Where(l => !double.IsNaN(l.InputRate)).ToList();
            double w = sp.Sum(l => l.DenseMacs);
            return w == 0 ? double.NaN : sp.Sum(l => l.InputRate * l.DenseMacs) / w;
        }
    }

    /// <summary>One summary line: dense MACs vs MACs + ACs per token and the energy ratio.</summary>
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"per token: dense {Fmt(DenseMacs)} MACs | spiking {Fmt(Macs)} MACs + {Fmt(Accumulates)} ACs "
        + $"(mean input rate {MeanRate:P1}) | energy {DenseEnergy / 1e6:F3} → {SpikingEnergy / 1e6:F3} µJ "
        + $"({DenseEnergy / Math.Max(SpikingEnergy, 1e-12):F2}× less)");

    /// <summary>A plain-text table, one row per layer, then the totals.</summary>
    public string Table()
    {
        var sb = new StringBuilder();
        int w = Math.Max(8, Layers.Count == 0 ? 8 : Layers.Max(l => l.Name.Length));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{"layer".PadRight(w)}  {"rate",7}  {"dense MACs",11}  {"MACs",11}  {"ACs",11}"));
        foreach (var l in Layers)
        {
            string rate = double.IsNaN(l.InputRate) ? "-" : l.InputRate.ToString("P1", CultureInfo.InvariantCulture);
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{l.Name.PadRight(w)}  {rate,7}  {Fmt(l.DenseMacs),11}  {Fmt(l.Macs),11}  {Fmt(l.Accumulates),11}"));
        }
        sb.Append(Summary());
        return sb.ToString();
    }

    private static string Fmt(double v) => v switch
    {
        >= 1e9 => (v / 1e9).ToString("F2", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (v / 1e6).ToString("F2", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (v / 1e3).ToString("F1", CultureInfo.InvariantCulture) + "k",
        _ => v.ToString("F0", CultureInfo.InvariantCulture),
    };
}
