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
/// Node types: Affine → <see cref="Linear"/>; Linear → <see cref="Linear"/> without bias; Conv2d →
/// <see cref="Conv2d"/> (groups 1, dilation 1); Flatten; AvgPool2d → <see cref="AvgPool2d"/>; SumPool2d →
/// <see cref="SumPool2d"/>; Scale → <see cref="Scale"/>; LIF → <see cref="Lif"/> (shared parameters) or
/// <see cref="Plif"/> (per neuron); IF → <see cref="If"/> (or a <see cref="Plif"/> with decay 1 for per-neuron
/// thresholds); LI → <see cref="Li"/>; I → <see cref="Li"/> with decay 1; CubaLIF → <see cref="CubaLif"/>. With
/// the time step dt a time constant τ becomes the decay λ = 1 − dt/τ, and R·dt/τ (IF, I: R) is an input gain; a
/// gain other than 1 or a leak voltage v_leak adds a <see cref="Scale"/> before the neuron layer
/// (x·R·dt/τ + v_leak·dt/τ). v_reset must be the same for all neurons of a node (it becomes
/// <see cref="SpikingOptions.VReset"/>).
/// Nodes written by <see cref="NirExport"/> carry SpikeSharp's own parameters in their metadata; where they agree with
/// the NIR parameters they are used as they are, so a SpikeSharp network comes back bit for bit.
/// </remarks>
public static partial class NirImport
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

    private sealed partial class Builder
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

    }
}
