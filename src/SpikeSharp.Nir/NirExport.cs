using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Nir;

/// <summary>
/// Writes a SpikeSharp network as a NIR graph (Neuromorphic Intermediate Representation, an HDF5 file that snnTorch,
/// Norse, SpikingJelly, Sinabs, Rockpool, Lava-DL and SpiNNaker2 read). The network is a chain: a
/// <see cref="Sequential"/> (nested ones and <see cref="MultiStep"/> wrappers are walked through) of
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="Linear"/> → Affine (Linear without a bias); <see cref="Conv2d"/> → Conv2d; a
/// <see cref="BatchNorm2d"/> or <see cref="BatchNorm1d"/> right after one is folded into its weight and bias (with the
/// running statistics, as in evaluation); <see cref="Flatten"/> → Flatten; <see cref="AvgPool2d"/> → AvgPool2d;
/// <see cref="SumPool2d"/> → SumPool2d; <see cref="Scale"/> → Scale; <see cref="Dropout"/> is left out (identity at
/// inference).</item>
/// <item><see cref="Lif"/> and <see cref="Plif"/> → LIF (τ = dt/(1 − λ), R = τ/dt, v_leak = 0);
/// <see cref="If"/> → IF (R = 1 per step); <see cref="CubaLif"/> → CubaLIF (R = τ_mem/dt, w_in = τ_syn/dt);
/// <see cref="Li"/> → LI; <see cref="LinearLif"/> → Affine + LIF. Parameters are written per neuron, shaped like
/// the layer's input.</item>
/// </list>
/// Refused, with a message naming the layer: max pooling, soft reset, ALIF, attention and any other layer NIR cannot
/// express. NIR's neurons fire when v &gt; v_threshold; SpikeSharp's when h ≥ θ (a difference only at equality).
/// </remarks>
public static partial class NirExport
{
    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> (through a temporary file: an existing file
    /// is replaced only by a complete one).</summary>
    /// <param name="model">The network; its parameters are read as they are now.</param>
    /// <param name="path">The .nir file to write.</param>
    /// <param name="options">dt, the input shape, metadata; null for <see cref="NirOptions.Default"/>.</param>
    /// <exception cref="NotSupportedException">A layer NIR cannot express (the message names it and its path).
    /// </exception>
    /// <exception cref="ArgumentException">The options are invalid, or the layers do not fit together.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(Module model, string path, NirOptions? options = null)
    {
        SaveGraph(model, path, options);
    }

    /// <summary>As <see cref="Save"/>; returns the graph written.</summary>
    internal static NirGraph SaveGraph(Module model, string path, NirOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var graph = ToGraph(model, options ?? NirOptions.Default);
        NirFile.Write(graph, path);
        return graph;
    }

    /// <summary>The NIR graph of <paramref name="model"/>, without writing it.</summary>
    internal static NirGraph ToGraph(Module model, NirOptions options)
    {
        options.Validate();
        var steps = new List<Step>();
        Collect(model, "", folded: false, steps);
        if (steps.Count == 0)
            throw new ArgumentException("NIR export: the model has no layers to export", nameof(model));
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        return new Builder(options).Build(steps);
    }

    /// <summary>A leaf layer with its dotted path and whether it runs inside a <see cref="MultiStep"/> (time folded
    /// into the batch: its input is (T·B, …) rather than (T, B, …)).</summary>
    private sealed record Step(string Path, Module Layer, bool Folded);

    private static void Collect(Module m, string path, bool folded, List<Step> steps)
    {
        switch (m)
        {
            case Sequential s:
                for (int i = 0; i < s.Count; i++)
                    Collect(s[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), folded, steps);
                break;
            case MultiStep ms when folded:
                throw new NotSupportedException($"NIR export: MultiStep at '{Show(path)}' sits inside another " +
                    "MultiStep; nested time folding has no per-step meaning");
            case MultiStep ms:
                Collect(ms.Inner, Join(path, "module"), folded: true, steps);
                break;
            default:
                steps.Add(new Step(path, m, folded));
                break;
        }
    }

    private static string Join(string a, string b) => a.Length == 0 ? b : a + "." + b;
    private static string Show(string path) => path.Length == 0 ? "(the model itself)" : path;

    private sealed partial class Builder
    {
        private readonly NirOptions _o;
        private readonly NirGraph _g = new();
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private int[] _shape = Array.Empty<int>();
        // The Conv2d/Affine/Linear node emitted by the previous step, which a batch norm folds into.
        private NirNode? _foldTarget;
        private (float[] Gain, float[]? Offset, string Path)? _pendingScale;

        public Builder(NirOptions o) => _o = o;

        public NirGraph Build(List<Step> steps)
        {
            // Layers NIR cannot express are named before any shape is worked out.
            foreach (var step in steps)
                if (Unsupported(step) is { } refusal) throw refusal;
            _shape = _o.InputShape is { } s ? (int[])s.Clone() : InferInputShape(steps[0]);
            var input = Add(new NirNode(Unique("input"), "Input").With("shape", ShapeValue(_shape)));
            string last = input.Name;
            foreach (var step in steps)
                foreach (var n in Convert(step))
                {
                    _g.Edges.Add((last, n.Name));
                    last = n.Name;
                }
            if (_pendingScale is { } pending)
            {
                var scale = EmitScale(pending);
                _g.Edges.Add((last, scale.Name));
                last = scale.Name;
            }
            var output = Add(new NirNode(Unique("output"), "Output").With("shape", ShapeValue(_shape)));
            _g.Edges.Add((last, output.Name));
            return _g;
        }

        private int[] InferInputShape(Step first) => first.Layer switch
        {
            Linear l => new[] { l.InFeatures },
            LinearLif l => new[] { l.InFeatures },
            Plif p => new[] { p.Features },
            _ => throw new ArgumentException($"NIR export: the input shape cannot be read from the first layer " +
                $"({first.Layer.GetType().Name} at '{Show(first.Path)}'); give it as NirOptions.InputShape (one " +
                "sample without time and batch dims, e.g. [1, 28, 28])", nameof(NirOptions.InputShape)),
        };

        private NirNode Add(NirNode n)
        {
            _g.Nodes.Add(n);
            return n;
        }

        private string Unique(string name)
        {
            if (name.Length == 0) name = "layer";
            string u = name;
            for (int i = 1; !_names.Add(u); i++) u = $"{name}_{i}";
            return u;
        }

        private List<NirNode> Convert(Step step)
        {
            var (path, layer) = (step.Path, step.Layer);
            var emitted = new List<NirNode>();
            bool keepFoldTarget = false;
            // A pending Scale merges into a neuron node right after it; before anything else it becomes a NIR Scale.
            if (_pendingScale is { } ps && !IsNeuron(layer) && layer is not Dropout) emitted.Add(EmitScale(ps));
            switch (layer)
            {
                case Dropout:
                    keepFoldTarget = true;
                    break;
                case Linear l:
                    emitted.Add(Dense(path, l.InFeatures, l.OutFeatures, l.Weight, l.Bias));
                    _foldTarget = emitted[^1];
                    keepFoldTarget = true;
                    break;
                case Conv2d c:
                    emitted.Add(Conv(path, c));
                    _foldTarget = emitted[^1];
                    keepFoldTarget = true;
                    break;
                case BatchNormBase bn:
                    FoldBatchNorm(path, bn);
                    break;
                case Flatten f:
                    emitted.Add(FlattenNode(path, f, step.Folded));
                    break;
                case AvgPool2d a:
                    emitted.Add(Pool(path, "AvgPool2d", a.KernelSize, a.Stride, a.Padding));
                    break;
                case SumPool2d sp:
                    emitted.Add(Pool(path, "SumPool2d", sp.KernelSize, sp.Stride, sp.Padding));
                    break;
                case Scale s:
                    if (!s.SampleShape.SequenceEqual(_shape))
                        throw Mismatch(layer, path, $"a shape of {ShapeUtil.Format(s.SampleShape)}");
                    _pendingScale = (s.Factors.ToArray<float>(), s.Offsets?.ToArray<float>(), path);
                    break;
                case LinearLif ll:
                    emitted.Add(Dense(path + ".linear", ll.InFeatures, ll.OutFeatures, ll.Weight, ll.Bias));
                    emitted.Add(LifNode(path + ".lif", layer, Values(ll.Decay()), Values(ll.Threshold), ll.Options,
                        ll.StateDict().Where(e => e.Key is not ("weight" or "bias")), "Lif"));
                    break;
                case Lif l:
                    emitted.Add(LifNode(path, layer, Values(l.Decay()), Values(l.Threshold), l.Options, l.StateDict(),
                        "Lif"));
                    break;
                case Plif p:
                    if (p.Features != Numel(_shape))
                        throw Mismatch(layer, path, $"{p.Features} features");
                    emitted.Add(LifNode(path, layer, Values(p.Decay()), Values(p.Threshold), p.Options, p.StateDict(),
                        "Plif"));
                    break;
                case If i:
                    emitted.Add(IfNode(path, layer, Values(i.Threshold), i.Options, i.StateDict(), "If"));
                    break;
                case CubaLif cl:
                    emitted.Add(CubaLifNode(path, cl));
                    break;
                case Li li:
                    emitted.Add(LiNode(path, li));
                    break;
                default:
                    throw Unsupported(step) ?? Refuse(layer, path, "NIR has no equivalent node");
            }
            if (!keepFoldTarget) _foldTarget = null;
            return emitted;
        }

        private ArgumentException Mismatch(Module layer, string path, string what) =>
            new($"NIR export: {layer.GetType().Name} at '{Show(path)}' has {what} but receives samples of shape " +
                $"{ShapeUtil.Format(_shape)}");

        private static float[] Values(Tensor t) => t.ToArray<float>();

        private static long Numel(int[] shape) => ShapeUtil.Numel(shape);

        private static NirValue ShapeValue(int[] shape) => NirValue.Vector(shape.Select(d => (long)d).ToArray());

        // ---- stateless layers ----

        private NirNode Dense(string path, int inF, int outF, Tensor weight, Tensor? bias)
        {
            if (_shape.Length != 1 || _shape[0] != inF)
                throw new ArgumentException($"NIR export: the linear layer at '{Show(path)}' maps vectors of {inF} " +
                    $"but receives samples of shape {ShapeUtil.Format(_shape)}; NIR's Affine needs vectors (add a " +
                    "Flatten)");
            var n = new NirNode(Unique(path), bias != null ? "Affine" : "Linear")
                .With("weight", NirValue.Of(weight.ToArray<float>(), outF, inF));
            if (bias != null) n.With("bias", NirValue.Of(bias.ToArray<float>(), outF));
            _shape = new[] { outF };
            return Add(n);
        }

        private NirNode Conv(string path, Conv2d c)
        {
            if (_shape.Length != 3 || _shape[0] != c.InChannels)
                throw new ArgumentException($"NIR export: Conv2d at '{Show(path)}' takes ({c.InChannels}, H, W) " +
                    $"samples but receives {ShapeUtil.Format(_shape)}");
            var (kh, kw) = c.KernelSize;
            int h = _shape[1], w = _shape[2];
            int ho = (h + 2 * c.Padding.H - kh) / c.Stride.H + 1, wo = (w + 2 * c.Padding.W - kw) / c.Stride.W + 1;
            if (ho <= 0 || wo <= 0)
                throw new ArgumentException($"NIR export: Conv2d at '{Show(path)}': its kernel does not fit the " +
                    $"input {ShapeUtil.Format(_shape)}");
            var n = new NirNode(Unique(path), "Conv2d")
                .With("input_shape", NirValue.Vector(h, w))
                .With("weight", NirValue.Of(c.Weight.ToArray<float>(), c.OutChannels, c.InChannels, kh, kw))
                .With("stride", NirValue.Vector(c.Stride.H, c.Stride.W))
                .With("padding", NirValue.Vector(c.Padding.H, c.Padding.W))
                .With("dilation", NirValue.Vector(1, 1))
                .With("groups", NirValue.Scalar(1))
                .With("bias", NirValue.Of(c.Bias?.ToArray<float>() ?? new float[c.OutChannels], c.OutChannels));
            _shape = new[] { c.OutChannels, ho, wo };
            return Add(n);
        }

        private void FoldBatchNorm(string path, BatchNormBase bn)
        {
            var target = _foldTarget ?? throw Refuse(bn, path, "NIR has no batch norm, and it does not follow a " +
                "Conv2d or Linear layer whose weights it could be folded into");
            int channels = target.Fields["weight"].Shape[0];
            bool shapeOk = target.Type == "Conv2d" ? bn is BatchNorm2d : bn is BatchNorm1d && _shape.Length == 1;
            if (!shapeOk || bn.NumFeatures != channels)
                throw Refuse(bn, path, $"it normalises {bn.NumFeatures} features and follows {target.Type} " +
                    $"'{target.Name}' with {channels} outputs; only a BatchNorm2d after a Conv2d or a BatchNorm1d " +
                    "after a Linear of the same width can be folded");
            float[] mean = bn.RunningMean.ToArray<float>(), variance = bn.RunningVar.ToArray<float>();
            float[]? gamma = bn.Weight?.ToArray<float>(), beta = bn.Bias?.ToArray<float>();
            var w = target.Fields["weight"];
            float[] weight = (float[])w.Floats!.Clone();
            float[] bias = target.Fields.TryGetValue("bias", out var b)
                ? (float[])b.Floats!.Clone() : new float[channels];
            int per = weight.Length / channels;
            for (int c = 0; c < channels; c++)
            {
                double s = (gamma?[c] ?? 1.0) / Math.Sqrt(variance[c] + (double)bn.Eps);
                for (int k = 0; k < per; k++) weight[c * per + k] = (float)(weight[c * per + k] * s);
                bias[c] = (float)((bias[c] - mean[c]) * s + (beta?[c] ?? 0.0));
            }
            target.Fields["weight"] = NirValue.Of(weight, w.Shape);
            if (target.Type == "Linear")
            {
                // A bias appears: the node becomes an Affine, whose fields come in that order.
                var affine = new NirNode(target.Name, "Affine").With("weight", target.Fields["weight"])
                    .With("bias", NirValue.Of(bias, channels));
                _g.Nodes[_g.Nodes.IndexOf(target)] = affine;
                _foldTarget = affine;
            }
            else target.Fields["bias"] = NirValue.Of(bias, channels);
        }

        private NirNode FlattenNode(string path, Flatten f, bool folded)
        {
            int offset = folded ? 1 : 2; // the dims before one sample's: (T·B) or (T, B)
            int rank = _shape.Length + offset;
            int start = f.StartDim < 0 ? f.StartDim + rank : f.StartDim;
            int end = f.EndDim < 0 ? f.EndDim + rank : f.EndDim;
            if (start < offset || end < start || end >= rank)
                throw new NotSupportedException($"NIR export: Flatten({f.StartDim}, {f.EndDim}) at '{Show(path)}' " +
                    $"merges dims {start}..{end} of its {rank}-dim input, which are not within one sample's dims " +
                    $"({offset}..{rank - 1}); NIR flattens within a sample");
            int s0 = start - offset, e0 = end - offset;
            var input = _shape;
            _shape = input.Take(s0).Append(input[s0..(e0 + 1)].Aggregate(1, (a, d) => a * d))
                .Concat(input.Skip(e0 + 1)).ToArray();
            return Add(new NirNode(Unique(path), "Flatten")
                .With("input_type", ShapeValue(input))
                .With("start_dim", NirValue.Scalar(s0))
                .With("end_dim", NirValue.Scalar(e0 == input.Length - 1 ? -1 : e0)));
        }

        private NirNode Pool(string path, string type, (int H, int W) k, (int H, int W) s, (int H, int W) p)
        {
            if (_shape.Length != 3)
                throw new ArgumentException($"NIR export: {type} at '{Show(path)}' takes (C, H, W) samples but " +
                    $"receives {ShapeUtil.Format(_shape)}");
            int ho = (_shape[1] + 2 * p.H - k.H) / s.H + 1, wo = (_shape[2] + 2 * p.W - k.W) / s.W + 1;
            _shape = new[] { _shape[0], ho, wo };
            return Add(new NirNode(Unique(path), type)
                .With("kernel_size", NirValue.Vector(k.H, k.W))
                .With("stride", NirValue.Vector(s.H, s.W))
                .With("padding", NirValue.Vector(p.H, p.W)));
        }

        private NirNode EmitScale((float[] Gain, float[]? Offset, string Path) s)
        {
            _pendingScale = null;
            if (s.Offset is { } c && c.Any(v => v != 0f))
                throw new NotSupportedException($"NIR export: Scale at '{Show(s.Path)}' adds an offset, which NIR's " +
                    "Scale cannot hold (only right before a LIF or LI layer, where it becomes v_leak)");
            return Add(new NirNode(Unique(s.Path), "Scale").With("scale", NirValue.Of(s.Gain, _shape)));
        }

        // ---- neurons ----

        // The per-neuron values of a parameter held as 1 (shared) or F (per feature) values.
        private float[] PerNeuron(float[] v, Module layer, string path, string what)
        {
            long n = Numel(_shape);
            if (v.Length == n) return v;
            if (v.Length == 1) return Enumerable.Repeat(v[0], (int)n).ToArray();
            throw Mismatch(layer, path, $"{v.Length} values of {what}");
        }

        // The gain and offset of a Scale right before this neuron (merged into R and v_leak), or (1, 0).
        private (float[] Gain, float[] Offset) TakeInputScale(Module layer, string path, bool offsetAllowed)
        {
            int n = (int)Numel(_shape);
            if (_pendingScale is not { } s) return (Enumerable.Repeat(1f, n).ToArray(), new float[n]);
            _pendingScale = null;
            var offset = s.Offset ?? new float[n];
            if (!offsetAllowed && offset.Any(v => v != 0f))
                throw new NotSupportedException($"NIR export: Scale at '{Show(s.Path)}' adds an offset before " +
                    $"{layer.GetType().Name} at '{Show(path)}', which NIR's {NodeTypeOf(layer)} cannot hold");
            return (s.Gain, offset);
        }

    }
}
