using SpikeSharp.Autograd;
using SpikeSharp.Backends;

namespace SpikeSharp.Neurons;

/// <summary>What a neuron model returns: the output sequence and the final state, one tensor per state value.</summary>
/// <param name="Output">(T, ...) spikes (0/1) or, for a readout, the membrane after each step.</param>
/// <param name="State">The state after the last step, in the model's order (state 0 is the membrane), each shaped
/// like x's trailing dims.</param>
public sealed record NeuronModelResult(Tensor Output, Tensor[] State);

/// <summary>
/// Runs any <see cref="INeuronModel"/> over time with exact BPTT: one fused walk per direction on every backend,
/// generic over the model and the surrogate. The models with tuned kernels of their own (LIF, PLIF, IF, ALIF in
/// <see cref="SpikingFunctions"/>) keep those; this path serves every other model (CubaLIF, LI, user models).
/// </summary>
/// <remarks>
/// Memory kept for the backward pass: the state before each step, 4·K bytes per neuron-step for a model with K
/// state values, plus a reference to x (not a copy). Parameters are float32 tensors of 1 element (shared) or F
/// elements (per feature, N % F == 0, neuron n using element n % F); gradients reach every input, initial
/// state and parameter. The surrogate's α is fixed (<see cref="SpikingOptions.Alpha"/>).
/// </remarks>
public static class NeuronModels
{
    /// <summary>
    /// Runs model <typeparamref name="TM"/> with surrogate <typeparamref name="TS"/>.
    /// </summary>
    /// <param name="x">(T, ...) input, float32.</param>
    /// <param name="state0">
    /// The initial state in the model's order (null or a null entry: zeros), each with N elements.
    /// </param>
    /// <param name="parameters">The model's parameters in the order of <see cref="INeuronModel.Parameters"/>.</param>
    /// <param name="options">Reset rule, v_reset, detach, α; the surrogate kind there is ignored (TS is used).</param>
    public static NeuronModelResult Run<TM, TS>(Tensor x, IReadOnlyList<Tensor?>? state0,
        IReadOnlyList<Tensor> parameters, SpikingOptions? options = null)
        where TM : struct, INeuronModel where TS : struct, ISurrogate
    {
        var o = options ?? SpikingOptions.Default;
        string op = TM.Name;
        int K = TM.StateSize, P = TM.Parameters.Length;
        var (T, N, F) = Validate(op, x, state0, parameters, o, K, TM.Parameters);
        var dev = x.Device;
        var driver = x.Backend.Require<INeuronModelDriver>(op);
        var stateShape = x.Shape[1..];

        Tensor? s0 = PackState(state0, K, N, dev);
        Tensor prm = PackParams(parameters, F, dev);
        bool needGrad = Tape.Needs(x, s0, prm);
        var output = Tensor.Empty(x.Shape, DType.Float32, dev);
        var sT = Tensor.Empty(new[] { K, N }, DType.Float32, dev);
        var saved = needGrad ? Tensor.Empty(new[] { T, K, N }, DType.Float32, dev) : null;
        var cfg = new StepConfig
        {
            Alpha = o.Alpha, VReset = o.VReset, Soft = o.Reset == ResetMode.Soft ? 1 : 0,
            DetachReset = o.DetachReset ? 1 : 0,
        };
        driver.Forward<TM>(new ModelCall
        {
            T = T, N = N, F = F, P = P, X = x.Buf, Prm = prm.Buf, S0 = s0?.Buf, Out = output.Buf, ST = sT.Buf,
            Saved = saved?.Buf, C = cfg,
        });

        // A spiking model's step returns 0 or 1; only this library's models are trusted with it, since a user model
        // could declare Spiking and return anything.
        if (TM.Spiking && typeof(TM).Assembly == typeof(NeuronModels).Assembly) output.IsBinary = true;
        if (needGrad)
        {
            var xKeep = x.Detach();
            var prmKeep = prm.Detach();
            Tape.Record(op, new[] { output, sT }, new[] { x, s0, prm }, Saves.Of(xKeep, prmKeep, saved), g =>
            {
                var gx = Tensor.Empty(xKeep.Shape, DType.Float32, dev);
                var gs0 = s0 is { RequiresGrad: true } ? Tensor.Empty(new[] { K, N }, DType.Float32, dev) : null;
                var gpn = prm.RequiresGrad ? Tensor.Empty(new[] { P, N }, DType.Float32, dev) : null;
                driver.Backward<TM, TS>(new ModelCall
                {
                    T = T, N = N, F = F, P = P, X = xKeep.Buf, Prm = prmKeep.Buf, Saved = saved!.Buf,
                    GOut = g[0]?.Buf, GST = g[1]?.Buf, GX = gx.Buf, GS0 = gs0?.Buf, GP = gpn?.Buf, C = cfg,
                });
                Tensor? gprm = null;
                if (gpn != null)
                {
                    gprm = gpn.Reshape(P, N / F, F).Sum(1);
                    gpn.Dispose();
                }
                return new[] { x.RequiresGrad ? gx : null, gs0, gprm };
            });
            xKeep.Release(); prmKeep.Release(); saved!.Release();
        }
        // The packed state and parameters are this call's own (the backward reads prmKeep, a view of prm).
        s0?.Release(); prm.Release();
        var states = new Tensor[K];
        for (int k = 0; k < K; k++) states[k] = sT.Narrow(0, k, 1).Reshape(stateShape);
        return new NeuronModelResult(output, states);
    }

    /// <summary>
    /// Runs model <typeparamref name="TM"/> with the surrogate named by <see cref="SpikingOptions.Surrogate"/>.
    /// </summary>
    public static NeuronModelResult Run<TM>(Tensor x, IReadOnlyList<Tensor?>? state0, IReadOnlyList<Tensor> parameters,
        SpikingOptions? options = null) where TM : struct, INeuronModel
    {
        var o = options ?? SpikingOptions.Default;
        return Surrogates.Dispatch(o.Surrogate, new Call<TM>(x, state0, parameters, o), TM.Name, nameof(options));
    }

    /// <summary>One call of <see cref="Run{TM}"/>, waiting for the surrogate type the options name.</summary>
    private sealed record Call<TM>(Tensor X, IReadOnlyList<Tensor?>? State0, IReadOnlyList<Tensor> Parameters,
        SpikingOptions O) : ISurrogateCall<NeuronModelResult> where TM : struct, INeuronModel
    {
        public NeuronModelResult Invoke<TS>() where TS : struct, ISurrogate => Run<TM, TS>(X, State0, Parameters, O);
    }

    private static (int T, int N, int F) Validate(string op, Tensor x, IReadOnlyList<Tensor?>? state0,
        IReadOnlyList<Tensor> parameters, SpikingOptions o, int K, NeuronParamSpec[] specs)
    {
        int P = specs.Length;
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(parameters);
        if (x.DType != DType.Float32)
            throw new ArgumentException($"{op}: x must be float32, got {x.DType.Name()}", nameof(x));
        if (x.Rank < 1 || x.Size(0) < 1)
            throw new ArgumentException(
                $"{op}: x must be (T, ...) with T ≥ 1, got shape {ShapeUtil.Format(x.Shape)}", nameof(x));
        if (!(o.Alpha > 0f) || !float.IsFinite(o.Alpha))
            throw new ArgumentException($"{op}: options.Alpha must be a finite number > 0, got {o.Alpha}", nameof(o));
        int T = x.Size(0), N = x.Numel / T;
        if (parameters.Count != P)
            throw new ArgumentException(
                $"{op}: expected {P} parameters ({string.Join(", ", specs.Select(s => s.Name))}), "
                + $"got {parameters.Count}",
                nameof(parameters));
        int F = 1;
        foreach (var p in parameters)
            if (p != null && p.Numel > 1) F = Math.Max(F, p.Numel);
        for (int i = 0; i < P; i++)
        {
            string where = $"{op}: parameter {specs[i].Name}";
            var p = parameters[i] ?? throw new ArgumentNullException(nameof(parameters), $"{where} is null");
            if (p.DType != DType.Float32)
                throw new ArgumentException($"{where} must be float32, got {p.DType.Name()}", nameof(parameters));
            if (p.Device != x.Device)
                throw new ArgumentException($"{where} is on {p.Device}, x on {x.Device}", nameof(parameters));
            if (p.Numel != 1 && p.Numel != F)
                throw new ArgumentException(
                    $"{where} has {p.Numel} elements; every per-feature parameter must have the same "
                    + $"length F (here {F}) and shared ones 1",
                    nameof(parameters));
        }
        if (N % F != 0)
            throw new ArgumentException(
                $"{op}: x has {N} neurons per step, not a multiple of the parameters' length {F}", nameof(x));
        if (state0 != null)
        {
            if (state0.Count != K)
                throw new ArgumentException(
                    $"{op}: expected {K} initial state tensors, got {state0.Count}", nameof(state0));
            for (int k = 0; k < K; k++)
                if (state0[k] is { } s)
                {
                    if (s.Numel != N || s.DType != DType.Float32 || s.Device != x.Device)
                        throw new ArgumentException(
                            $"{op}: initial state {k} must be float32 with {N} elements on {x.Device}, " +
                            $"got {s.DType.Name()} {ShapeUtil.Format(s.Shape)} on {s.Device}", nameof(state0));
                }
        }
        return (T, N, F);
    }

    private static Tensor? PackState(IReadOnlyList<Tensor?>? state0, int K, int N, Device dev)
    {
        if (state0 == null || state0.All(s => s == null)) return null;
        var rows = new Tensor[K];
        for (int k = 0; k < K; k++) rows[k] = state0[k]?.Reshape(N) ?? Tensor.Zeros(new[] { N }, dev);
        return Tensor.Stack(rows, 0);
    }

    private static Tensor PackParams(IReadOnlyList<Tensor> parameters, int F, Device dev)
    {
        var rows = new Tensor[parameters.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            var p = parameters[i].Reshape(parameters[i].Numel);
            rows[i] = p.Numel == F ? p : Tensor.Zeros(new[] { F }, dev) + p;
        }
        return rows.Length == 0 ? Tensor.Zeros(new[] { 1, F }, dev) : Tensor.Stack(rows, 0);
    }
}
