namespace SpikeSharp.Autograd;

/// <summary>
/// Per-call state of a <see cref="Function"/>: the tensors saved for the backward pass, which outputs are not
/// differentiable, which inputs need a gradient, and small non-tensor values.
/// </summary>
public sealed class FunctionContext
{
    private readonly string _name;
    private Tensor[] _saved = Array.Empty<Tensor>();
    private readonly HashSet<Tensor> _nonDiff = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, object?> _values = new();

    internal FunctionContext(string name, bool[] needsInputGrad)
    {
        _name = name;
        NeedsInputGrad = needsInputGrad;
    }

    /// <summary>
    /// For each input, whether the backward pass must produce its gradient (it requires grad and recording is on).
    /// </summary>
    public IReadOnlyList<bool> NeedsInputGrad { get; }

    /// <summary>
    /// Keeps tensors for <see cref="Function.Backward"/> (inputs, outputs or intermediates): they stay alive until the
    /// backward pass has run even where the library frees the call's inputs early (the tensors a layer hands to the
    /// next inside <see cref="Nn.Sequential"/>). The context does not own them: intermediates made in Forward are
    /// freed with the enclosing <see cref="TensorScope"/> like any other.
    /// </summary>
    public void SaveForBackward(params Tensor[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        for (int i = 0; i < tensors.Length; i++)
            if (tensors[i] == null) throw new ArgumentNullException(nameof(tensors), $"{_name}: SaveForBackward: "
                + $"tensor {i} is null");
        _saved = (Tensor[])tensors.Clone();
    }

    /// <summary>The tensors given to <see cref="SaveForBackward"/>, in order.</summary>
    /// <exception cref="InvalidOperationException">A saved tensor was disposed before the backward pass.</exception>
    public IReadOnlyList<Tensor> SavedTensors
    {
        get
        {
            for (int i = 0; i < _saved.Length; i++)
                if (_saved[i].IsDisposed)
                    throw new InvalidOperationException($"{_name}: saved "
                        + $"tensor {i} {ShapeUtil.Format(_saved[i].Dims)} was disposed before the backward pass; "
                        + "keep it alive (e.g. do not dispose it inside the training step's "
                        + "scope before Backward)");
            return _saved;
        }
    }

    /// <summary>What the backward pass may read: the saved tensors and any tensor stored with <see cref="Set"/>.
    /// </summary>
    internal Saves Pinned => Saves.Of(_saved.Concat(_values.Values.OfType<Tensor>()).ToArray());

    /// <summary>
    /// Marks outputs that carry no gradient (indices, masks, monitoring traces): they do not require grad.
    /// </summary>
    public void MarkNonDifferentiable(params Tensor[] outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        foreach (var t in outputs) _nonDiff.Add(t ?? throw new ArgumentNullException(nameof(outputs)));
    }

    internal bool IsNonDifferentiable(Tensor t) => _nonDiff.Contains(t);

    /// <summary>Stores a non-tensor value (a size, a flag, a host constant) for the backward pass.</summary>
    public void Set(string key, object? value) => _values[key] = value;

    /// <summary>Reads a value stored with <see cref="Set"/>.</summary>
    /// <exception cref="KeyNotFoundException">Nothing was stored under <paramref name="key"/>.</exception>
    public T Get<T>(string key) => _values.TryGetValue(key, out var v)
        ? (T)v!
        : throw new KeyNotFoundException($"{_name}: no value '{key}' was stored in the context; stored: "
            + $"[{string.Join(", ", _values.Keys)}]");
}

/// <summary>
/// A custom differentiable operation with a hand-written backward pass (fused kernels, surrogate spikes).
/// Subclass it, implement <see cref="Forward"/> and <see cref="Backward"/>, and call <see cref="Apply"/>:
/// the forward runs without recording its inner ops, and the whole call becomes one node on the tape.
/// </summary>
/// <example><code>
/// sealed class ScaledTanh : Function
/// {
///     public override Tensor[] Forward(FunctionContext ctx, Tensor[] x)
///     {
///         var y = x[0].Tanh();
///         ctx.SaveForBackward(y);
///         return new[] { y };
///     }
///     public override Tensor?[] Backward(FunctionContext ctx, Tensor?[] g)
///     {
///         var y = ctx.SavedTensors[0];
///         return new[] { g[0]! * (1f - y * y) };
///     }
/// }
/// var y = new ScaledTanh().ApplyOne(x);
/// </code></example>
public abstract class Function
{
    /// <summary>The name shown in errors and as the output's grad_fn (the type name by default).</summary>
    public virtual string Name => GetType().Name;

    /// <summary>
    /// Computes the outputs. Runs with recording off; must not return one of its inputs (return a clone) and
    /// must not dispose its inputs.
    /// </summary>
    public abstract Tensor[] Forward(FunctionContext ctx, Tensor[] inputs);

    /// <summary>
    /// Gradients of the inputs (one entry per input; null for none) from the gradients of the outputs
    /// (null for an output that received no gradient or is not differentiable). Runs with recording off.
    /// Each gradient must have its input's shape.
    /// </summary>
    public abstract Tensor?[] Backward(FunctionContext ctx, Tensor?[] gradOutputs);

    /// <summary>Runs <see cref="Forward"/> and records the call on the tape when an input requires grad.</summary>
    /// <exception cref="InvalidOperationException">Forward returned no output, a null, or one of its
    /// inputs.</exception>
    public Tensor[] Apply(params Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] == null) throw new ArgumentNullException(nameof(inputs), $"{Name}: input {i} is null");
        var needs = inputs.Select(t => Tape.IsEnabled && t.RequiresGrad).ToArray();
        var ctx = new FunctionContext(Name, needs);
        Tensor[] outputs;
        using (Tape.NoGrad()) outputs = Forward(ctx, (Tensor[])inputs.Clone());
        CheckOutputs(outputs, inputs);
        if (!needs.Any(x => x)) return outputs;

        var diffIndex = Enumerable.Range(0, outputs.Length)
            .Where(i => outputs[i].DType == DType.Float32 && !ctx.IsNonDifferentiable(outputs[i])).ToArray();
        if (diffIndex.Length == 0) return outputs;
        int nIn = inputs.Length, nOut = outputs.Length;
        Tape.Record(Name, diffIndex.Select(i => outputs[i]).ToArray(), inputs, ctx.Pinned, g =>
        {
            var full = new Tensor?[nOut];
            for (int j = 0; j < diffIndex.Length; j++) full[diffIndex[j]] = g[j];
            var grads = Backward(ctx, full)
                ?? throw new InvalidOperationException($"{Name}: Backward returned null; return one gradient "
                    + "(or null) per input");
            if (grads.Length != nIn)
                throw new InvalidOperationException($"{Name}: Backward returned {grads.Length} gradient(s) "
                    + $"for {nIn} input(s)");
            for (int i = 0; i < nIn; i++) if (!needs[i]) grads[i] = null;
            return grads;
        });
        return outputs;
    }

    /// <summary><see cref="Apply"/> for a function with exactly one output.</summary>
    public Tensor ApplyOne(params Tensor[] inputs)
    {
        var r = Apply(inputs);
        if (r.Length != 1) throw new InvalidOperationException($"{Name}: ApplyOne expects one output, Forward "
            + $"returned {r.Length}; use Apply");
        return r[0];
    }

    private void CheckOutputs(Tensor[]? outputs, Tensor[] inputs)
    {
        if (outputs == null || outputs.Length == 0)
            throw new InvalidOperationException($"{Name}: Forward must return at least one output");
        for (int i = 0; i < outputs.Length; i++)
        {
            if (outputs[i] == null) throw new InvalidOperationException($"{Name}: Forward returned "
                + $"null for output {i}");
            if (inputs.Any(x => ReferenceEquals(x, outputs[i])))
                throw new InvalidOperationException($"{Name}: output {i} is one of the inputs; return input.Clone() "
                    + "(or a Detach() view) instead");
        }
    }
}
