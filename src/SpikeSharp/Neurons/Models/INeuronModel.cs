namespace SpikeSharp.Neurons;

/// <summary>
/// The state of one neuron between steps, held in registers: up to four values (v; v and a; i and v; …).
/// A model uses the first <see cref="INeuronModel.StateSize"/> of them and leaves the rest at zero.
/// </summary>
public struct NeuronState
{
    /// <summary>State value 0 (by convention the membrane v).</summary>
    public float S0;
    /// <summary>State value 1.</summary>
    public float S1;
    /// <summary>State value 2.</summary>
    public float S2;
    /// <summary>State value 3.</summary>
    public float S3;

    /// <summary>Value <paramref name="k"/> (0–3); kernels call it with constant k, so it folds away.</summary>
    public readonly float Get(int k) => k == 0 ? S0 : k == 1 ? S1 : k == 2 ? S2 : S3;

    /// <summary>Sets value <paramref name="k"/> (0–3).</summary>
    public void Set(int k, float v)
    {
        if (k == 0) S0 = v;
        else if (k == 1) S1 = v;
        else if (k == 2) S2 = v;
        else S3 = v;
    }
}

/// <summary>
/// The parameters of one neuron, gathered before its walk over time (each is shared or per feature), and the
/// same shape holds their gradients. A model uses as many as it declares in <see cref="INeuronModel.Parameters"/>.
/// </summary>
public struct NeuronParamSet
{
    /// <summary>Parameter 0.</summary>
    public float P0;
    /// <summary>Parameter 1.</summary>
    public float P1;
    /// <summary>Parameter 2.</summary>
    public float P2;
    /// <summary>Parameter 3.</summary>
    public float P3;

    /// <summary>Value <paramref name="k"/> (0–3).</summary>
    public readonly float Get(int k) => k == 0 ? P0 : k == 1 ? P1 : k == 2 ? P2 : P3;

    /// <summary>Sets value <paramref name="k"/> (0–3).</summary>
    public void Set(int k, float v)
    {
        if (k == 0) P0 = v;
        else if (k == 1) P1 = v;
        else if (k == 2) P2 = v;
        else P3 = v;
    }
}

/// <summary>What every step of a call shares: the reset rule and the surrogate's sharpness.</summary>
public struct StepConfig
{
    /// <summary>Surrogate sharpness α (&gt; 0).</summary>
    public float Alpha;
    /// <summary>Membrane value after a hard reset.</summary>
    public float VReset;
    /// <summary>1: reset by subtracting the threshold; 0: hard reset to <see cref="VReset"/>.</summary>
    public int Soft;
    /// <summary>1: no gradient flows through the spike into the reset.</summary>
    public int DetachReset;

    /// <summary>
    /// The membrane after the reset of a step (h: before the spike, s: the spike, th: the threshold).
    /// </summary>
    public readonly float Reset(float h, float s, float th) => Soft != 0 ? h - th * s : (s != 0f ? VReset : h);
}

/// <summary>A parameter of a neuron model as users see it: its name and the values it may take.</summary>
/// <param name="Name">The parameter's name in layers and checkpoints ("decay", "threshold", …).</param>
/// <param name="Decay">True for a decay factor: layers learn it through a logit so it stays in (0, 1).</param>
public readonly record struct NeuronParamSpec(string Name, bool Decay);

/// <summary>
/// A neuron model written as one struct: its state, its parameters and one step with the step's adjoint. The
/// CPU driver and the ILGPU kernel of <see cref="NeuronModels"/> are generic over it, so a new model is one file.
/// Members are static (the kernels call them without an instance); kernel code rules apply to
/// <see cref="Step"/>, <see cref="Distance"/> and <see cref="StepBackward"/>: MathF only, no allocation.
/// </summary>
/// <remarks>
/// The step maps (state_{t−1}, x_t) to (state_t, out_t), where out_t is the spike (0 or 1) or, for a
/// non-spiking readout, a membrane value. The adjoint receives ∂L/∂out_t and ∂L/∂state_t and returns
/// ∂L/∂x_t, leaves ∂L/∂state_{t−1} in place of ∂L/∂state_t and adds the step's parameter gradients.
/// Spiking models replace the Heaviside's derivative by the surrogate value sg = σ'(z) that the caller
/// computes from <see cref="Distance"/>.
/// </remarks>
public interface INeuronModel
{
    /// <summary>The model's name in messages ("cuba_lif").</summary>
    static abstract string Name { get; }

    /// <summary>How many state values a neuron carries (1–4). State 0 is the membrane.</summary>
    static abstract int StateSize { get; }

    /// <summary>The parameters, in the order of <see cref="NeuronParamSet"/> (at most four).</summary>
    static abstract NeuronParamSpec[] Parameters { get; }

    /// <summary>True when the output is a spike (the surrogate is used); false for a readout of the membrane.</summary>
    static abstract bool Spiking { get; }

    /// <summary>One forward step: updates <paramref name="s"/> and returns the output.</summary>
    static abstract float Step(ref NeuronState s, in NeuronParamSet p, float x, in StepConfig c);

    /// <summary>The spike's argument z = h − θ of the step from <paramref name="pre"/> (0 for readouts).</summary>
    static abstract float Distance(in NeuronState pre, in NeuronParamSet p, float x);

    /// <summary>
    /// The adjoint of <see cref="Step"/> taken from <paramref name="pre"/> (state_{t−1}) with input x.
    /// gOut = ∂L/∂out_t; g holds ∂L/∂state_t and is left holding ∂L/∂state_{t−1}; gp accumulates the
    /// parameter gradients; sg is the surrogate σ'(<see cref="Distance"/>). Returns ∂L/∂x_t.
    /// </summary>
    static abstract float StepBackward(in NeuronState pre, in NeuronParamSet p, float x, in StepConfig c,
        float sg, float gOut, ref NeuronState g, ref NeuronParamSet gp);
}
