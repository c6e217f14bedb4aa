using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;

namespace SpikeSharp.Nir;

// The neuron nodes (LIF, IF, LI, CubaLIF) of an imported graph: time constants to decays, resets, SpikeSharp metadata.
public static partial class NirImport
{
    private sealed partial class Builder
    {
        // λ = 1 − dt/τ per neuron, checked to lie in [0, 1).
        private double[] Decays(string tauField, out float[] tau)
        {
            tau = PerNeuron(tauField);
            var d = new double[tau.Length];
            for (int i = 0; i < tau.Length; i++)
            {
                if (!(tau[i] > 0)) throw Bad($"'{tauField}' holds {tau[i]}, expected positive time constants");
                d[i] = 1 - _o.Dt / tau[i];
                if (d[i] < 0)
                    throw Bad($"'{tauField}' holds {tau[i].ToString("R", CultureInfo.InvariantCulture)} s, shorter " +
                        $"than the time step dt = {Inv(_o.Dt)} s: the decay 1 − dt/τ would be negative; import " +
                        "with a dt no longer than the shortest time constant");
            }
            return d;
        }

        private static string Inv(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

        private SpikingOptions ResetOptions()
        {
            var reset = PerNeuron("v_reset", absent: 0f);
            if (reset.Distinct().Count() > 1)
                throw Unsupported($"has {reset.Distinct().Count()} different v_reset values; SpikeSharp's neuron " +
                    "layers reset every neuron to one value");
            return SpikingOptions.Default with { VReset = reset[0] };
        }

        // Adds the Scale before a neuron layer when its input gain is not 1 or it has an offset.
        private void InputTransform(double[] gain, double[] offset)
        {
            const double tolerance = 1e-6; // R = τ/dt stored in float32 gives R·dt/τ = 1 ± 1e-7
            bool unit = gain.All(x => Math.Abs(x - 1) <= tolerance) && offset.All(x => x == 0);
            if (unit) return;
            _stateless.Add(new Scale(gain.Select(x => (float)x).ToArray(), _shape,
                offset.All(x => x == 0) ? null : offset.Select(x => (float)x).ToArray(), _device));
        }

        private bool LearnableDecays(IEnumerable<double> decays) => _o.Learnable && decays.All(d => d > 0 && d < 1);

        private void Lif()
        {
            var beta = Decays("tau", out var tau);
            var r = PerNeuron("r");
            var leak = PerNeuron("v_leak", absent: 0f);
            var theta = PerNeuron("v_threshold");
            var options = ResetOptions();
            InputTransform(r.Select((x, i) => x * _o.Dt / tau[i]).ToArray(),
                leak.Select((x, i) => x * _o.Dt / tau[i]).ToArray());
            AddNeuron(FromMetadata(options, new[] { beta }, theta) ?? LifLayer(beta, theta, options));
        }

        private Module LifLayer(double[] beta, float[] theta, SpikingOptions options)
        {
            bool learnable = LearnableDecays(beta);
            if (beta.Distinct().Count() == 1 && theta.Distinct().Count() == 1)
                return new Nn.Lif((float)beta[0], theta[0], learnable, options: options, device: _device);
            var plif = new Plif(Count, 0.5f, 1f, learnable, options: options, device: _device);
            Load(plif, new Dictionary<string, Tensor>
            {
                [learnable ? "decay_logit" : "decay"] = Cpu(learnable ? Logits(beta) : Narrow(beta), Count),
                ["threshold"] = Cpu(theta, Count),
            });
            return plif;
        }

        private void If()
        {
            var r = PerNeuron("r");
            var theta = PerNeuron("v_threshold");
            var options = ResetOptions();
            // NIR's IF is dv/dt = R·I; as Sinabs and snnTorch do, R is the input weight of one step.
            InputTransform(r.Select(x => (double)x).ToArray(), new double[Count]);
            var ones = new[] { Enumerable.Repeat(1.0, Count).ToArray() };
            AddNeuron(FromMetadata(options, ones, theta) ?? (theta.Distinct().Count() == 1
                ? new Nn.If(theta[0], _o.Learnable, options: options, device: _device)
                : LifLayer(ones[0], theta, options)));
        }

        private void Li(bool leaky)
        {
            double[] beta;
            if (leaky)
            {
                beta = Decays("tau", out var tau);
                var r = PerNeuron("r");
                var leak = PerNeuron("v_leak", absent: 0f);
                InputTransform(r.Select((x, i) => x * _o.Dt / tau[i]).ToArray(),
                    leak.Select((x, i) => x * _o.Dt / tau[i]).ToArray());
            }
            else
            {
                beta = Enumerable.Repeat(1.0, Count).ToArray();
                InputTransform(PerNeuron("r").Select(x => (double)x).ToArray(), new double[Count]);
            }
            if (beta.Any(b => b == 0))
                throw Unsupported($"has a time constant equal to dt = {Inv(_o.Dt)} s (decay 0), which " +
                    "SpikeSharp's LI layer does not take; import with a smaller dt");
            AddNeuron(FromMetadata(SpikingOptions.Default, new[] { beta }, null) ?? ModelLayer(new[] { beta }, null,
                (values, features, learnable) => new Nn.Li(values[0], features, learnable, _device)));
        }

        private void CubaLif()
        {
            var lv = Decays("tau_mem", out var tauMem);
            var li = Decays("tau_syn", out var tauSyn);
            var r = PerNeuron("r");
            var wIn = PerNeuron("w_in", absent: 1f);
            var theta = PerNeuron("v_threshold");
            if (PerNeuron("v_leak", absent: 0f).Any(v => v != 0))
                throw Unsupported(
                    "has a leak voltage v_leak ≠ 0, which SpikeSharp's CubaLif cannot take "
                    + "(its input passes the synapse first)");
            var options = ResetOptions();
            // i = λ_i·i + x and v = λ_v·v + i hold k·I for k = R·dt/τ_mem;
            // the input then weighs k·w_in·dt/τ_syn.
            InputTransform(r.Select((x, i) => x * _o.Dt / tauMem[i] * wIn[i] * _o.Dt / tauSyn[i]).ToArray(),
                new double[Count]);
            AddNeuron(FromMetadata(options, new[] { lv, li }, theta) ?? ModelLayer(new[] { lv, li }, theta,
                (values, features, learnable) => new Nn.CubaLif(values[0], values[1], values[2], features, learnable,
                    options, _device)));
        }

        // A CubaLif or Li layer: shared parameters when every neuron has the same ones, else per feature.
        private Module ModelLayer(double[][] decays, float[]? theta, Func<float[], int, bool, Module> create)
        {
            bool learnable = _o.Learnable && decays.All(d => d.All(x => x > 0 && x < 1));
            bool shared = decays.All(d => d.Distinct().Count() == 1) && (theta?.Distinct().Count() ?? 1) == 1;
            var first = decays.Select(d => (float)d[0])
                .Concat(theta is null ? Array.Empty<float>() : new[] { theta[0] });
            var layer = create(first.ToArray(), shared ? 0 : Count, learnable);
            if (shared) return layer;
            var state = new Dictionary<string, Tensor>();
            string[] names = decays.Length == 2 ? new[] { "decay", "synapse_decay" } : new[] { "decay" };
            for (int k = 0; k < decays.Length; k++)
                state[learnable ? names[k] + "_logit" : names[k]] =
                    Cpu(learnable ? Logits(decays[k]) : Narrow(decays[k]), Count);
            if (theta != null) state["threshold"] = Cpu(theta, Count);
            Load(layer, state);
            return layer;
        }

        /// <summary>
        /// The layer SpikeSharp exported, rebuilt from the node's metadata, when there is such metadata and its values
        /// agree with the node's NIR parameters (decays within 1e-5, thresholds within 1e-6 relative); else null.
        /// </summary>
        private Module? FromMetadata(SpikingOptions options, double[][] decays, float[]? theta)
        {
            var m = _node.Metadata;
            if (!m.TryGetValue(NirMetadata.Layer, out var kindValue) || kindValue.Strings is not { Length: 1 } kind)
                return null;
            if (!m.TryGetValue(NirMetadata.Learnable, out var flag) || flag.Ints is not { Length: 1 } learnableFlag)
                return null;
            var state = new Dictionary<string, Tensor>();
            foreach (var (key, v) in m)
                if (key is not (NirMetadata.Layer or NirMetadata.Learnable)
                    && key.StartsWith(NirMetadata.StatePrefix, StringComparison.Ordinal) && v.Floats != null)
                    state[key[NirMetadata.StatePrefix.Length..]] = Cpu(v.Floats, v.IsScalar ? new[] { 1 } : v.Shape);
            int Length(string key) => state.TryGetValue(key, out var t) ? t.Numel : 0;
            bool learnable = learnableFlag[0] != 0, alpha = state.ContainsKey("alpha");
            int features = Math.Max(Length("decay_logit"), Length("decay"));
            Module? layer = null;
            try
            {
                layer = kind[0] switch
                {
                    "Lif" => new Nn.Lif(0.5f, 1f, learnable, alpha, options, _device),
                    "Plif" when features > 0 => new Plif(features, 0.5f, 1f, learnable, alpha, options, _device),
                    "If" => new Nn.If(1f, learnable, alpha, options, _device),
                    "CubaLif" => new Nn.CubaLif(0.5f, 0.5f, 1f, features > 1 ? features : 0, learnable, options,
                        _device),
                    "Li" => new Nn.Li(0.5f, features > 1 ? features : 0, learnable, _device),
                    _ => null,
                };
                if (layer is null) return null;
                layer.LoadStateDict(state);
                if (!Agrees(layer, decays, theta)) { layer.Dispose(); return null; }
                return layer;
            }
            catch (ArgumentException)
            {
                // Metadata of another layout (edited, or from another version): the NIR parameters decide.
                layer?.Dispose();
                return null;
            }
            finally
            {
                foreach (var t in state.Values) t.Dispose();
            }
        }

        private bool Agrees(Module layer, double[][] decays, float[]? theta)
        {
            using var scope = TensorScope.Begin();
            (Tensor[] d, Tensor? th) = layer switch
            {
                Nn.Lif l => (new[] { l.Decay() }, l.Threshold),
                Plif p => (new[] { p.Decay() }, p.Threshold),
                Nn.If i => (Array.Empty<Tensor>(), i.Threshold),
                Nn.CubaLif c => (c.ParameterValues()[..2], c.ParameterValues()[2]),
                Nn.Li li => (li.ParameterValues(), null),
                _ => (Array.Empty<Tensor>(), null),
            };
            if (layer is Nn.If && decays[0].Any(x => x != 1)) return false;
            for (int k = 0; k < d.Length; k++)
            {
                var values = Broadcast(d[k].ToArray<float>());
                if (values is null || k >= decays.Length) return false;
                for (int i = 0; i < values.Length; i++)
                    if (Math.Abs(values[i] - decays[k][i]) > 1e-5) return false;
            }
            if ((th is null) != (theta is null)) return false;
            if (th is not null)
            {
                var values = Broadcast(th.ToArray<float>());
                if (values is null) return false;
                for (int i = 0; i < values.Length; i++)
                    if (Math.Abs(values[i] - theta![i]) > 1e-6 * Math.Max(1, Math.Abs(theta[i]))) return false;
            }
            return true;
        }

        private float[]? Broadcast(float[] v) => v.Length == Count ? v
            : v.Length == 1 ? Enumerable.Repeat(v[0], Count).ToArray() : null;

        private static float[] Logits(double[] decays) => decays.Select(d => (float)Math.Log(d / (1 - d))).ToArray();

        private static float[] Narrow(double[] values) => values.Select(d => (float)d).ToArray();

        private void Load(Module layer, Dictionary<string, Tensor> state)
        {
            try { layer.LoadStateDict(state); }
            catch (ArgumentException e)
            {
                layer.Dispose();
                throw Bad($"its parameters do not fit the layer: {e.Message}");
            }
            finally
            {
                foreach (var t in state.Values) t.Dispose();
            }
        }
    }
}
