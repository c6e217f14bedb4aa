namespace SpikeSharp.Nn;

/// <summary>
/// Inverted dropout (identity in evaluation). With <c>sharedOverTime</c> the input is (T, B, ...) and one mask
/// is drawn per sequence and reused at every step, as spiking networks usually want.
/// </summary>
public sealed class Dropout : Module
{
    private readonly Generator? _gen;

    /// <summary>Creates the layer; masks come from <paramref name="gen"/> (the default generator when null).</summary>
    public Dropout(float p = 0.5f, bool sharedOverTime = false, Generator? gen = null)
    {
        if (!(p >= 0f && p < 1f))
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p must be in [0, 1), got {p}");
        P = p; SharedOverTime = sharedOverTime; _gen = gen;
    }

    /// <summary>Drop probability.</summary>
    public float P { get; }
    /// <summary>Whether one mask is shared over the leading time dim.</summary>
    public bool SharedOverTime { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Tensor.Dropout(x, P, IsTraining, _gen, SharedOverTime);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={P}, sharedOverTime={SharedOverTime}";
}
