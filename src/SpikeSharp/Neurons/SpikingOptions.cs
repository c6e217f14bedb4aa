namespace SpikeSharp.Neurons;

/// <summary>Options of the fused spiking functions (immutable; use <c>with</c> to change one).</summary>
public sealed record SpikingOptions
{
    /// <summary>The defaults: the <see cref="SurrogateKind.ArctanTether"/> surrogate (peak α), α = 2, hard reset
    /// to 0, reset detached, h saved in float32.</summary>
    public static SpikingOptions Default { get; } = new();

    /// <summary>The surrogate derivative used in backward; default <see cref="SurrogateKind.ArctanTether"/>, peak α
    /// (not the textbook <see cref="SurrogateKind.Atan"/>, peak α/2: see <see cref="SurrogateKind"/>).</summary>
    public SurrogateKind Surrogate { get; init; } = SurrogateKind.ArctanTether;

    /// <summary>Surrogate sharpness α used when no alpha tensor is passed (must be &gt; 0).</summary>
    public float Alpha { get; init; } = 2f;

    /// <summary>Hard (to <see cref="VReset"/>) or soft (subtract the threshold) reset.</summary>
    public ResetMode Reset { get; init; } = ResetMode.Hard;

    /// <summary>The membrane after a spike under a hard reset.</summary>
    public float VReset { get; init; }

    /// <summary>True (the seed's choice): no gradient flows through the spike into the reset.
    /// False: the reset path ∂u/∂s is differentiated through the surrogate too.</summary>
    public bool DetachReset { get; init; } = true;

    /// <summary>dtype of the membrane h kept for backward: <see cref="DType.Float32"/> (4 B/neuron-step) or
    /// <see cref="DType.Float16"/> (2 B/neuron-step, gradients to about 1e-3 relative).</summary>
    public DType SavedDType { get; init; } = DType.Float32;

    /// <summary>Also return the membrane sequence h (T, N) as float32 (not differentiable).</summary>
    public bool ReturnMembrane { get; init; }
}

/// <summary>Outputs of a fused spiking function.</summary>
/// <param name="Spikes">(T, N) float32 spikes in {0, 1}; differentiable through the surrogate.</param>
/// <param name="V">(N) membrane after the last step (differentiable).</param>
/// <param name="A">(N) adaptation after the last step for ALIF (differentiable); null otherwise.</param>
/// <param name="H">
/// (T, N) pre-spike membrane when <see cref="SpikingOptions.ReturnMembrane"/>; not differentiable.
/// </param>
public sealed record SpikingResult(Tensor Spikes, Tensor V, Tensor? A, Tensor? H)
{
    /// <summary>
    /// Bytes kept for the backward pass (packed spikes, h, ALIF checkpoints); 0 when nothing needs a gradient.
    /// </summary>
    public long SavedBytes { get; init; }

    /// <summary>Saved bytes per neuron-step.</summary>
    public double SavedBytesPerNeuronStep => Spikes.Numel == 0 ? 0 : (double)SavedBytes / Spikes.Numel;

    /// <summary>
    /// The packed spikes kept for backward ((ceil(T/32), N) int32), for inspection; null when none were kept.
    /// </summary>
    internal Tensor? SavedBits { get; init; }

    /// <summary>The h kept for backward (float32 (T, N), or float16 in step pairs, <see cref="HalfPairs"/>), for
    /// inspection; null when none was kept (no gradient, or recompute mode).</summary>
    internal Tensor? SavedH { get; init; }
}
