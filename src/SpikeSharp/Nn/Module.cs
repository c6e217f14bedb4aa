using SpikeSharp.Autograd;

namespace SpikeSharp.Nn;

/// <summary>
/// Base of every layer and network: owns parameters (persistent float32 leaves with
/// <see cref="Tensor.RequiresGrad"/>), buffers (running statistics, persistent or not) and child
/// modules, each under a name; the dotted path of a tensor in the tree ("features.0.weight") is its
/// key in <see cref="StateDict"/>. Derived classes register in their constructor and read their
/// tensors back by name (<see cref="Param"/>, <see cref="Buffer"/>), so that replacing one (e.g. by
/// <see cref="SetBuffer"/>) is seen by the layer.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<string> _paramNames = new();
    private readonly Dictionary<string, Tensor> _params = new();
    private readonly List<string> _bufferNames = new();
    private readonly Dictionary<string, (Tensor? Tensor, bool Persistent)> _buffers = new();
    private readonly List<string> _moduleNames = new();
    private readonly Dictionary<string, Module> _modules = new();

    /// <summary>True in training mode (the default); see <see cref="Train"/> and <see cref="Eval"/>.</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>Computes the module's output.</summary>
    public abstract Tensor Forward(Tensor x);

    /// <summary>Same as <see cref="Forward"/>.</summary>
    public Tensor Call(Tensor x) => Forward(x);

    // ---- registration ----

    /// <summary>
    /// Registers <paramref name="tensor"/> as a parameter under <paramref name="name"/>: it is made persistent
    /// (scopes do not free it), set to require gradients, and named. Returns it.
    /// </summary>
    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        CheckName(name, nameof(name));
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.DType != DType.Float32)
            throw new ArgumentException(
                $"RegisterParameter('{name}'): parameters must be float32, got {tensor.DType.Name()}", nameof(tensor));
        if (!tensor.IsLeaf) tensor = tensor.Detach();
        tensor.Persist();
        tensor.RequiresGrad = true;
        tensor.Name = name;
        if (!_params.ContainsKey(name)) _paramNames.Add(name);
        else if (!ReferenceEquals(_params[name], tensor)) _params[name].Dispose();
        _params[name] = tensor;
        return tensor;
    }

    /// <summary>
    /// Registers a buffer: state that is not trained (running mean, membrane potential). Persistent buffers go
    /// into <see cref="StateDict"/>; non-persistent ones (per-sequence state) do not. A null buffer is a slot to
    /// be filled later with <see cref="SetBuffer"/>.
    /// </summary>
    protected Tensor? RegisterBuffer(string name, Tensor? tensor, bool persistent = true)
    {
        CheckName(name, nameof(name));
        if (_buffers.ContainsKey(name))
            throw new ArgumentException(
                $"RegisterBuffer: a buffer named '{name}' already exists in {GetType().Name}", nameof(name));
        _bufferNames.Add(name);
        _buffers[name] = (null, persistent);
        SetBuffer(name, tensor);
        return tensor;
    }

    /// <summary>Replaces a registered buffer's tensor (the old one is disposed unless it is the same).</summary>
    protected void SetBuffer(string name, Tensor? tensor)
    {
        if (!_buffers.TryGetValue(name, out var slot))
            throw new ArgumentException(
                $"SetBuffer: {GetType().Name} has no buffer '{name}'; register it first", nameof(name));
        if (slot.Tensor != null && !ReferenceEquals(slot.Tensor, tensor)) slot.Tensor.Dispose();
        if (tensor != null)
        {
            if (tensor.RequiresGrad || !tensor.IsLeaf) tensor = tensor.Detach();
            tensor.DropBf16Exact(); // buffers are loaded and updated in place
            tensor.Persist();
            tensor.Name = name;
        }
        _buffers[name] = (tensor, slot.Persistent);
    }

    /// <summary>Registers a child module under <paramref name="name"/>; returns it.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name, nameof(name));
        ArgumentNullException.ThrowIfNull(module);
        if (ReferenceEquals(module, this))
            throw new ArgumentException("RegisterModule: a module cannot contain itself", nameof(module));
        if (!_modules.ContainsKey(name)) _moduleNames.Add(name);
        _modules[name] = module;
        module.Train(IsTraining);
        return module;
    }

    private static void CheckName(string name, string param)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"name must be non-empty and contain no '.', got '{name}'", param);
    }

    /// <summary>The parameter registered as <paramref name="name"/> on this module.</summary>
    protected Tensor Param(string name) => _params.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException(
            $"{GetType().Name} has no parameter '{name}' (has: {string.Join(", ", _paramNames)})");

    /// <summary>The parameter registered as <paramref name="name"/>, or null.</summary>
    protected Tensor? TryParam(string name) => _params.TryGetValue(name, out var t) ? t : null;

    /// <summary>The buffer registered as <paramref name="name"/> (null when the slot is empty).</summary>
    protected Tensor? Buffer(string name) => _buffers.TryGetValue(name, out var b) ? b.Tensor
        : throw new KeyNotFoundException(
            $"{GetType().Name} has no buffer '{name}' (has: {string.Join(", ", _bufferNames)})");

    // ---- traversal ----

    /// <summary>Direct children with their names, in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _moduleNames.Select(n => (n, _modules[n]));

    /// <summary>This module ("") and every descendant with dotted names, depth first.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (n, m) in NamedChildren())
            foreach (var x in m.NamedModules(Join(prefix, n))) yield return x;
    }

    /// <summary>Every parameter with its dotted name ("features.0.weight"), in registration order.</summary>
    public IEnumerable<(string Name, Tensor Param)> NamedParameters()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var n in m._paramNames)
                if (seen.Add(m._params[n])) yield return (Join(prefix, n), m._params[n]);
    }

    /// <summary>Every parameter (shared ones once).</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Param);

    /// <summary>Every non-empty buffer with its dotted name; persistent ones only unless asked.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(bool includeNonPersistent = false)
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var n in m._bufferNames)
            {
                var (t, persistent) = m._buffers[n];
                if (t != null && (persistent || includeNonPersistent)) yield return (Join(prefix, n), t);
            }
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    // ---- modes and gradients ----

    /// <summary>Sets training mode on this module and every descendant; returns this.</summary>
    public Module Train(bool mode = true)
    {
        IsTraining = mode;
        foreach (var m in _modules.Values) m.Train(mode);
        return this;
    }

    /// <summary>Evaluation mode (dropout off, batch norm uses running statistics); returns this.</summary>
    public Module Eval() => Train(false);

    /// <summary>
    /// Zeroes every parameter's gradient in place (no allocation); with <paramref name="setToNone"/> the
    /// gradients are disposed and set to null instead.
    /// </summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Parameters())
        {
            if (p.Grad == null) continue;
            if (setToNone || p.Grad.IsDisposed) { p.Grad.Dispose(); p.Grad = null; }
            else p.Grad.ZeroInPlace();
        }
    }

    /// <summary>Clears per-sequence state (membrane potentials) of this module and every descendant.</summary>
    public void ResetState()
    {
        foreach (var (_, m) in NamedModules()) m.ResetOwnState();
    }

    /// <summary>Override to clear this module's own per-sequence state; called by <see cref="ResetState"/>.</summary>
    protected virtual void ResetOwnState() { }

    // ---- state ----

    /// <summary>
    /// Parameters then persistent buffers of every module, in tree order, under dotted names. The values are
    /// the live tensors (not copies): do not dispose them.
    /// </summary>
    public OrderedDictionary<string, Tensor> StateDict()
    {
        var d = new OrderedDictionary<string, Tensor>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var n in m._paramNames) d.TryAdd(Join(prefix, n), m._params[n]);
            foreach (var n in m._bufferNames)
                if (m._buffers[n] is { Tensor: { } t, Persistent: true }) d.TryAdd(Join(prefix, n), t);
        }
        return d;
    }

    /// <summary>
    /// Copies <paramref name="state"/> into this module's parameters and buffers, in place (optimisers keep
    /// their references). Everything is validated before anything is written: shapes must match exactly;
    /// with <paramref name="strict"/> the key sets must match too. Values on another device or in float16
    /// are converted. Entries of an older layout of a layer (<see cref="StateUpgrades"/>, e.g. a decay saved as its
    /// value where the layer now learns its logit) are converted first.
    /// </summary>
    /// <exception cref="ArgumentException">Missing or unexpected keys (strict), or a shape mismatch.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var created = new List<Tensor>();
        try { LoadUpgraded(Upgrade(state, created), strict); }
        finally { foreach (var t in created) t.Dispose(); }
    }

    /// <summary>
    /// One entry of an older layout of a module's own state: a state that has <paramref name="From"/> and lacks
    /// <paramref name="To"/> is loaded into <paramref name="To"/> with its values mapped by <paramref name="Convert"/>
    /// (same shape). Names are the module's own (no dotted prefix).
    /// </summary>
    protected sealed record StateUpgrade(string From, string To, Func<float[], float[]> Convert);

    /// <summary>The older layouts of this module's own entries that <see cref="LoadStateDict"/> still accepts (none by
    /// default; layers override it when they rename or re-parametrise a parameter).</summary>
    protected virtual IEnumerable<StateUpgrade> StateUpgrades() => Array.Empty<StateUpgrade>();

    /// <summary>
    /// The dotted keys of older layouts that <see cref="LoadStateDict"/> accepts in this tree, each with the key it is
    /// loaded into. An optimiser's state saved under a From key belongs to the old parametrisation: drop it (the
    /// parameter then starts with fresh optimiser statistics).
    /// </summary>
    public IReadOnlyList<(string From, string To)> LegacyStateKeys() => NamedModules()
        .SelectMany(m => m.Module.StateUpgrades().Select(u => (Join(m.Name, u.From), Join(m.Name, u.To)))).ToList();

    private IReadOnlyDictionary<string, Tensor> Upgrade(IReadOnlyDictionary<string, Tensor> state, List<Tensor> created)
    {
        Dictionary<string, Tensor>? copy = null;
        foreach (var (prefix, m) in NamedModules())
            foreach (var u in m.StateUpgrades())
            {
                string from = Join(prefix, u.From), to = Join(prefix, u.To);
                if (!state.TryGetValue(from, out var src) || state.ContainsKey(to)) continue;
                if (src == null || src.IsDisposed)
                    throw new ArgumentException($"LoadStateDict: value for '{from}' is null or disposed",
                        nameof(state));
                float[] values = src.DType switch
                {
                    DType.Float32 => src.ToArray<float>(),
                    DType.Float16 => src.ToArray<Half>().Select(h => (float)h).ToArray(),
                    _ => throw new ArgumentException($"LoadStateDict: '{from}' (an older layout of '{to}') must be "
                        + $"float32 or float16, got {src.DType.Name()}", nameof(state)),
                };
                float[] mapped;
                try { mapped = u.Convert(values); }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"LoadStateDict: '{from}' cannot be loaded into '{to}': {e.Message}",
                        nameof(state), e);
                }
                var t = Tensor.FromArray(mapped, src.Shape, Device.Cpu);
                created.Add(t);
                copy ??= new Dictionary<string, Tensor>(state);
                copy.Remove(from);
                copy[to] = t;
            }
        return copy ?? state;
    }

    private void LoadUpgraded(IReadOnlyDictionary<string, Tensor> state, bool strict)
    {
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new ArgumentException(
                    "LoadStateDict: key mismatch"
                    + (missing.Count > 0 ? $"; missing keys: {string.Join(", ", missing)}" : "")
                    + (unexpected.Count > 0 ? $"; unexpected keys: {string.Join(", ", unexpected)}" : ""),
                    nameof(state));
        }
        foreach (var (k, dst) in own)
        {
            if (!state.TryGetValue(k, out var src)) continue;
            if (src == null || src.IsDisposed)
                throw new ArgumentException($"LoadStateDict: value for '{k}' is null or disposed", nameof(state));
            if (!src.Shape.AsSpan().SequenceEqual(dst.Shape))
                throw new ArgumentException(
                    $"LoadStateDict: shape mismatch for '{k}': the module has {ShapeUtil.Format(dst.Shape)}, "
                    + $"the state has {ShapeUtil.Format(src.Shape)}",
                    nameof(state));
            if (src.DType != dst.DType
                && !(src.DType == DType.Float16 && dst.DType == DType.Float32)
                && !(src.DType == DType.Float32 && dst.DType == DType.Float16))
                throw new ArgumentException(
                    $"LoadStateDict: dtype mismatch for '{k}': the module has {dst.DType.Name()}, "
                    + $"the state has {src.DType.Name()}",
                    nameof(state));
        }
        using var _ = Tape.NoGrad();
        foreach (var (k, dst) in own)
        {
            if (!state.TryGetValue(k, out var src) || ReferenceEquals(src, dst)) continue;
            dst.CopyFrom(src);
        }
    }

    /// <summary>
    /// Moves every parameter, gradient and buffer to <paramref name="device"/> in place: the tensor objects stay
    /// the same (only their memory moves), so an optimiser built before the move keeps updating the module's
    /// parameters, and its state follows on its next step. Returns this.
    /// </summary>
    public Module To(Device device)
    {
        using var _ = Tape.NoGrad();
        foreach (var (_, m) in NamedModules()) m.MoveOwn(device);
        return this;
    }

    private void MoveOwn(Device device)
    {
        foreach (var n in _paramNames)
        {
            var p = _params[n];
            p.MoveDataTo(device);
            if (p.Grad is { IsDisposed: false } g) g.MoveDataTo(device);
        }
        foreach (var n in _bufferNames) _buffers[n].Tensor?.MoveDataTo(device);
    }

    /// <summary>Frees parameters, gradients, buffers and children.</summary>
    public virtual void Dispose()
    {
        foreach (var p in _params.Values) { p.Grad?.Dispose(); p.Grad = null; p.Dispose(); }
        foreach (var b in _buffers.Values) b.Tensor?.Dispose();
        foreach (var m in _modules.Values) m.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>A one-line summary used by <see cref="ToString"/>; override to show hyper-parameters.</summary>
    protected virtual string ExtraRepr() => "";

    /// <inheritdoc/>
    public override string ToString()
    {
        var head = $"{GetType().Name}({ExtraRepr()})";
        if (_moduleNames.Count == 0) return head;
        var sb = new System.Text.StringBuilder(GetType().Name).Append("(\n");
        foreach (var n in _moduleNames)
            sb.Append("  (").Append(n).Append("): ").Append(_modules[n].ToString().Replace("\n", "\n  ")).Append('\n');
        return sb.Append(')').ToString();
    }
}
