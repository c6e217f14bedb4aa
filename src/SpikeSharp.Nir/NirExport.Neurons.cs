using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Nir;

// The neuron nodes (LIF, IF, CubaLIF, LI) of an exported graph: decays to time constants, thresholds, resets, metadata.
public static partial class NirExport
{
    private sealed partial class Builder
    {
        private static string NodeTypeOf(Module layer) => layer switch { If => "IF", CubaLif => "CubaLIF", _ => "LIF" };

        private double Tau(double decay, Module layer, string path, string what)
        {
            if (!(decay >= 0 && decay < 1))
                throw Refuse(layer, path, $"its {what} {decay.ToString(CultureInfo.InvariantCulture)} is outside " +
                    "[0, 1): NIR's time constant τ = dt/(1 − λ) would be infinite or negative");
            return _o.Dt / (1 - decay);
        }

        private NirNode LifNode(string path, Module layer, float[] decay, float[] threshold, SpikingOptions o,
            IEnumerable<KeyValuePair<string, Tensor>> state, string kind)
        {
            var beta = PerNeuron(decay, layer, path, "decay");
            var theta = PerNeuron(threshold, layer, path, "threshold");
            // No leak anywhere: an integrate-and-fire neuron, which NIR writes as IF (τ would be infinite).
            if (beta.All(b => b == 1f)) return IfNode(path, layer, theta, o, state, kind);
            var (gain, offset) = TakeInputScale(layer, path, offsetAllowed: true);
            int n = beta.Length;
            float[] tau = new float[n], r = new float[n], leak = new float[n];
            for (int i = 0; i < n; i++)
            {
                tau[i] = (float)Tau(beta[i], layer, path, "decay");
                r[i] = (float)(gain[i] * (double)tau[i] / _o.Dt);
                leak[i] = (float)(offset[i] * (double)tau[i] / _o.Dt);
            }
            var node = new NirNode(Unique(path), "LIF")
                .With("tau", NirValue.Of(tau, _shape))
                .With("r", NirValue.Of(r, _shape))
                .With("v_leak", NirValue.Of(leak, _shape))
                .With("v_threshold", NirValue.Of(theta, _shape))
                .With("v_reset", NirValue.Filled(o.VReset, _shape));
            return Add(WithMetadata(node, kind, state));
        }

        private NirNode IfNode(string path, Module layer, float[] threshold, SpikingOptions o,
            IEnumerable<KeyValuePair<string, Tensor>> state, string kind)
        {
            var theta = PerNeuron(threshold, layer, path, "threshold");
            var (gain, _) = TakeInputScale(layer, path, offsetAllowed: false);
            var node = new NirNode(Unique(path), "IF")
                .With("r", NirValue.Of(gain, _shape))
                .With("v_threshold", NirValue.Of(theta, _shape))
                .With("v_reset", NirValue.Filled(o.VReset, _shape));
            return Add(WithMetadata(node, kind, state));
        }

        private NirNode CubaLifNode(string path, CubaLif layer)
        {
            var p = layer.ParameterValues();
            var lv = PerNeuron(Values(p[0]), layer, path, "decay");
            var li = PerNeuron(Values(p[1]), layer, path, "synapse_decay");
            var theta = PerNeuron(Values(p[2]), layer, path, "threshold");
            var (gain, _) = TakeInputScale(layer, path, offsetAllowed: false);
            int n = lv.Length;
            float[] tauMem = new float[n], tauSyn = new float[n], r = new float[n], wIn = new float[n];
            for (int i = 0; i < n; i++)
            {
                tauMem[i] = (float)Tau(lv[i], layer, path, "decay");
                tauSyn[i] = (float)Tau(li[i], layer, path, "synapse_decay");
                r[i] = (float)(tauMem[i] / _o.Dt);
                wIn[i] = (float)(gain[i] * (double)tauSyn[i] / _o.Dt);
            }
            var node = new NirNode(Unique(path), "CubaLIF")
                .With("tau_syn", NirValue.Of(tauSyn, _shape))
                .With("tau_mem", NirValue.Of(tauMem, _shape))
                .With("r", NirValue.Of(r, _shape))
                .With("v_leak", NirValue.Filled(0f, _shape))
                .With("v_threshold", NirValue.Of(theta, _shape))
                .With("v_reset", NirValue.Filled(layer.Options.VReset, _shape))
                .With("w_in", NirValue.Of(wIn, _shape));
            return Add(WithMetadata(node, "CubaLif", layer.StateDict()));
        }

        private NirNode LiNode(string path, Li layer)
        {
            var beta = PerNeuron(Values(layer.ParameterValues()[0]), layer, path, "decay");
            var (gain, offset) = TakeInputScale(layer, path, offsetAllowed: true);
            NirNode node;
            if (beta.All(b => b == 1f))
            {
                // No leak: NIR's integrator I (dv/dt = R·I, R per step as for IF); it has no v_leak.
                if (offset.Any(v => v != 0f))
                    throw Refuse(layer, path, "it has no leak but an input offset, which NIR's I node cannot hold");
                node = new NirNode(Unique(path), "I").With("r", NirValue.Of(gain, _shape));
            }
            else
            {
                int n = beta.Length;
                float[] tau = new float[n], r = new float[n], leak = new float[n];
                for (int i = 0; i < n; i++)
                {
                    tau[i] = (float)Tau(beta[i], layer, path, "decay");
                    r[i] = (float)(gain[i] * (double)tau[i] / _o.Dt);
                    leak[i] = (float)(offset[i] * (double)tau[i] / _o.Dt);
                }
                node = new NirNode(Unique(path), "LI")
                    .With("tau", NirValue.Of(tau, _shape))
                    .With("r", NirValue.Of(r, _shape))
                    .With("v_leak", NirValue.Of(leak, _shape));
            }
            return Add(WithMetadata(node, "Li", layer.StateDict()));
        }

        // Records the layer's own SpikeSharp state (learnt logits, thresholds) for an exact re-import.
        private NirNode WithMetadata(NirNode node, string kind, IEnumerable<KeyValuePair<string, Tensor>> state)
        {
            if (!_o.SpikeSharpMetadata) return node;
            var entries = state.ToList();
            node.Metadata[NirMetadata.Layer] = NirValue.Scalar(kind);
            // Whether the neuron parameters are trained (a fixed threshold has the same state-dict name).
            node.Metadata[NirMetadata.Learnable] = NirValue.Scalar(entries.Any(e => e.Value.RequiresGrad
                && e.Key is "threshold" or "decay_logit" or "synapse_decay_logit") ? 1 : 0);
            foreach (var (key, t) in entries)
                node.Metadata[NirMetadata.StatePrefix + key] = NirValue.Of(t.ToArray<float>(), t.Shape);
            return node;
        }
    }
}
