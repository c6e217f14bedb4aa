using SpikeSharp.Neurons;

namespace SpikeSharp.Nn;

// Every layer here takes the same trailing arguments: learnable (its neuron parameters get gradients), trainAlpha (the
// surrogate sharpness α is learnt too, one scalar), options, device. A learnable decay λ is stored as its logit w,
// λ = sigmoid(w), so no optimiser step can take it out of [0, 1] (see SpikingLayer.NewDecay).

/// <summary>Multi-step leaky integrate-and-fire layer with a scalar decay and threshold.</summary>
/// <remarks>
/// h_t = λ·u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t). See <see cref="SpikingFunctions.Lif"/>.
/// </remarks>
public sealed class Lif : SpikingLayer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="decay">Initial λ: in (0, 1) when learnable (learnt as its logit), in [0, 1] when fixed.</param>
    /// <param name="threshold">Initial θ.</param>
    /// <param name="learnable">Whether λ and θ get gradients (λ through its logit).</param>
    /// <param name="trainAlpha">Learn the surrogate sharpness α too (the seed's pseudo-gradient).</param>
    /// <param name="options">Surrogate, reset, saved precision.</param>
    /// <param name="device">Where parameters and state live.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decay"/> is outside its range.</exception>
    public Lif(float decay = 0.9f, float threshold = 1f, bool learnable = true, bool trainAlpha = false,
        SpikingOptions? options = null, Device? device = null)
        : base(options, device)
    {
        NewDecay("decay", 1, decay, learnable, nameof(decay));
        NewParameter("threshold", 1, threshold, learnable);
        if (trainAlpha) NewParameter("alpha", 1, Options.Alpha);
    }

    /// <summary>λ (1): see <see cref="SpikingLayer.DecayOf"/> for what the returned tensor is.</summary>
    public Tensor Decay() => DecayOf("decay");
    /// <summary>θ (1).</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");

    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o)
    {
        var decay = Decay();
        var r = SpikingFunctions.Lif(x, v0, decay, Threshold, o, Alpha);
        decay.Release();
        return r;
    }
}

/// <summary>Multi-step integrate-and-fire layer (no leak) with a scalar threshold.</summary>
/// <remarks>h_t = u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t).</remarks>
public sealed class If : SpikingLayer
{
    /// <summary>Creates the layer (arguments as in <see cref="Lif"/>; no decay).</summary>
    public If(float threshold = 1f, bool learnable = true, bool trainAlpha = false, SpikingOptions? options = null,
        Device? device = null) : base(options, device)
    {
        NewParameter("threshold", 1, threshold, learnable);
        if (trainAlpha) NewParameter("alpha", 1, Options.Alpha);
    }

    /// <summary>θ (1).</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");

    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o) =>
        SpikingFunctions.If(x, v0, Threshold, o, Alpha);
}

/// <summary>Parametric LIF: per-feature decay and threshold (F = product of the dims after batch).</summary>
/// <remarks>As <see cref="Lif"/> with λ_f and θ_f for feature f, shared over batch and time; λ_f = sigmoid(w_f) as
/// in the PLIF paper (Fang et al., 2021), which learns one w per layer where this layer learns one per feature.
/// </remarks>
public sealed class Plif : SpikingLayer
{
    /// <summary>Creates the layer for <paramref name="features"/> features per sample (other arguments as in
    /// <see cref="Lif"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is not positive, or
    /// <paramref name="decay"/> is outside its range.</exception>
    public Plif(int features, float decay = 0.9f, float threshold = 1f, bool learnable = true, bool trainAlpha = false,
        SpikingOptions? options = null, Device? device = null) : base(options, device)
    {
        if (features <= 0)
            throw new ArgumentOutOfRangeException(nameof(features), features,
                $"Plif: features must be positive, got {features}");
        Features = features;
        NewDecay("decay", features, decay, learnable, nameof(decay));
        NewParameter("threshold", features, threshold, learnable);
        if (trainAlpha) NewParameter("alpha", 1, Options.Alpha);
    }

    /// <summary>F.</summary>
    public int Features { get; }
    /// <summary>λ (F): see <see cref="SpikingLayer.DecayOf"/> for what the returned tensor is.</summary>
    public Tensor Decay() => DecayOf("decay");
    /// <summary>θ (F).</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");

    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o)
    {
        int f = (int)ShapeUtil.Numel(x.Shape.AsSpan(2));
        if (f != Features)
            throw new ArgumentException($"Plif: input {ShapeUtil.Format(x.Shape)} has {f} features per sample "
                + $"(product of dims after T, B); the layer has {Features}", nameof(x));
        var decay = Decay();
        var r = SpikingFunctions.Plif(x, v0, decay, Threshold, o, Alpha);
        decay.Release();
        return r;
    }
}

/// <summary>Adaptive-threshold LIF layer with scalar λ, θ₀, β and λ_a.</summary>
/// <remarks>
/// h_t = λ·u_{t−1} + x_t; θ_t = θ₀ + β·a_{t−1}; s_t = H(h_t − θ_t); u_t = reset(h_t, s_t);
/// a_t = λ_a·a_{t−1} + s_t.
/// </remarks>
public sealed class Alif : SpikingLayer
{
    /// <summary>Creates the layer; <paramref name="decayA"/> (λ_a) has the range and parametrisation of
    /// <paramref name="decay"/> (other arguments as in <see cref="Lif"/>; learnable covers λ, θ₀, β and λ_a).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decay"/> or <paramref name="decayA"/> is
    /// outside its range.</exception>
    public Alif(float decay = 0.9f, float threshold = 1f, float beta = 0.2f, float decayA = 0.95f,
        bool learnable = true, bool trainAlpha = false, SpikingOptions? options = null, Device? device = null)
        : base(options, device)
    {
        NewDecay("decay", 1, decay, learnable, nameof(decay));
        NewParameter("threshold", 1, threshold, learnable);
        NewParameter("beta", 1, beta, learnable);
        NewDecay("decay_a", 1, decayA, learnable, nameof(decayA));
        if (trainAlpha) NewParameter("alpha", 1, Options.Alpha);
    }

    /// <summary>λ (1): see <see cref="SpikingLayer.DecayOf"/> for what the returned tensor is.</summary>
    public Tensor Decay() => DecayOf("decay");
    /// <summary>θ₀ (1).</summary>
    public Tensor Threshold => Get("threshold");
    /// <summary>β (1).</summary>
    public Tensor Beta => Get("beta");
    /// <summary>λ_a (1), as <see cref="Decay"/>.</summary>
    public Tensor DecayA() => DecayOf("decay_a");
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");

    /// <summary>The kept adaptation state (B, ...).</summary>
    public Tensor? Adaptation => AdaptationState;

    /// <inheritdoc/>
    protected override SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions o)
    {
        var decay = Decay();
        var decayA = DecayA();
        var r = SpikingFunctions.Alif(x, v0, a0, decay, Threshold, Beta, decayA, o, Alpha);
        decay.Release();
        decayA.Release();
        return r;
    }
}
