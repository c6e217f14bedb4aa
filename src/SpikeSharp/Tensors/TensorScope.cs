namespace SpikeSharp;

/// <summary>
/// Frees every tensor created on this thread while the scope is open, except persistent ones
/// (parameters, gradients, module state) and those moved out. One scope per training step keeps
/// GPU memory flat: <c>using var scope = TensorScope.Begin();</c>.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    private readonly TensorScope? _parent;
    private readonly HashSet<Tensor> _owned = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    private TensorScope(TensorScope? parent) => _parent = parent;

    /// <summary>Opens a scope nested in the current one.</summary>
    public static TensorScope Begin() => _current = new TensorScope(_current);

    /// <summary>Number of tensors the scope would free now.</summary>
    public int Count => _owned.Count;

    internal static void Track(Tensor t) => _current?._owned.Add(t);

    /// <summary>
    /// Removes <paramref name="t"/> from every open scope of this thread without making it persistent: its owner
    /// frees it (as a data loader frees each batch when the next one is taken).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="t"/> is null.</exception>
    public static void Untrack(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        for (var s = _current; s != null; s = s._parent) s._owned.Remove(t);
    }

    internal static void MoveOut(Tensor t)
    {
        for (var s = _current; s != null; s = s._parent)
            if (s._owned.Remove(t)) { s._parent?._owned.Add(t); return; }
    }

    /// <summary>Frees what the scope owns and makes its parent current.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current == this) _current = _parent;
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
