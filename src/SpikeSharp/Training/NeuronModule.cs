using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>Puts a neuron layer into a <see cref="Module"/> tree (parameters, state reset, firing rate, traces).</summary>
public sealed class NeuronModule : Module
{
    /// <summary>Wraps <paramref name="layer"/>; its parameters become this module's.</summary>
    public NeuronModule(SpikingLayer layer)
    {
        Layer = layer;
        foreach (var (name, p) in layer.NamedParameters())
            if (p.RequiresGrad) RegisterParameter(name, p);
    }

    /// <summary>The wrapped layer.</summary>
    public SpikingLayer Layer { get; }

    /// <summary>Keep a detached copy of the last output spikes in <see cref="LastSpikes"/> (for rasters).</summary>
    public bool RecordSpikes { get; set; }

    /// <summary>The last call's spikes when <see cref="RecordSpikes"/>.</summary>
    public Tensor? LastSpikes { get; private set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        var s = Layer.Forward(x);
        if (RecordSpikes)
        {
            LastSpikes?.Dispose();
            LastSpikes = s.Detach().Persist();
        }
        return s;
    }

    /// <inheritdoc/>
    protected override void ResetOwnState() => Layer.ResetState();

    /// <inheritdoc/>
    protected override string ExtraRepr() => Layer.GetType().Name;
}
