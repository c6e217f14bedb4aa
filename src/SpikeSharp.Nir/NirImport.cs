using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;

namespace SpikeSharp.Nir;

/// <summary>
/// Builds a SpikeSharp network from a NIR file (written by SpikeSharp or another library). The graph must be a
/// feed-forward chain from its Input node to its Output node; the result is a <see cref="Sequential"/> whose stateless
/// runs are wrapped in <see cref="MultiStep"/> and that takes (T, B, …) inputs, T time steps of dt each.
/// </summary>
/// <remarks>
/// Node types: Affine → <see cref="Linear"/>; Linear → <see cref="Linear"/> without bias; Conv2d → <see cref="Conv2d"/>
/// (groups 1, dilation 1); Flatten; AvgPool2d → <see cref="AvgPool2d"/>; SumPool2d → <see cref="SumPool2d"/>; Scale →
/// <see cref="Scale"/>; LIF → <see cref="Lif"/> (shared parameters) or <see cref="Plif"/> (per neuron); IF →
/// <see cref="If"/> (or a <see cref="Plif"/> with decay 1 for per-neuron thresholds); LI → <see cref="Li"/>; I →
/// <see cref="Li"/> with decay 1; CubaLIF → <see cref="CubaLif"/>. With the time step dt a time constant τ becomes the
/// decay λ = 1 − dt/τ, and R·dt/τ (IF, I: R) is an input gain; a gain other than 1 or a leak voltage v_leak adds a
/// <see cref="Scale"/> before the neuron layer (x·R·dt/τ + v_leak·dt/τ). v_reset must be the same for all neurons of a
/// node (it becomes <see cref="SpikingOptions.VReset"/>). Nodes written by <see cref="NirExport"/> carry SpikeSharp's
/// own parameters in their metadata; where they agree with the NIR parameters they are used as they are, so a
/// SpikeSharp network comes back bit for bit.
/// </remarks>
public static class NirImport
{
    /// <summary>Reads the NIR file <paramref name="path"/> and builds its network on <paramref name="device"/>.
    /// </summary>
    /// <param name="path">The .nir file.</param>
    /// <param name="device">Where the layers live (default: <see cref="Device.Default"/>).</param>
    /// <param name="options">dt and whether the neuron parameters are learnable; null for
    /// <see cref="NirOptions.Default"/>.</param>
    /// <returns>The network, in evaluation mode.</returns>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not HDF5 or not NIR, a node is malformed (missing
    /// parameters, wrong shapes), or the graph is not a chain (a cycle, a branch); the message names the node.
    /// </exception>
    /// <exception cref="NotSupportedException">A node type SpikeSharp cannot run (the message names the node).
    /// </exception>
    public static Module Load(string path, Device? device = null, NirOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var o = options ?? NirOptions.Default;
        o.Validate();
        var graph = NirFile.Read(path);
        return Build(graph, $"'{path}'", device ?? Device.Default, o);
    }

    /// <summary>Builds the network of an in-memory graph; <paramref name="source"/> names it in messages.</summary>
    internal static Module Build(NirGraph graph, string source, Device device, NirOptions o)
    {
        var chain = Chain(graph, source);
        using var _ = Tape.NoGrad();
        var model = new Builder(source, device, o).Build(chain);
        model.Eval();
        return model;
    }

    // The nodes from the Input node to the Output node, checking that the graph is exactly that chain.
    private static List<NirNode> Chain(NirGraph g, string source)
    {
        InvalidDataException Bad(string what) => new($"NIR: {source}: {what}");
        var byName = new Dictionary<string, NirNode>(StringComparer.Ordinal);
        foreach (var n in g.Nodes)
            if (!byName.TryAdd(n.Name, n)) throw Bad($"two nodes are named '{n.Name}'");
        var outs = g.Nodes.ToDictionary(n => n.Name, _ => new List<string>(), StringComparer.Ordinal);
        var ins = g.Nodes.ToDictionary(n => n.Name, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var (from, to) in g.Edges)
        {
            if (!byName.ContainsKey(from)) throw Bad($"an edge leaves '{from}', which is not a node of the graph");
            if (!byName.ContainsKey(to)) throw Bad($"an edge enters '{to}', which is not a node of the graph");
            outs[from].Add(to);
            ins[to].Add(from);
        }
        var inputs = g.Nodes.Where(n => n.Type == "Input").ToList();
        var outputs = g.Nodes.Where(n => n.Type == "Output").ToList();
        if (inputs.Count != 1)
            throw Bad(inputs.Count == 0 ? "the graph has no Input node"
                : $"the graph has {inputs.Count} Input nodes ({Names(inputs.Select(n => n.Name))}); SpikeSharp " +
                  "imports networks with one input");
        if (outputs.Count != 1)
            throw Bad(outputs.Count == 0 ? "the graph has no Output node"
                : $"the graph has {outputs.Count} Output nodes ({Names(outputs.Select(n => n.Name))}); SpikeSharp " +
                  "imports networks with one output");
        var chain = new List<NirNode>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var node = inputs[0];
        while (true)
        {
            if (!seen.Add(node.Name))
                throw new NotSupportedException($"NIR: {source}: node '{node.Name}' ({node.Type}) is on a cycle " +
                    $"({string.Join(" → ", chain.SkipWhile(c => c.Name != node.Name).Select(c => c.Name)
                        .Append(node.Name))}); SpikeSharp imports feed-forward chains only");
            chain.Add(node);
            if (ins[node.Name].Count > 1)
                throw new NotSupportedException($"NIR: {source}: node '{node.Name}' ({node.Type}) has " +
                    $"{ins[node.Name].Count} incoming edges (from {Names(ins[node.Name])}); SpikeSharp imports " +
                    "feed-forward chains only (no merges or recurrence)");
            if (node.Type == "Output") break;
            var next = outs[node.Name];
            if (next.Count == 0)
                throw Bad($"node '{node.Name}' ({node.Type}) has no outgoing edge: the chain from " +
                    $"'{inputs[0].Name}' ends before the Output node '{outputs[0].Name}'");
            if (next.Count > 1)
                throw new NotSupportedException($"NIR: {source}: node '{node.Name}' ({node.Type}) has {next.Count} " +
                    $"outgoing edges (to {Names(next)}); SpikeSharp imports " +
                    "feed-forward chains only (no branches)");
            node = byName[next[0]];
        }
        if (outs[node.Name].Count > 0)
            throw new NotSupportedException($"NIR: {source}: the Output node '{node.Name}' has outgoing edges");
        if (ins[inputs[0].Name].Count > 0)
            throw new NotSupportedException($"NIR: {source}: the Input node '{inputs[0].Name}' has incoming edges " +
                $"(from {Names(ins[inputs[0].Name])})");
        var off = g.Nodes.Where(n => !seen.Contains(n.Name)).ToList();
        if (off.Count > 0)
            throw new NotSupportedException($"NIR: {source}: node(s) " +
                $"{string.Join(", ", off.Select(n => $"'{n.Name}' ({n.Type})"))} are not on the chain from " +
                $"'{inputs[0].Name}' to '{node.Name}'; SpikeSharp imports feed-forward chains only");
        return chain;
    }

    private static string Names(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));

    private sealed class Builder
    {
        private readonly string _source;
        private readonly Device _device;
        private readonly NirOptions _o;
        private readonly Sequential _model = new();
        private readonly List<Module> _stateless = new();
        private int[] _shape = Array.Empty<int>();
        private NirNode _node = null!;

        public Builder(string source, Device device, NirOptions o)
        {
            _source = source; _device = device; _o = o;
        }

        public Sequential Build(List<NirNode> chain)
        {
            try
            {
                foreach (var n in chain)
                {
                    _node = n;
                    Convert(n);
                }
                FlushStateless();
                return _model;
            }
            catch
            {
                _model.Dispose();
                foreach (var m in _stateless) m.Dispose();
                throw;
            }
        }

        private void FlushStateless()
        {
            if (_stateless.Count == 0) return;
            _model.Add(new MultiStep(_stateless.ToArray()));
            _stateless.Clear();
        }

        private void AddNeuron(Module layer)
        {
            FlushStateless();
            _model.Add(layer);
        }

        // ---- messages and field access ----

        private string Where => $"NIR: {_source}: node '{_node.Name}' ({_node.Type})";

        private InvalidDataException Bad(string what) => new($"{Where}: {what}");

        private NotSupportedException Unsupported(string what) => new($"{Where}: {what}");

        private NirValue Field(string name) => _node.Fields.TryGetValue(name, out var v) ? v
            : throw Bad($"has no '{name}' dataset, which this node type requires");

        private float[] Floats(string name)
        {
            var v = Field(name);
            var f = v.Floats ?? v.Ints?.Select(i => (float)i).ToArray()
                ?? throw Bad($"'{name}' holds strings, expected numbers");
            foreach (var x in f)
                if (!float.IsFinite(x)) throw Bad($"'{name}' holds {x}, expected finite numbers");
            return f;
        }

        // A per-neuron parameter: one value per neuron of the current shape, or one shared value.
        private float[] PerNeuron(string name, float? absent = null)
        {
            if (absent is { } a && !_node.Fields.ContainsKey(name)) return Enumerable.Repeat(a, Count).ToArray();
            var f = Floats(name);
            if (f.Length == Count) return f;
            if (f.Length == 1) return Enumerable.Repeat(f[0], Count).ToArray();
            throw Bad($"'{name}' is {Field(name).Describe()}, but the node receives samples of shape " +
                $"{ShapeUtil.Format(_shape)} ({Count} neurons)");
        }

        private int Count => (int)ShapeUtil.Numel(_shape);

        private long Int(string name, long? absent = null)
        {
            if (absent is { } a && !_node.Fields.ContainsKey(name)) return a;
            var v = Field(name);
            if (v.Ints is not { Length: 1 } i) throw Bad($"'{name}' is {v.Describe()}, expected one integer");
            return i[0];
        }

        // An (H, W) pair given as one integer or two.
        private (int H, int W) Pair(string name, (int, int)? absent = null)
        {
            if (absent is { } a && !_node.Fields.ContainsKey(name)) return a;
            var v = Field(name);
            if (v.Ints is { Length: 1 } one) return (Small(one[0], name), Small(one[0], name));
            if (v.Ints is { Length: 2 } two) return (Small(two[0], name), Small(two[1], name));
            throw Bad($"'{name}' is {v.Describe()}, expected one or two integers");
        }

        private int Small(long v, string name) => v is >= 0 and <= int.MaxValue ? (int)v
            : throw Bad($"'{name}' holds {v}, expected a non-negative integer");

        private int[] ShapeField(string name)
        {
            var v = Field(name);
            if (v.Ints is not { Length: > 0 } dims || dims.Any(d => d <= 0 || d > int.MaxValue))
                throw Bad($"'{name}' is {v.Describe()}, expected a shape (positive integers)");
            return dims.Select(d => (int)d).ToArray();
        }

        private Tensor Cpu(float[] values, params int[] shape) => Tensor.FromArray(values, shape, Device.Cpu);

        // ---- nodes ----

        private void Convert(NirNode n)
        {
            switch (n.Type)
            {
                case "Input":
                    _shape = ShapeField(n.Fields.ContainsKey("shape") ? "shape" : "input_type");
                    break;
                case "Output":
                    if (n.Fields.ContainsKey("shape"))
                    {
                        var s = ShapeField("shape");
                        if (ShapeUtil.Numel(s) != Count)
                            throw Bad($"declares shape {ShapeUtil.Format(s)}, but the chain delivers " +
                                $"{ShapeUtil.Format(_shape)}");
                    }
                    break;
                case "Affine": Dense(bias: true); break;
                case "Linear": Dense(bias: false); break;
                case "Conv2d": Conv(); break;
                case "Flatten": FlattenNode(); break;
                case "AvgPool2d": Pool(sum: false); break;
                case "SumPool2d": Pool(sum: true); break;
                case "Scale":
                    _stateless.Add(new Scale(PerNeuron("scale"), _shape, device: _device));
                    break;
                case "LIF": Lif(); break;
                case "IF": If(); break;
                case "LI": Li(leaky: true); break;
                case "I": Li(leaky: false); break;
                case "CubaLIF": CubaLif(); break;
                case "NIRGraph":
                    throw Unsupported("is a nested graph (subgraph), typically a recurrent layer; SpikeSharp imports " +
                        "flat feed-forward chains");
                case "Conv1d" or "Delay" or "Threshold" or "CubaLI" or "Identity":
                    throw Unsupported("SpikeSharp has no layer for this NIR node type");
                default:
                    throw Bad($"'{n.Type}' is not a NIR node type");
            }
        }

        private void Dense(bool bias)
        {
            var w = Field("weight");
            if (w.Shape.Length != 2 || w.Floats is null)
                throw Bad($"'weight' is {w.Describe()}, expected a float matrix (out, in)");
            int outF = w.Shape[0], inF = w.Shape[1];
            if (_shape.Length != 1 || _shape[0] != inF)
                throw Bad($"maps vectors of {inF} but receives samples of shape {ShapeUtil.Format(_shape)}" +
                    (_shape.Length > 1 && Count == inF ? " (a Flatten node is missing before it)" : ""));
            var layer = new Linear(inF, outF, bias, new Generator(0), _device);
            var state = new Dictionary<string, Tensor> { ["weight"] = Cpu(Floats("weight"), outF, inF) };
            if (bias)
            {
                var b = Floats("bias");
                if (b.Length != outF) throw Bad($"'bias' has {b.Length} values, expected {outF}");
                state["bias"] = Cpu(b, outF);
            }
            Load(layer, state);
            _stateless.Add(layer);
            _shape = new[] { outF };
        }

        private void Conv()
        {
            var w = Field("weight");
            if (w.Shape.Length != 4 || w.Floats is null)
                throw Bad($"'weight' is {w.Describe()}, expected a float array (C_out, C_in, kH, kW)");
            int cout = w.Shape[0], cin = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
            long groups = Int("groups", absent: 1);
            if (groups != 1) throw Unsupported($"has groups = {groups}; SpikeSharp's Conv2d has no groups");
            var dilation = Pair("dilation", absent: (1, 1));
            if (dilation != (1, 1))
                throw Unsupported($"has dilation {dilation}; SpikeSharp's Conv2d has no dilation");
            if (_shape.Length != 3 || _shape[0] != cin)
                throw Bad($"takes ({cin}, H, W) samples but receives {ShapeUtil.Format(_shape)}");
            if (_node.Fields.TryGetValue("input_shape", out var declared) && declared.Ints is { Length: 2 } hw
                && (hw[0] != _shape[1] || hw[1] != _shape[2]))
                throw Bad($"declares input_shape ({hw[0]}, {hw[1]}), but receives {ShapeUtil.Format(_shape)}");
            var stride = Pair("stride", absent: (1, 1));
            if (stride.H == 0 || stride.W == 0) throw Bad($"has stride {stride}, expected positive integers");
            (int H, int W) padding;
            var p = Field("padding");
            if (p.Strings is { Length: 1 } mode)
                padding = mode[0] switch
                {
                    "valid" => (0, 0),
                    "same" when kh % 2 == 1 && kw % 2 == 1 && stride == (1, 1) => (kh / 2, kw / 2),
                    _ => throw Unsupported($"has padding '{mode[0]}'; SpikeSharp pads symmetrically ('same' needs an " +
                        "odd kernel and stride 1)"),
                };
            else padding = Pair("padding");
            int ho = (_shape[1] + 2 * padding.H - kh) / stride.H + 1;
            int wo = (_shape[2] + 2 * padding.W - kw) / stride.W + 1;
            if (_shape[1] + 2 * padding.H < kh || _shape[2] + 2 * padding.W < kw)
                throw Bad($"its {kh}×{kw} kernel does not fit the padded input {ShapeUtil.Format(_shape)}");
            var layer = new Conv2d(cin, cout, (kh, kw), stride, padding, bias: true, new Generator(0), _device);
            var bias = _node.Fields.ContainsKey("bias") ? Floats("bias") : new float[cout];
            if (bias.Length == 1 && cout > 1) bias = Enumerable.Repeat(bias[0], cout).ToArray();
            if (bias.Length != cout) throw Bad($"'bias' has {bias.Length} values, expected {cout}");
            Load(layer, new Dictionary<string, Tensor>
            {
                ["weight"] = Cpu(Floats("weight"), cout, cin, kh, kw),
                ["bias"] = Cpu(bias, cout),
            });
            _stateless.Add(layer);
            _shape = new[] { cout, ho, wo };
        }

        private void FlattenNode()
        {
            int rank = _shape.Length;
            if (_node.Fields.TryGetValue("input_type", out var declared) && declared.Ints is { } dims
                && !dims.SequenceEqual(_shape.Select(d => (long)d)))
                throw Bad($"declares input_type ({string.Join(", ", dims)}), but receives {ShapeUtil.Format(_shape)}");
            long start = Int("start_dim", absent: 0), end = Int("end_dim", absent: -1);
            long s = start < 0 ? start + rank : start, e = end < 0 ? end + rank : end;
            if (s < 0 || e >= rank || s > e)
                throw Bad($"flattens dims {start}..{end} of samples of shape {ShapeUtil.Format(_shape)}");
            // SpikeSharp's layer sees (T·B, …): one leading dim more than NIR's per-sample shape.
            _stateless.Add(new Flatten((int)s + 1, e == rank - 1 ? -1 : (int)e + 1));
            _shape = _shape.Take((int)s).Append(_shape[(int)s..((int)e + 1)].Aggregate(1, (a, d) => a * d))
                .Concat(_shape.Skip((int)e + 1)).ToArray();
        }

        private void Pool(bool sum)
        {
            var k = Pair("kernel_size");
            var stride = Pair("stride", absent: k);
            var padding = Pair("padding", absent: (0, 0));
            if (k.H == 0 || k.W == 0 || stride.H == 0 || stride.W == 0)
                throw Bad($"has kernel {k} and stride {stride}, expected positive integers");
            if (_shape.Length != 3) throw Bad($"takes (C, H, W) samples but receives {ShapeUtil.Format(_shape)}");
            if (_shape[1] + 2 * padding.H < k.H || _shape[2] + 2 * padding.W < k.W)
                throw Bad($"its {k.H}×{k.W} window does not fit the padded input {ShapeUtil.Format(_shape)}");
            _stateless.Add(sum ? new SumPool2d(k, stride, padding) : new AvgPool2d(k, stride, padding));
            _shape = new[]
            {
                _shape[0],
                (_shape[1] + 2 * padding.H - k.H) / stride.H + 1,
                (_shape[2] + 2 * padding.W - k.W) / stride.W + 1,
            };
        }

        // ---- neurons ----

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
                throw Unsupported("has a leak voltage v_leak ≠ 0, which SpikeSharp's CubaLif cannot take (its input " +
                    "passes the synapse first)");
            var options = ResetOptions();
            // i = λ_i·i + x and v = λ_v·v + i hold k·I for k = R·dt/τ_mem; the input then weighs k·w_in·dt/τ_syn.
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
