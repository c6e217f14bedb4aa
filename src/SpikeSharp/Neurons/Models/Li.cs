namespace SpikeSharp.Neurons;

/// <summary>Leaky integrator (LI, NIR's primitive): a membrane without spikes, the usual readout layer.</summary>
/// <remarks>
/// State (v); parameter λ "decay": v_t = λ·v_{t−1} + x_t; the output is v_t. No surrogate is involved, so the
/// gradients are those of the linear recurrence.
/// </remarks>
public struct LiModel : INeuronModel
{
    /// <inheritdoc/>
    public static string Name => "li";
    /// <inheritdoc/>
    public static int StateSize => 1;
    /// <inheritdoc/>
    public static NeuronParamSpec[] Parameters => [new("decay", Decay: true)];
    /// <inheritdoc/>
    public static bool Spiking => false;

    /// <inheritdoc/>
    public static float Step(ref NeuronState s, in NeuronParamSet p, float x, in StepConfig c)
    {
        s.S0 = p.P0 * s.S0 + x;
        return s.S0;
    }

    /// <inheritdoc/>
    public static float Distance(in NeuronState pre, in NeuronParamSet p, float x) => 0f;

    /// <inheritdoc/>
    public static float StepBackward(in NeuronState pre, in NeuronParamSet p, float x, in StepConfig c,
        float sg, float gOut, ref NeuronState g, ref NeuronParamSet gp)
    {
        float gv = gOut + g.S0;
        gp.P0 += gv * pre.S0;
        g.S0 = p.P0 * gv;
        return gv;
    }
}
