namespace SpikeSharp.Neurons;

/// <summary>
/// What distinguishes one neuron model from another inside the shared step functions of
/// <see cref="NeuronMath"/>. Implementations are empty structs whose members are constants, so the .NET JIT
/// and ILGPU fold the branches away per model.
/// </summary>
public interface INeuron
{
    /// <summary>
    /// True when the membrane leaks with a learnable decay (LIF, PLIF, ALIF); false for IF (decay 1).
    /// </summary>
    bool Leaky { get; }

    /// <summary>True when the threshold adapts with a spike trace a (ALIF).</summary>
    bool Adaptive { get; }
}

/// <summary>Leaky integrate-and-fire (also PLIF when its parameters are per-feature vectors).</summary>
/// <remarks>h_t = λ·u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t).</remarks>
public struct LifNeuron : INeuron
{
    /// <inheritdoc/>
    public readonly bool Leaky => true;
    /// <inheritdoc/>
    public readonly bool Adaptive => false;
}

/// <summary>Integrate-and-fire: no leak.</summary>
/// <remarks>h_t = u_{t−1} + x_t; s_t = H(h_t − θ); u_t = reset(h_t, s_t).</remarks>
public struct IfNeuron : INeuron
{
    /// <inheritdoc/>
    public readonly bool Leaky => false;
    /// <inheritdoc/>
    public readonly bool Adaptive => false;
}

/// <summary>Adaptive-threshold LIF.</summary>
/// <remarks>h_t = λ·u_{t−1} + x_t; θ_t = θ₀ + β·a_{t−1}; s_t = H(h_t − θ_t); u_t = reset(h_t, s_t);
/// a_t = λ_a·a_{t−1} + s_t.</remarks>
public struct AlifNeuron : INeuron
{
    /// <inheritdoc/>
    public readonly bool Leaky => true;
    /// <inheritdoc/>
    public readonly bool Adaptive => true;
}

/// <summary>How the membrane is reset after a spike.</summary>
public enum ResetMode
{
    /// <summary>u = v_reset after a spike (the seed: v_reset = 0).</summary>
    Hard,
    /// <summary>u = h − θ after a spike (reset by subtraction).</summary>
    Soft,
}

/// <summary>The parameters of one neuron, gathered once before its walk over time.</summary>
public struct NeuronParams
{
    /// <summary>Membrane decay λ (ignored by non-leaky models).</summary>
    public float Decay;
    /// <summary>Threshold θ (θ₀ for ALIF).</summary>
    public float Threshold;
    /// <summary>ALIF adaptation strength β.</summary>
    public float Beta;
    /// <summary>ALIF adaptation decay λ_a.</summary>
    public float DecayA;
    /// <summary>Surrogate sharpness α.</summary>
    public float Alpha;
    /// <summary>Hard-reset value.</summary>
    public float VReset;
    /// <summary>0 hard, 1 soft.</summary>
    public int Soft;
    /// <summary>1 to cut the gradient through the spike in the reset (and keep it in the adaptation).</summary>
    public int DetachReset;
}

/// <summary>Per-neuron accumulators of parameter gradients over time.</summary>
public struct ParamGrads
{
    /// <summary>∂L/∂λ.</summary>
    public float Decay;
    /// <summary>∂L/∂θ (θ₀).</summary>
    public float Threshold;
    /// <summary>∂L/∂β.</summary>
    public float Beta;
    /// <summary>∂L/∂λ_a.</summary>
    public float DecayA;
    /// <summary>The seed's pseudo-gradient for α: Σ G_s·(h−θ)·σ'/α.</summary>
    public float Alpha;
}

/// <summary>
/// One time step of every neuron model, forward and backward, as scalar functions shared by the CPU driver
/// and the ILGPU kernels (kernel code rules apply).
/// </summary>
public static class NeuronMath
{
    /// <summary>The threshold in force at a step: θ, or θ₀ + β·a_{t−1} for adaptive models.</summary>
    public static float Threshold<TN>(NeuronParams p, float aPrev) where TN : struct, INeuron =>
        default(TN).Adaptive ? p.Threshold + p.Beta * aPrev : p.Threshold;

    /// <summary>The membrane after the reset of a step with pre-spike membrane h, spike s and threshold th.</summary>
    public static float Reset(NeuronParams p, float h, float s, float th) =>
        p.Soft != 0 ? h - th * s : (s != 0f ? p.VReset : h);

    /// <summary>The pre-spike membrane of a step: λ·u + x (λ = 1 for non-leaky models).</summary>
    public static float Charge<TN>(NeuronParams p, float u, float x) where TN : struct, INeuron =>
        (default(TN).Leaky ? p.Decay : 1f) * u + x;

    /// <summary>
    /// One forward step of a non-adaptive model replayed from its saved spike s (recompute mode): returns h and
    /// advances u exactly as the forward pass did.
    /// </summary>
    public static float Replay<TN>(NeuronParams p, float x, float s, ref float u) where TN : struct, INeuron
    {
        float h = Charge<TN>(p, u, x);
        u = Reset(p, h, s, p.Threshold);
        return h;
    }

    /// <summary>
    /// Forward step: charges u with x, fires, resets; updates u and a in place, returns the spike (0 or 1)
    /// and the pre-spike membrane h.
    /// </summary>
    public static float Forward<TN>(NeuronParams p, float x, ref float u, ref float a, out float h)
        where TN : struct, INeuron
    {
        h = Charge<TN>(p, u, x);
        float th = Threshold<TN>(p, a);
        float s = h >= th ? 1f : 0f;
        u = Reset(p, h, s, th);
        if (default(TN).Adaptive) a = p.DecayA * a + s;
        return s;
    }

    /// <summary>
    /// Backward step t. In: the spike gradient gs, the step's h and s, a_{t−1}; gU and gA hold ∂L/∂u_t
    /// and ∂L/∂a_t and leave holding ∂L/∂u_{t−1} and ∂L/∂a_{t−1}. Returns ∂L/∂h_t (= ∂L/∂x_t).
    /// Adds the step's parameter gradients, except the decay's (which needs u_{t−1}: the caller adds
    /// gh·u_{t−1}).
    /// </summary>
    public static float Backward<TN, TS>(NeuronParams p, float gs, float h, float s, float aPrev,
        ref float gU, ref float gA, ref ParamGrads acc) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        float th = Threshold<TN>(p, aPrev);
        float z = h - th;
        float sg = default(TS).Grad(z, p.Alpha);
        float gSpike = default(TN).Adaptive ? gs + gA : gs;
        float dUdH, dUdS, dUdTh;
        if (p.Soft != 0) { dUdH = 1f; dUdS = -th; dUdTh = -s; }
        else { dUdH = 1f - s; dUdS = p.VReset - h; dUdTh = 0f; }
        if (p.DetachReset == 0) gSpike += gU * dUdS;
        float gh = gSpike * sg + gU * dUdH;
        float gth = gU * dUdTh - gSpike * sg;
        acc.Threshold += gth;
        acc.Alpha += gSpike * z * sg / p.Alpha;
        if (default(TN).Adaptive)
        {
            acc.Beta += gth * aPrev;
            acc.DecayA += gA * aPrev;
            gA = p.DecayA * gA + p.Beta * gth;
        }
        gU = default(TN).Leaky ? p.Decay * gh : gh;
        return gh;
    }
}
