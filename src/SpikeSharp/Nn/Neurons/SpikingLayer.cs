using SpikeSharp.Neurons;

namespace SpikeSharp.Nn;

/// <summary>What every spiking neuron layer (<see cref="SpikingLayer"/> and
/// <see cref="Transformer.LinearLif"/>) offers a monitor.</summary>
public interface INeuronLayer
{
    /// <summary>When set, each call stores the mean spike rate of its output in <see cref="FiringRate"/>: one small
    /// reduction on the device, no host read. Off by default, so the training step computes no rate.</summary>
    bool TrackFiringRate { get; set; }

    /// <summary>Mean spike rate of the last call, a one-element device tensor owned by the layer (read it with
    /// <see cref="Tensor.Item"/>, which synchronises); null before the first call and after a call made with
    /// <see cref="TrackFiringRate"/> off.</summary>
    Tensor? FiringRate { get; }
}

/// <summary>
/// Base of the multi-step neuron layers: input (T, B, ...) time-major with any trailing dims, output spikes of
/// the same shape. The membrane (and adaptation) state is kept between calls, detached, so a long sequence can
/// be fed in chunks ("streaming"); <see cref="Module.ResetState"/> starts afresh, and must be called when the batch
/// shape changes (a call with another batch shape than the kept state throws, rather than silently dropping state
/// that a forgotten reset would otherwise carry over). Nothing is read to the host and no rate is computed unless
/// asked (<see cref="TrackFiringRate"/>).
/// </summary>
public abstract class SpikingLayer : Module, INeuronLayer
{
    private Tensor? _v, _a, _rate, _trace, _spikes;
    private readonly List<string> _decays = new();

    private Device _device;

    /// <summary>Creates the layer on <paramref name="device"/> (default device when null).</summary>
    protected SpikingLayer(SpikingOptions? options, Device? device)
    {
        Options = options ?? SpikingOptions.Default;
        _device = device ?? Device.Default;
    }

    /// <summary>The device holding parameters and state (follows <see cref="Module.To"/>).</summary>
    public Device Device =>
        NamedParameters().Select(p => p.Param).Concat(NamedBuffers().Select(b => b.Buffer)).FirstOrDefault()?.Device
        ?? _device;

    /// <summary>Surrogate, reset and saved-state options.</summary>
    public SpikingOptions Options { get; set; }

    /// <summary>Keep the membrane trace h (T, B, ...) of the last call in <see cref="Trace"/>.</summary>
    public bool StoreTraces { get; set; }

    /// <summary>Keep a detached copy of the last call's output spikes in <see cref="LastSpikes"/> (rasters).</summary>
    public bool StoreSpikes { get; set; }

    /// <inheritdoc/>
    public bool TrackFiringRate { get; set; }

    /// <summary>
    /// The last call's spikes when <see cref="StoreSpikes"/> (owned by the layer; not differentiable).
    /// </summary>
    public Tensor? LastSpikes => _spikes;

    /// <summary>
    /// The last call's membrane h when <see cref="StoreTraces"/> (owned by the layer; not differentiable).
    /// </summary>
    public Tensor? Trace => _trace;

    /// <summary>
    /// The kept membrane state (B, ...), or null before the first call / after <see cref="Module.ResetState"/>.
    /// </summary>
    public Tensor? State => _v;

    /// <summary>The kept adaptation state (adaptive layers).</summary>
    protected Tensor? AdaptationState => _a;

    /// <inheritdoc/>
    public Tensor? FiringRate => _rate;

    /// <summary>
    /// Forgets the kept state (next call starts from v = 0, a = 0); <see cref="Module.ResetState"/> calls it.
    /// </summary>
    protected override void ResetOwnState()
    {
        _v?.Dispose(); _v = null;
        _a?.Dispose(); _a = null;
    }

    /// <summary>Runs the neurons over time: x (T, B, ...) → spikes (T, B, ...).</summary>
    /// <exception cref="ArgumentException">
    /// x is not (T, B, ...) with T ≥ 1, or does not fit the parameters.
    /// </exception>
    /// <exception cref="InvalidOperationException">x's batch shape differs from the kept state's (call
    /// <see cref="Module.ResetState"/> first).</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2)
            throw new ArgumentException(
                $"{GetType().Name}: expected input (T, B, ...), got shape {ShapeUtil.Format(x.Shape)}", nameof(x));
        if (x.Device != Device)
            throw new ArgumentException($"{GetType().Name}: input is on {x.Device}, the layer on {Device}", nameof(x));
        var stateShape = x.Shape[1..];
        if (_v != null && !_v.Shape.AsSpan().SequenceEqual(stateShape))
            throw new InvalidOperationException($"{GetType().Name}: the kept membrane is {ShapeUtil.Format(_v.Shape)} "
                + $"but this input {ShapeUtil.Format(x.Shape)} needs {ShapeUtil.Format(stateShape)}; "
                + "call ResetState() when the batch changes");
        var o = StoreTraces ? Options with { ReturnMembrane = true } : Options;
        var r = Run(x, _v, _a, o);
        // Nothing above modified the layer: a failing call leaves state untouched.
        Replace(ref _v, r.V.Detach());
        if (r.A != null) Replace(ref _a, r.A.Detach());
        if (TrackFiringRate) using (Autograd.Tape.NoGrad()) Replace(ref _rate, r.Spikes.Mean());
        else if (_rate != null) { _rate.Dispose(); _rate = null; }
        if (StoreSpikes) Replace(ref _spikes, r.Spikes.Detach());
        else if (_spikes != null) { _spikes.Dispose(); _spikes = null; }
        if (r.H != null) Replace(ref _trace, r.H.Detach());
        else if (!StoreTraces) { _trace?.Dispose(); _trace = null; }
        return r.Spikes;
    }

    /// <summary>Calls the fused function for this neuron model.</summary>
    protected abstract SpikingResult Run(Tensor x, Tensor? v0, Tensor? a0, SpikingOptions options);

    /// <summary>
    /// Registers a neuron parameter filled with <paramref name="value"/>: a trained parameter when
    /// <paramref name="learnable"/>, else a persistent buffer (saved in the state dict, never trained).
    /// </summary>
    protected void NewParameter(string name, int length, float value, bool learnable = true)
    {
        var t = Tensor.Full(new[] { length }, value, DType.Float32, _device);
        if (learnable) RegisterParameter(name, t);
        else RegisterBuffer(name, t.Persist());
    }

    /// <summary>The neuron parameter registered as <paramref name="name"/> (trained or fixed).</summary>
    protected Tensor Get(string name) => TryParam(name) ?? Buffer(name)!;

    /// <summary>
    /// Registers a decay (any parameter that must stay in [0, 1]) filled with <paramref name="value"/>.
    /// Learnable: the parameter "{name}_logit" holds w = log(λ / (1 − λ)) and the layer uses λ = sigmoid(w),
    /// which no optimiser step can take out of [0, 1] (SpikingJelly's PLIF does the same); λ must then be in
    /// (0, 1), since the logit of 1 is infinite (a layer that should start without leak takes learnable: false,
    /// or a decay just below 1 such as 0.999). Fixed: the buffer "{name}" holds λ itself, anywhere in [0, 1].
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is outside that range.</exception>
    protected void NewDecay(string name, int length, float value, bool learnable, string argument)
    {
        DecayMath.CheckInitial(GetType().Name, argument, value, learnable);
        _decays.Add(name);
        if (learnable) NewParameter(name + "_logit", length, DecayMath.Logit(value));
        else NewParameter(name, length, value, learnable: false);
    }

    /// <summary>
    /// The values of the decay <paramref name="name"/> registered by <see cref="NewDecay"/>, as a new tensor the caller
    /// owns (the current <see cref="TensorScope"/> frees it): sigmoid of the logit when learnable, computed now and
    /// differentiable (the gradient reaches the logit through the sigmoid's derivative); when fixed, a view of the
    /// layer's buffer (disposing the view leaves the buffer alone). Writing into it does not change the layer.
    /// </summary>
    protected Tensor DecayOf(string name) => TryParam(name + "_logit") is { } w ? w.Sigmoid() : Buffer(name)!.Detach();

    /// <summary>Checkpoints that stored a decay the other way still load: the value where the layer now learns the
    /// logit (SpikeSharp before the logit), the logit where the layer now keeps the decay fixed.</summary>
    protected override IEnumerable<StateUpgrade> StateUpgrades()
    {
        foreach (var d in _decays)
            yield return TryParam(d + "_logit") != null
                ? new StateUpgrade(d, d + "_logit", DecayMath.LogitsOfSaved)
                : new StateUpgrade(d + "_logit", d, DecayMath.Sigmoids);
    }

    private static void Replace(ref Tensor? slot, Tensor value)
    {
        slot?.Dispose();
        slot = value.Persist();
    }

    /// <summary>Frees parameters and state.</summary>
    public override void Dispose()
    {
        ResetOwnState();
        _rate?.Dispose(); _trace?.Dispose(); _spikes?.Dispose();
        _rate = _trace = _spikes = null;
        base.Dispose();
    }
}

/// <summary>The logit parametrisation of learnable decays, shared by the neuron layers and LinearLif.</summary>
internal static class DecayMath
{
    /// <summary>Decays read from an older checkpoint are clamped into [ε, 1 − ε] before their logit is taken: such
    /// a checkpoint may hold a decay that had already left (0, 1) (the failure that made decays logits).</summary>
    public const double SavedEpsilon = 1e-6;

    /// <summary>Checks an initial decay: (0, 1) when learnable, [0, 1] when fixed.</summary>
    /// <exception cref="ArgumentOutOfRangeException">It is outside.</exception>
    public static void CheckInitial(string layer, string argument, float value, bool learnable)
    {
        if (learnable && (value == 0f || value == 1f))
            throw new ArgumentOutOfRangeException(argument, value,
                $"{layer}: a learnable {argument} must be in (0, 1), got {value}: it is learnt as the logit w of "
                + $"{argument} = sigmoid(w), which is infinite at 0 and 1; pass learnable: false to keep it fixed at "
                + $"{value}, or start inside (e.g. 0.999)");
        if (learnable && !(value > 0f && value < 1f))
            throw new ArgumentOutOfRangeException(argument, value,
                $"{layer}: a learnable {argument} must be in (0, 1), got {value}");
        if (!learnable && !(value >= 0f && value <= 1f))
            throw new ArgumentOutOfRangeException(argument, value,
                $"{layer}: {argument} must be in [0, 1], got {value}");
    }

    /// <summary>log(λ / (1 − λ)) for λ in (0, 1).</summary>
    public static float Logit(float decay) => (float)Math.Log(decay / (1.0 - decay));

    /// <summary>
    /// The logits of decays saved as values, clamped into [ε, 1 − ε] (<see cref="SavedEpsilon"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A value is NaN.</exception>
    public static float[] LogitsOfSaved(float[] decay) => decay.Select((d, i) =>
    {
        if (float.IsNaN(d)) throw new ArgumentException($"decay[{i}] is NaN");
        double c = Math.Clamp(d, SavedEpsilon, 1 - SavedEpsilon);
        return (float)Math.Log(c / (1 - c));
    }).ToArray();

    /// <summary>sigmoid(w), as the layers compute it from a logit.</summary>
    public static float[] Sigmoids(float[] logit) => logit.Select(w => (float)(1 / (1 + Math.Exp(-w)))).ToArray();
}
