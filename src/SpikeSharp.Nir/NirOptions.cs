namespace SpikeSharp.Nir;

/// <summary>
/// Settings of <see cref="NirExport"/> and <see cref="NirImport"/>. NIR describes neurons in continuous time
/// (τ·dv/dt = (v_leak − v) + R·I); SpikeSharp's layers step in discrete time (v_t = λ·v_{t−1} + x_t).
/// The two meet through the time step <see cref="Dt"/>: a decay λ is τ = dt / (1 − λ) with R = τ / dt
/// (a unit input weight), as snnTorch exports, and an imported τ, R, v_leak become λ = 1 − dt/τ and an input
/// x·R·dt/τ + v_leak·dt/τ.
/// </summary>
public sealed record NirOptions
{
    /// <summary>The defaults: dt = 1e-4 s (snnTorch's), input shape taken from the first layer, SpikeSharp metadata
    /// written, imported neuron parameters learnable.</summary>
    public static NirOptions Default { get; } = new();

    /// <summary>The simulation time step in seconds that maps decays to time constants (default 1e-4, as snnTorch
    /// uses). Export and import must use the same dt for the same dynamics; a file from Norse usually wants 1e-3.
    /// </summary>
    public double Dt { get; init; } = 1e-4;

    /// <summary>
    /// Export: the shape of one sample without the time and batch dims, e.g. [1, 28, 28] (NIR's Input node; the
    /// shapes of every later node follow from it). Null takes it from the first layer, which a Linear or a per-feature
    /// neuron layer gives; a network that starts with a convolution needs it.
    /// </summary>
    public int[]? InputShape { get; init; }

    /// <summary>
    /// Export: also store each neuron layer's SpikeSharp parameters (the learnt logits of its decays, its threshold)
    /// in its node's "metadata" group, so that <see cref="NirImport"/> rebuilds the same layer bit for bit (other
    /// readers ignore metadata; the import uses it only where it agrees with the node's NIR parameters). Default true.
    /// </summary>
    public bool SpikeSharpMetadata { get; init; } = true;

    /// <summary>Import: whether the neuron parameters (decays, thresholds) of layers built from NIR parameters are
    /// trained (weights always are; a decay of exactly 0 or 1 stays fixed in any case). Layers rebuilt from
    /// SpikeSharp's metadata keep the layout they were exported with. Default true.</summary>
    public bool Learnable { get; init; } = true;

    /// <summary>Checks every field; throws naming the first bad one.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="Dt"/> is not a positive finite number.</exception>
    /// <exception cref="ArgumentException"><see cref="InputShape"/> is empty or has a dim below 1.</exception>
    public void Validate()
    {
        if (!(Dt > 0) || !double.IsFinite(Dt))
            throw new ArgumentOutOfRangeException(nameof(Dt), Dt,
                $"NIR: dt must be a positive number of seconds, got {Dt}");
        if (InputShape is { } s && (s.Length == 0 || s.Any(d => d <= 0)))
            throw new ArgumentException("NIR: the input shape must be one or more positive dims (no time or batch " +
                $"dim), got {ShapeUtil.Format(s)}", nameof(InputShape));
    }
}
