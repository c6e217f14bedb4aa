namespace SpikeSharp.Neurons;

/// <summary>
/// Current-based LIF (CubaLIF, NIR's primitive of the same name): a synaptic current filters the input and
/// charges the membrane.
/// </summary>
/// <remarks>
/// State (v, i); parameters (λ_v "decay", λ_i "synapse_decay", θ "threshold"):
/// i_t = λ_i·i_{t−1} + x_t; h_t = λ_v·v_{t−1} + i_t; s_t = H(h_t − θ); v_t = reset(h_t, s_t) (hard: v_reset
/// after a spike; soft: h_t − θ·s_t). The backward pass uses the surrogate σ'(h_t − θ) and, with
/// <see cref="SpikingOptions.DetachReset"/>, no gradient through the spike into the reset.
/// </remarks>
public struct CubaLifModel : INeuronModel
{
    /// <inheritdoc/>
    public static string Name => "cuba_lif";
    /// <inheritdoc/>
    public static int StateSize => 2;
    /// <inheritdoc/>
    public static NeuronParamSpec[] Parameters =>
        [new("decay", Decay: true), new("synapse_decay", Decay: true), new("threshold", Decay: false)];
    /// <inheritdoc/>
    public static bool Spiking => true;

    /// <inheritdoc/>
    public static float Step(ref NeuronState s, in NeuronParamSet p, float x, in StepConfig c)
    {
        float i = p.P1 * s.S1 + x;
        float h = p.P0 * s.S0 + i;
        float spike = h >= p.P2 ? 1f : 0f;
        s.S0 = c.Reset(h, spike, p.P2);
        s.S1 = i;
        return spike;
    }

    /// <inheritdoc/>
    public static float Distance(in NeuronState pre, in NeuronParamSet p, float x) =>
        p.P0 * pre.S0 + (p.P1 * pre.S1 + x) - p.P2;

    /// <inheritdoc/>
    public static float StepBackward(in NeuronState pre, in NeuronParamSet p, float x, in StepConfig c,
        float sg, float gOut, ref NeuronState g, ref NeuronParamSet gp)
    {
        float i = p.P1 * pre.S1 + x;
        float h = p.P0 * pre.S0 + i;
        float th = p.P2;
        float s = h >= th ? 1f : 0f;
        // ∂v_t/∂h, ∂v_t/∂s and ∂v_t/∂θ of the reset.
        float dvdh = c.Soft != 0 ? 1f : 1f - s;
        float dvds = c.Soft != 0 ? -th : c.VReset - h;
        float dvdth = c.Soft != 0 ? -s : 0f;
        float gSpike = c.DetachReset != 0 ? gOut : gOut + g.S0 * dvds;
        float gh = gSpike * sg + g.S0 * dvdh;
        float gi = g.S1 + gh;
        gp.P0 += gh * pre.S0;
        gp.P1 += gi * pre.S1;
        gp.P2 += g.S0 * dvdth - gSpike * sg;
        g.S0 = p.P0 * gh;
        g.S1 = p.P1 * gi;
        return gi;
    }
}
