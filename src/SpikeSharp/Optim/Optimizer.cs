using SpikeSharp.Autograd;
using SpikeSharp.Backends;

namespace SpikeSharp.Optim;

/// <summary>
/// An optimiser's checkpointable state: named tensors (moment buffers) and scalars (step counts, lr).
/// </summary>
public sealed class OptimizerState
{
    /// <summary>"{parameter}.{slot}" → tensor, e.g. "fc.weight.exp_avg".</summary>
    public OrderedDictionary<string, Tensor> Tensors { get; } = new();

    /// <summary>"lr", "step" and "{parameter}.step" → value.</summary>
    public OrderedDictionary<string, double> Scalars { get; } = new();
}

/// <summary>
/// Base of the optimisers: holds named parameters, a learning rate that schedules change, lazily created
/// per-parameter state tensors and per-parameter step counts (host integers, so no step reads the device).
/// Updates are applied in place with backend kernels; parameters without a gradient are skipped.
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly List<(string Name, Tensor Param)> _params;
    private readonly Dictionary<string, Tensor> _state = new();
    private readonly long[] _steps;

    /// <summary>Optimises named parameters (e.g. <c>model.NamedParameters()</c>; names key the state dict).</summary>
    protected Optimizer(IEnumerable<(string Name, Tensor Param)> parameters, float lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(lr >= 0f))
            throw new ArgumentOutOfRangeException(nameof(lr), $"optimizer: lr must be non-negative, got {lr}");
        _params = parameters.ToList();
        if (_params.Count == 0)
            throw new ArgumentException("optimizer: got an empty parameter list", nameof(parameters));
        var dup = _params.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null)
            throw new ArgumentException($"optimizer: parameter name '{dup.Key}' appears twice", nameof(parameters));
        foreach (var (n, p) in _params)
            if (!p.RequiresGrad || !p.IsLeaf)
                throw new ArgumentException(
                    $"optimizer: parameter '{n}' must be a leaf with RequiresGrad = true", nameof(parameters));
        _steps = new long[_params.Count];
        Lr = lr;
    }

    /// <summary>Optimises unnamed parameters (named "0", "1", ... in the state dict).</summary>
    protected Optimizer(IEnumerable<Tensor> parameters, float lr)
        : this(parameters.Select((p, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), p)), lr) { }

    /// <summary>Learning rate of the next step (schedulers set it).</summary>
    public float Lr { get; set; }

    /// <summary>Number of <see cref="Step"/> calls so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>The optimised parameters with their names.</summary>
    public IReadOnlyList<(string Name, Tensor Param)> Parameters => _params;

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    /// <exception cref="InvalidOperationException">A gradient whose shape or device is not its parameter's.
    /// Nothing is updated then.</exception>
    public void Step()
    {
        using var _ = Tape.NoGrad();
        var updates = new List<ParameterUpdate>(_params.Count);
        for (int i = 0; i < _params.Count; i++)
        {
            var (name, p) = _params[i];
            if (p.Grad == null || p.Grad.IsDisposed) continue;
            if (!p.Grad.Shape.AsSpan().SequenceEqual(p.Shape))
                throw new InvalidOperationException($"optimizer: gradient of '{name}' has shape "
                    + $"{ShapeUtil.Format(p.Grad.Shape)}, the parameter {ShapeUtil.Format(p.Shape)}");
            if (p.Grad.Device != p.Device)
                throw new InvalidOperationException($"optimizer: gradient of '{name}' is on {p.Grad.Device}, "
                    + $"the parameter on {p.Device}; move the module with Module.To, which moves both");
            updates.Add(new ParameterUpdate(name, p, p.Grad, _steps[i] + 1));
        }
        // Counted after validation, so a failed step changes nothing.
        for (int i = 0; i < _params.Count; i++)
            if (_params[i].Param.Grad is { IsDisposed: false }) _steps[i]++;
        if (updates.Count > 0) Update(updates);
        StepCount++;
    }

    /// <summary>One parameter's share of a <see cref="Step"/>: <see cref="Step"/> counts its updates from 1.
    /// </summary>
    protected readonly record struct ParameterUpdate(string Name, Tensor Param, Tensor Grad, long Step);

    /// <summary>
    /// Updates every parameter of one <see cref="Step"/> in place. The default calls the per-parameter
    /// <see cref="Update(string, Tensor, Tensor, long)"/>; the built-in optimisers override it with one multi-tensor
    /// kernel pass (<see cref="IOptimizerKernels"/>).
    /// </summary>
    protected virtual void Update(IReadOnlyList<ParameterUpdate> updates)
    {
        foreach (var u in updates) Update(u.Name, u.Param, u.Grad, u.Step);
    }

    /// <summary>
    /// Updates parameter <paramref name="p"/> in place; <paramref name="step"/> counts its updates from 1.
    /// </summary>
    protected abstract void Update(string name, Tensor p, Tensor grad, long step);

    /// <summary>
    /// Runs the rule <paramref name="ruleFor"/> makes over <paramref name="updates"/> with the backends' fused
    /// multi-tensor kernels: one call per device and step count (parameters that joined later have their own bias
    /// corrections). <paramref name="first"/> and <paramref name="second"/> name the state slots the
    /// rule keeps (null: none).
    /// </summary>
    private protected void FusedUpdate<TStep>(IReadOnlyList<ParameterUpdate> updates, Func<long, TStep> ruleFor,
        string? first, string? second, string op) where TStep : struct, IFusedStep
    {
        foreach (var group in updates.GroupBy(u => (u.Param.Backend, u.Step)))
        {
            var slots = new List<ParamSlot>();
            foreach (var u in group)
            {
                var m = first != null ? State(u.Name, u.Param, first).Buf : default;
                var v = second != null ? State(u.Name, u.Param, second).Buf : default;
                slots.Add(new ParamSlot(u.Param.Buf, u.Grad.Buf, m, v));
                u.Param.DropBf16Exact();
            }
            var kernels = group.Key.Backend.Require<IOptimizerKernels>(op);
            kernels.Step(ruleFor(group.Key.Step), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(slots));
        }
    }

    /// <summary>Zeroes (or frees) every parameter's gradient.</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var (_, p) in _params)
        {
            if (p.Grad == null) continue;
            if (setToNone || p.Grad.IsDisposed) { p.Grad.Dispose(); p.Grad = null; }
            else p.Grad.ZeroInPlace();
        }
    }

    /// <summary>
    /// The state slot <paramref name="slot"/> of a parameter, created as zeros on first use and kept on the
    /// parameter's device (moved along after <see cref="Nn.Module.To"/>).
    /// </summary>
    protected Tensor State(string name, Tensor p, string slot)
    {
        var key = name + "." + slot;
        if (!_state.TryGetValue(key, out var t))
        {
            t = Tensor.Zeros(p.Shape, p.Device).Persist();
            t.Name = key;
            _state[key] = t;
        }
        else if (t.Device != p.Device) t.MoveDataTo(p.Device);
        return t;
    }

    /// <summary>Live state tensors (do not dispose them) and scalars, for checkpoints.</summary>
    public OptimizerState StateDict()
    {
        var s = new OptimizerState();
        foreach (var kv in _state.OrderBy(kv => kv.Key, StringComparer.Ordinal)) s.Tensors[kv.Key] = kv.Value;
        s.Scalars["lr"] = Lr;
        s.Scalars["step"] = StepCount;
        for (int i = 0; i < _params.Count; i++) s.Scalars[_params[i].Name + ".step"] = _steps[i];
        return s;
    }

    /// <summary>
    /// Restores a state saved by <see cref="StateDict"/> from an optimiser over parameters with the same names and
    /// shapes. Validates everything before changing anything.
    /// </summary>
    /// <exception cref="ArgumentException">A state naming no parameter, a shape or dtype mismatch.</exception>
    public void LoadStateDict(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var byName = new Dictionary<string, (Tensor Param, int Index)>();
        for (int i = 0; i < _params.Count; i++) byName[_params[i].Name] = (_params[i].Param, i);
        var plan = new List<(Tensor Src, string Name, Tensor P, string Slot)>();
        foreach (var (key, src) in state.Tensors)
        {
            int dot = key.LastIndexOf('.');
            string name = dot > 0 ? key[..dot] : "", slot = dot > 0 ? key[(dot + 1)..] : key;
            if (!byName.TryGetValue(name, out var entry))
                throw new ArgumentException(
                    $"optimizer LoadStateDict: state '{key}' names no parameter of this optimizer "
                    + $"(has: {string.Join(", ", byName.Keys)})",
                    nameof(state));
            if (!src.Shape.AsSpan().SequenceEqual(entry.Param.Shape))
                throw new ArgumentException(
                    $"optimizer LoadStateDict: shape mismatch for '{key}': the parameter has "
                    + $"{ShapeUtil.Format(entry.Param.Shape)}, the state has {ShapeUtil.Format(src.Shape)}",
                    nameof(state));
            if (src.DType != DType.Float32)
                throw new ArgumentException(
                    $"optimizer LoadStateDict: '{key}' must be float32, got {src.DType.Name()}", nameof(state));
            plan.Add((src, name, entry.Param, slot));
        }
        using var _ = Tape.NoGrad();
        foreach (var (src, name, p, slot) in plan)
        {
            var dst = State(name, p, slot);
            if (!ReferenceEquals(dst, src)) dst.CopyFrom(src);
        }
        if (state.Scalars.TryGetValue("lr", out var lr)) Lr = (float)lr;
        if (state.Scalars.TryGetValue("step", out var st)) StepCount = (long)st;
        foreach (var (name, (_, i)) in byName)
            if (state.Scalars.TryGetValue(name + ".step", out var ps)) _steps[i] = (long)ps;
    }

    /// <summary>Frees the state tensors (not the parameters).</summary>
    public void Dispose()
    {
        foreach (var t in _state.Values) t.Dispose();
        _state.Clear();
        GC.SuppressFinalize(this);
    }
}
