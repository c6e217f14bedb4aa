namespace SpikeSharp.Nn;

/// <summary>
/// Runs its children in order; they are named "0", "1", ... in the state dict. Each layer's output is freed once the
/// next layer has run, unless a recorded op saved it for the backward pass (then once that op's backward has run):
/// a training step keeps what its backward pass needs, not every activation. A layer that wants to keep its output
/// past the call keeps a <see cref="Tensor.Detach"/>ed view or a clone of it.
/// </summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    /// <summary>Creates the chain from <paramref name="layers"/>.</summary>
    public Sequential(params Module[] layers)
    {
        foreach (var l in layers) Add(l);
    }

    /// <summary>Appends a layer; returns this.</summary>
    public Sequential Add(Module layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>Layer <paramref name="index"/>.</summary>
    public Module this[int index] => _layers[index];

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        long mark = Tensor.CreatedCount;
        var input = x;
        foreach (var l in _layers)
        {
            var y = l.Forward(x);
            // Only what this call made: the caller's input and tensors a layer kept from before stay.
            if (!ReferenceEquals(y, x) && !ReferenceEquals(x, input) && x.Id > mark) x.Release();
            x = y;
        }
        return x;
    }
}

/// <summary>
/// Applies stateless (per-time-step independent) layers to a whole sequence at once: a (T, B, ...) input is
/// folded to (T·B, ...), passed through the wrapped layers, and unfolded to (T, B, ...). Batch norm inside
/// therefore normalises over T·B. The wrapped layers are registered as "module" (a <see cref="Sequential"/>
/// when there are several), like SpikingJelly's SeqToANNContainer. Intermediates are freed as in
/// <see cref="Sequential"/>.
/// </summary>
public sealed class MultiStep : Module
{
    private readonly Module _inner;

    /// <summary>Wraps one layer, or several run in order.</summary>
    public MultiStep(params Module[] layers)
    {
        if (layers.Length == 0) throw new ArgumentException("MultiStep: expected at least one layer", nameof(layers));
        _inner = RegisterModule("module", layers.Length == 1 ? layers[0] : new Sequential(layers));
    }

    /// <summary>The wrapped layer (a <see cref="Sequential"/> for several).</summary>
    public Module Inner => _inner;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 2)
            throw new ArgumentException(
                $"MultiStep: expected a (T, B, ...) input, got {ShapeUtil.Format(x.Shape)}", nameof(x));
        int t = x.Size(0), b = x.Size(1);
        long mark = Tensor.CreatedCount;
        var folded = x.Flatten(0, 1);
        var y = _inner.Forward(folded);
        if (!ReferenceEquals(y, folded)) folded.Release();
        if (y.Rank < 1 || y.Size(0) != t * b)
            throw new InvalidOperationException($"MultiStep: the wrapped layer returned {ShapeUtil.Format(y.Shape)}, "
                + $"expected a leading dim of T·B = {t * b}");
        var unfolded = y.Reshape(new[] { t, b }.Concat(y.Shape.Skip(1)).ToArray());
        if (y.Id > mark) y.Release();
        return unfolded;
    }

    /// <summary>Folds (T, B, ...) to (T·B, ...) (a free view with autograd).</summary>
    public static Tensor Fold(Tensor x) => x.Flatten(0, 1);

    /// <summary>Unfolds (T·B, ...) to (T, B, ...).</summary>
    public static Tensor Unfold(Tensor x, int t) =>
        x.Reshape(new[] { t, x.Size(0) / t }.Concat(x.Shape.Skip(1)).ToArray());
}
