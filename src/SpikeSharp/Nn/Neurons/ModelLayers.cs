using SpikeSharp.Neurons;

namespace SpikeSharp.Nn;

/// <summary>
/// A multi-step layer for any <see cref="INeuronModel"/>: input (T, B, ...) time-major, output of the same shape
/// (spikes, or the membrane for a readout). Parameters are shared scalars or, with <c>features</c> &gt; 0,
/// per-feature vectors over the trailing dims (F = their product). Learnable decays are kept as logits w with
/// decay = sigmoid(w), so no optimiser step can take them out of (0, 1); the state dict stores
/// "&lt;name&gt;_logit" for those and "&lt;name&gt;" for fixed ones. The state is kept between calls, detached
/// (streaming); a call with another batch shape than the kept state's throws (call <see cref="Module.ResetState"/>), as
/// <see cref="SpikingLayer"/> does.
/// </summary>
public abstract class NeuronModelLayer<TM> : Module, INeuronLayer where TM : struct, INeuronModel
{
    private readonly Tensor?[] _state = new Tensor?[TM.StateSize];
    private Tensor? _rate;
    private readonly Device _device;

    /// <summary>Registers the model's parameters with their initial values (in the order of the model).</summary>
    protected NeuronModelLayer(float[] initial, int features, bool learnable, SpikingOptions? options, Device? device)
    {
        var specs = TM.Parameters;
        if (initial.Length != specs.Length)
            throw new ArgumentException(
                $"{TM.Name}: expected {specs.Length} initial values, got {initial.Length}", nameof(initial));
        if (features < 0)
            throw new ArgumentOutOfRangeException(
                nameof(features), features, $"{TM.Name}: features must be ≥ 0 (0 = shared parameters)");
        Options = options ?? SpikingOptions.Default;
        _device = device ?? Device.Default;
        int len = Math.Max(1, features);
        for (int i = 0; i < specs.Length; i++)
        {
            var (name, decay) = (specs[i].Name, specs[i].Decay);
            float v = initial[i];
            if (!float.IsFinite(v))
                throw new ArgumentOutOfRangeException(name, v, $"{TM.Name}: {name} must be finite");
            if (decay && !(v > 0f && v < 1f) && learnable)
                throw new ArgumentOutOfRangeException(
                    name, v, $"{TM.Name}: a learnable {name} must be in (0, 1) (it is learnt as a logit)");
            if (decay && !(v > 0f && v <= 1f))
                throw new ArgumentOutOfRangeException(name, v, $"{TM.Name}: {name} must be in (0, 1]");
            float value = decay && learnable ? MathF.Log(v / (1f - v)) : v;
            var t = Tensor.Full(new[] { len }, value, DType.Float32, _device);
            if (!learnable) RegisterBuffer(name, t.Persist());
            else RegisterParameter(decay ? name + "_logit" : name, t);
        }
    }

    /// <summary>Surrogate, reset rule and α.</summary>
    public SpikingOptions Options { get; set; }

    /// <summary>
    /// The model's parameter values as the kernels see them (decays through their sigmoid), in model order.
    /// </summary>
    public Tensor[] ParameterValues() => TM.Parameters.Select(s =>
        TryParam(s.Name + "_logit") is { } w ? w.Sigmoid() : TryParam(s.Name) ?? Buffer(s.Name)!).ToArray();

    /// <summary>The kept state after the last call (state 0 is the membrane), or nulls after a reset.</summary>
    public IReadOnlyList<Tensor?> State => _state;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2)
            throw new ArgumentException(
                $"{GetType().Name}: expected input (T, B, ...), got shape {ShapeUtil.Format(x.Shape)}", nameof(x));
        var stateShape = x.Shape[1..];
        if (_state[0] is { } kept && !kept.Shape.AsSpan().SequenceEqual(stateShape))
            throw new InvalidOperationException($"{GetType().Name}: the kept state is {ShapeUtil.Format(kept.Shape)} " +
                $"but this input {ShapeUtil.Format(x.Shape)} needs {ShapeUtil.Format(stateShape)}; " +
                "call ResetState() when the batch changes");
        var values = ParameterValues();
        var r = NeuronModels.Run<TM>(x, _state, values, Options);
        foreach (var v in values) v.Release();
        for (int k = 0; k < _state.Length; k++)
        {
            _state[k]?.Dispose();
            _state[k] = r.State[k].Detach().Persist();
        }
        _rate?.Dispose();
        _rate = null;
        if (TrackFiringRate)
            using (Autograd.Tape.NoGrad()) _rate = r.Output.Mean().Persist();
        return r.Output;
    }

    /// <inheritdoc/>
    /// <remarks>For a readout (<see cref="INeuronModel.Spiking"/> false) this is the mean output value.</remarks>
    public bool TrackFiringRate { get; set; }

    /// <inheritdoc/>
    public Tensor? FiringRate => _rate;

    /// <inheritdoc/>
    protected override void ResetOwnState()
    {
        for (int k = 0; k < _state.Length; k++) { _state[k]?.Dispose(); _state[k] = null; }
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        ResetOwnState();
        _rate?.Dispose();
        _rate = null;
        base.Dispose();
    }
}

/// <summary>Current-based LIF layer (see <see cref="CubaLifModel"/>).</summary>
public sealed class CubaLif : NeuronModelLayer<CubaLifModel>
{
    /// <summary>Creates the layer.</summary>
    /// <param name="decay">Membrane decay λ_v in (0, 1).</param>
    /// <param name="synapseDecay">Synaptic current decay λ_i in (0, 1).</param>
    /// <param name="threshold">Firing threshold θ.</param>
    /// <param name="features">
    /// 0: shared scalars; F &gt; 0: one value per feature (the product of the dims after batch).
    /// </param>
    /// <param name="learnable">Whether the parameters are trained.</param>
    /// <param name="options">Surrogate, reset rule, α.</param>
    /// <param name="device">Where the parameters and state live.</param>
    public CubaLif(
        float decay = 0.9f, float synapseDecay = 0.8f, float threshold = 1f, int features = 0, bool learnable = true,
        SpikingOptions? options = null, Device? device = null)
        : base(new[] { decay, synapseDecay, threshold }, features, learnable, options, device) { }
}

/// <summary>Leaky-integrator readout layer (see <see cref="LiModel"/>): outputs the membrane, no spikes.</summary>
public sealed class Li : NeuronModelLayer<LiModel>
{
    /// <summary>Creates the layer.</summary>
    /// <param name="decay">Membrane decay λ in (0, 1).</param>
    /// <param name="features">0: a shared scalar; F &gt; 0: one value per feature.</param>
    /// <param name="learnable">Whether λ is trained.</param>
    /// <param name="device">Where the parameters and state live.</param>
    public Li(float decay = 0.9f, int features = 0, bool learnable = true, Device? device = null)
        : base(new[] { decay }, features, learnable, null, device) { }
}
