using SpikeSharp.Neurons;

namespace SpikeSharp.Nn;

/// <summary>Multi-step leaky integrate-and-fire layer with a learnable scalar decay and threshold.</summary>
/// <remarks>h_t = λ·u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t). See <see cref="SpikingFunctions.Lif"/>.</remarks>
public sealed class Lif : SpikingLayer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="decay">Initial λ in (0, 1].</param>
    /// <param name="threshold">Initial θ.</param>
    /// <param name="learnable">Whether λ and θ get gradients.</param>
    /// <param name="trainAlpha">Learn the surrogate sharpness α too (seed's pseudo-gradient).</param>
    /// <param name="options">Surrogate, reset, saved precision.</param>
    /// <param name="device">Where parameters and state live.</param>
    public Lif(float decay = 0.9f, float threshold = 1f, bool learnable = true, bool trainAlpha = false, SpikingOptions? options = null, Device? device = null)
        : base(options, device)
    {
        if (!(decay > 0f && decay <= 1f)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in (0, 1]");
        NewParameter("decay", 1, decay, learnable);
        NewParameter("threshold", 1, threshold, learnable);
        if (trainAlpha) NewParameter("alpha", 1, Options.Alpha);
    }

    /// <summary>λ (1).</summary>
    public Tensor Decay => Get("decay");
    /// <summary>θ (1).</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");


    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o) => SpikingFunctions.Lif(x, v0, Decay, Threshold, o, Alpha);
}

/// <summary>Multi-step integrate-and-fire layer (no leak) with a learnable threshold.</summary>
/// <remarks>h_t = u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t).</remarks>
public sealed class If : SpikingLayer
{
    /// <summary>Creates the layer.</summary>
    public If(float threshold = 1f, bool learnable = true, SpikingOptions? options = null, Device? device = null) : base(options, device)
        => NewParameter("threshold", 1, threshold, learnable);

    /// <summary>θ (1).</summary>
    public Tensor Threshold => Get("threshold");


    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o) => SpikingFunctions.If(x, v0, Threshold, o);
}

/// <summary>Parametric LIF: per-feature learnable decay and threshold (F = product of the dims after batch).</summary>
/// <remarks>As <see cref="Lif"/> with λ_f and θ_f for feature f, shared over batch and time.</remarks>
public sealed class Plif : SpikingLayer
{
    /// <summary>Creates the layer for <paramref name="features"/> features per sample.</summary>
    public Plif(int features, float decay = 0.9f, float threshold = 1f, SpikingOptions? options = null, Device? device = null) : base(options, device)
    {
        if (features <= 0) throw new ArgumentOutOfRangeException(nameof(features), features, "features must be positive");
        if (!(decay > 0f && decay <= 1f)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in (0, 1]");
        Features = features;
        NewParameter("decay", features, decay);
        NewParameter("threshold", features, threshold);
    }

    /// <summary>F.</summary>
    public int Features { get; }
    /// <summary>λ (F).</summary>
    public Tensor Decay => Get("decay");
    /// <summary>θ (F).</summary>
    public Tensor Threshold => Get("threshold");


    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o)
    {
        int f = (int)ShapeUtil.Numel(x._shape.AsSpan(2));
        if (f != Features)
            throw new ArgumentException($"Plif: input {ShapeUtil.Format(x._shape)} has {f} features per sample (product of dims after T, B); the layer has {Features}", nameof(x));
        return SpikingFunctions.Plif(x, v0, Decay, Threshold, o);
    }
}

/// <summary>Adaptive-threshold LIF layer with learnable λ, θ₀, β and λ_a (scalars).</summary>
/// <remarks>h_t = λ·u_{t−1} + x_t; θ_t = θ₀ + β·a_{t−1}; s_t = H(h_t − θ_t); u_t = reset(h_t, s_t); a_t = λ_a·a_{t−1} + s_t.</remarks>
public sealed class Alif : SpikingLayer
{
    /// <summary>Creates the layer.</summary>
    public Alif(float decay = 0.9f, float threshold = 1f, float beta = 0.2f, float decayA = 0.95f, SpikingOptions? options = null, Device? device = null)
        : base(options, device)
    {
        if (!(decay > 0f && decay <= 1f)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in (0, 1]");
        if (!(decayA > 0f && decayA <= 1f)) throw new ArgumentOutOfRangeException(nameof(decayA), decayA, "decayA must be in (0, 1]");
        NewParameter("decay", 1, decay);
        NewParameter("threshold", 1, threshold);
        NewParameter("beta", 1, beta);
        NewParameter("decay_a", 1, decayA);
    }

    /// <summary>λ.</summary>
    public Tensor Decay => Get("decay");
    /// <summary>θ₀.</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>β.</summary>
    public Tensor Beta => Get("beta");
    /// <summary>λ_a.</summary>
    public Tensor DecayA => Get("decay_a");

    /// <summary>The kept adaptation state (B, ...).</summary>
    public Tensor? Adaptation => AdaptationState;


    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o) =>
        SpikingFunctions.Alif(x, v0, a0, Decay, Threshold, Beta, DecayA, o);
}
