using SpikeSharp.Neurons;

namespace SpikeSharp.Nn;

/// <summary>
/// Base of the multi-step neuron layers: input (T, B, ...) time-major with any trailing dims, output spikes of
/// the same shape. The membrane (and adaptation) state is kept between calls, detached, so a long sequence can
/// be fed in chunks ("streaming"); <see cref="Module.ResetState"/> starts afresh. Nothing is read to the host unless
/// asked (<see cref="FiringRate"/>).
/// </summary>
public abstract class SpikingLayer : Module
{
    private Tensor? _v, _a, _rate, _trace, _spikes;

    private Device _device;

    /// <summary>Creates the layer on <paramref name="device"/> (default device when null).</summary>
    protected SpikingLayer(SpikingOptions? options, Device? device)
    {
        Options = options ?? SpikingOptions.Default;
        _device = device ?? Device.Default;
    }

    /// <summary>The device holding parameters and state (follows <see cref="Module.To"/>).</summary>
    public Device Device => NamedParameters().Select(p => p.Param).Concat(NamedBuffers().Select(b => b.Buffer)).FirstOrDefault()?.Device ?? _device;

    /// <summary>Surrogate, reset and saved-state options.</summary>
    public SpikingOptions Options { get; set; }

    /// <summary>Keep the membrane trace h (T, B, ...) of the last call in <see cref="Trace"/>.</summary>
    public bool StoreTraces { get; set; }

    /// <summary>Keep a detached copy of the last call's output spikes in <see cref="LastSpikes"/> (rasters).</summary>
    public bool StoreSpikes { get; set; }

    /// <summary>The last call's spikes when <see cref="StoreSpikes"/> (owned by the layer; not differentiable).</summary>
    public Tensor? LastSpikes => _spikes;

    /// <summary>The last call's membrane h when <see cref="StoreTraces"/> (owned by the layer; not differentiable).</summary>
    public Tensor? Trace => _trace;

    /// <summary>The kept membrane state (B, ...), or null before the first call / after <see cref="Module.ResetState"/>.</summary>
    public Tensor? State => _v;

    /// <summary>The kept adaptation state (adaptive layers).</summary>
    protected Tensor? AdaptationState => _a;

    /// <summary>Mean spike rate of the last call as a one-element device tensor (no host read); null before any call.</summary>
    public Tensor? FiringRateTensor => _rate;

    /// <summary>Mean spike rate of the last call: reads one float from the device (synchronises), so call it only when needed.</summary>
    public float FiringRate => _rate?.Item() ?? 0f;

    /// <summary>Forgets the kept state (next call starts from v = 0, a = 0); <see cref="Module.ResetState"/> calls it.</summary>
    protected override void ResetOwnState()
    {
        _v?.Dispose(); _v = null;
        _a?.Dispose(); _a = null;
    }

    /// <summary>Runs the neurons over time: x (T, B, ...) → spikes (T, B, ...).</summary>
    /// <exception cref="ArgumentException">x is not (T, B, ...) with T ≥ 1, or does not fit the parameters.</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2) throw new ArgumentException($"{GetType().Name}: expected input (T, B, ...), got shape {ShapeUtil.Format(x._shape)}", nameof(x));
        if (x.Device != Device) throw new ArgumentException($"{GetType().Name}: input is on {x.Device}, the layer on {Device}", nameof(x));
        var stateShape = x._shape[1..];
        // A different batch shape cannot continue the old sequence: start from rest.
        if (_v != null && !_v._shape.AsSpan().SequenceEqual(stateShape)) ResetState();
        var o = StoreTraces ? Options with { ReturnMembrane = true } : Options;
        var r = Run(x, _v, _a, o);
        // Nothing above modified the layer: a failing call leaves state untouched.
        Replace(ref _v, r.V.Detach());
        if (r.A != null) Replace(ref _a, r.A.Detach());
        using (Autograd.Tape.NoGrad()) Replace(ref _rate, r.Spikes.Mean());
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
