using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Nir;

/// <summary>Names of the metadata datasets SpikeSharp writes into NIR nodes.</summary>
internal static class NirMetadata
{
    /// <summary>The SpikeSharp layer a neuron node came from ("Lif", "Plif", "If", "CubaLif", "Li").</summary>
    public const string Layer = "spikesharp_layer";
    /// <summary>Prefix of the layer's own state-dict entries ("spikesharp_decay_logit", …).</summary>
    public const string StatePrefix = "spikesharp_";
    /// <summary>1 when the layer's neuron parameters (decays, threshold) are trained, 0 when fixed.</summary>
    public const string Learnable = "spikesharp_learnable";
}
