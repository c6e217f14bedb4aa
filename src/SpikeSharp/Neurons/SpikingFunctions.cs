using SpikeSharp.Autograd;
using SpikeSharp.Backends;

namespace SpikeSharp.Neurons;

/// <summary>
/// Fused multi-step spiking neurons: one kernel per direction walks time for every neuron. Inputs are
/// time-major, x: (T, ...) with N = the product of the trailing dims; the state tensors have N elements.
/// Every parameter is a float32 tensor of 1 element (shared) or F elements with N % F == 0, neuron n using
/// element n % F (so a (T, B, F) input with F-vectors gives per-feature parameters for every batch row).
/// All gradients are exact for the surrogate model, including those of losses on the final state.
/// Parameters stay on the device: nothing is read back to the host.
/// </summary>
/// <remarks>
/// Per neuron, with u₋₁ = v0, a₋₁ = a0:
/// h_t = λ·u_{t−1} + x_t (λ = 1 for IF); θ_t = θ (LIF, PLIF, IF) or θ₀ + β·a_{t−1} (ALIF);
/// s_t = H(h_t − θ_t); u_t = s_t ? v_reset : h_t (hard) or h_t − θ_t·s_t (soft); a_t = λ_a·a_{t−1} + s_t.
/// Backward replaces H' by the surrogate σ'(h_t − θ_t, α). With <see cref="SpikingOptions.DetachReset"/> the
/// spike's gradient through the reset is cut (the adaptation path is never cut). α gets the seed's
/// pseudo-gradient Σ G_s·(h − θ)·σ'/α (spikes do not depend on α; G_s is the gradient reaching the spike).
/// Each function comes twice: with the surrogate named by <see cref="SpikingOptions.Surrogate"/>, and generic
/// over the surrogate struct (<c>Lif&lt;MySurrogate&gt;(…)</c>, any <see cref="ISurrogate"/>, options.Surrogate
/// ignored), which compiles the backward kernels for that struct.
/// </remarks>
public static class SpikingFunctions
{
    /// <summary>Leaky integrate-and-fire with scalar (or per-feature) decay and threshold.</summary>
    /// <param name="x">(T, ...) input current.</param>
    /// <param name="v0">(N) or x's trailing shape: initial membrane; null = zeros.</param>
    /// <param name="decay">λ in (0, 1]: 1 or F elements.</param>
    /// <param name="threshold">θ: 1 or F elements.</param>
    /// <param name="options">Surrogate, reset, saved precision; null = defaults.</param>
    /// <param name="alpha">Trainable surrogate sharpness (1 or F elements, &gt; 0); null =
    /// <see cref="SpikingOptions.Alpha"/>.</param>
    public static SpikingResult Lif(Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options = null, Tensor? alpha = null) =>
        ByKind(LifCall("lif", x, v0, decay, threshold, options, alpha));

    /// <summary><see cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/> with surrogate
    /// <typeparamref name="TS"/>.</summary>
    /// <typeparam name="TS">The surrogate derivative; <see cref="SpikingOptions.Surrogate"/> is ignored.</typeparam>
    /// <inheritdoc cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    public static SpikingResult Lif<TS>(Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options = null, Tensor? alpha = null) where TS : struct, ISurrogate =>
        LifCall("lif", x, v0, decay, threshold, options, alpha).Invoke<TS>();

    /// <summary>Parametric LIF: <paramref name="decay"/> and <paramref name="threshold"/> are per-feature vectors
    /// (F), broadcast over the batch (x viewed as (T, B·F)). Same math as
    /// <see cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>.</summary>
    /// <inheritdoc cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    public static SpikingResult Plif(Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options = null, Tensor? alpha = null) =>
        ByKind(PlifCall(x, v0, decay, threshold, options, alpha));

    /// <summary><see cref="Plif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/> with surrogate
    /// <typeparamref name="TS"/>.</summary>
    /// <typeparam name="TS">The surrogate derivative; <see cref="SpikingOptions.Surrogate"/> is ignored.</typeparam>
    /// <inheritdoc cref="Plif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    public static SpikingResult Plif<TS>(Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options = null, Tensor? alpha = null) where TS : struct, ISurrogate =>
        PlifCall(x, v0, decay, threshold, options, alpha).Invoke<TS>();

    /// <summary>Integrate-and-fire (no leak).</summary>
    /// <inheritdoc cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    public static SpikingResult If(Tensor x, Tensor? v0, Tensor threshold, SpikingOptions? options = null,
        Tensor? alpha = null) => ByKind(IfCall(x, v0, threshold, options, alpha));

    /// <summary><see cref="If(Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/> with surrogate
    /// <typeparamref name="TS"/>.</summary>
    /// <typeparam name="TS">The surrogate derivative; <see cref="SpikingOptions.Surrogate"/> is ignored.</typeparam>
    /// <inheritdoc cref="If(Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    public static SpikingResult If<TS>(Tensor x, Tensor? v0, Tensor threshold, SpikingOptions? options = null,
        Tensor? alpha = null) where TS : struct, ISurrogate => IfCall(x, v0, threshold, options, alpha).Invoke<TS>();

    /// <summary>Adaptive-threshold LIF; returns the final adaptation in <see cref="SpikingResult.A"/>. a0 (N) is
    /// the initial adaptation (null = zeros), beta the adaptation strength β and decayA its decay λ_a in (0, 1];
    /// the other arguments are as in <see cref="Lif(Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>.
    /// </summary>
    public static SpikingResult Alif(Tensor x, Tensor? v0, Tensor? a0, Tensor decay, Tensor threshold, Tensor beta,
        Tensor decayA, SpikingOptions? options = null, Tensor? alpha = null) =>
        ByKind(AlifCall(x, v0, a0, decay, threshold, beta, decayA, options, alpha));

    /// <summary><see cref="Alif(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, SpikingOptions, Tensor)"/>
    /// with surrogate <typeparamref name="TS"/>.</summary>
    /// <typeparam name="TS">The surrogate derivative; <see cref="SpikingOptions.Surrogate"/> is ignored.</typeparam>
    public static SpikingResult Alif<TS>(Tensor x, Tensor? v0, Tensor? a0, Tensor decay, Tensor threshold,
        Tensor beta, Tensor decayA, SpikingOptions? options = null, Tensor? alpha = null)
        where TS : struct, ISurrogate =>
        AlifCall(x, v0, a0, decay, threshold, beta, decayA, options, alpha).Invoke<TS>();

    private static Call<LifNeuron> LifCall(string op, Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options, Tensor? alpha)
    {
        ArgumentNullException.ThrowIfNull(decay); ArgumentNullException.ThrowIfNull(threshold);
        return new(op, x, v0, null, decay, threshold, null, null, options ?? SpikingOptions.Default, alpha);
    }

    private static Call<LifNeuron> PlifCall(Tensor x, Tensor? v0, Tensor decay, Tensor threshold,
        SpikingOptions? options, Tensor? alpha)
    {
        ArgumentNullException.ThrowIfNull(decay); ArgumentNullException.ThrowIfNull(threshold);
        if (decay.Rank != 1)
            throw new ArgumentException(
                $"plif: decay must be a vector (F), got shape {ShapeUtil.Format(decay.Shape)}", nameof(decay));
        if (threshold.Rank != 1)
            throw new ArgumentException(
                $"plif: threshold must be a vector (F), got shape {ShapeUtil.Format(threshold.Shape)}",
                nameof(threshold));
        return LifCall("plif", x, v0, decay, threshold, options, alpha);
    }

    private static Call<IfNeuron> IfCall(Tensor x, Tensor? v0, Tensor threshold, SpikingOptions? options,
        Tensor? alpha)
    {
        ArgumentNullException.ThrowIfNull(threshold);
        return new("if", x, v0, null, null, threshold, null, null, options ?? SpikingOptions.Default, alpha);
    }

    private static Call<AlifNeuron> AlifCall(Tensor x, Tensor? v0, Tensor? a0, Tensor decay, Tensor threshold,
        Tensor beta, Tensor decayA, SpikingOptions? options, Tensor? alpha)
    {
        ArgumentNullException.ThrowIfNull(decay); ArgumentNullException.ThrowIfNull(threshold);
        ArgumentNullException.ThrowIfNull(beta); ArgumentNullException.ThrowIfNull(decayA);
        return new("alif", x, v0, a0, decay, threshold, beta, decayA, options ?? SpikingOptions.Default, alpha);
    }

    // The surrogate named by the options, through the one table of Surrogates.
    private static SpikingResult ByKind<TN>(Call<TN> c) where TN : struct, INeuron =>
        Surrogates.Dispatch(c.O.Surrogate, c, c.Op, "options");

    /// <summary>One call of a fused function, waiting for its surrogate type.</summary>
    private sealed record Call<TN>(string Op, Tensor X, Tensor? V0, Tensor? A0, Tensor? Decay, Tensor Threshold,
        Tensor? Beta, Tensor? DecayA, SpikingOptions O, Tensor? Alpha) : ISurrogateCall<SpikingResult>
        where TN : struct, INeuron
    {
        public SpikingResult Invoke<TS>() where TS : struct, ISurrogate => Run<TN, TS>(this);
    }

    private static SpikingResult Run<TN, TS>(Call<TN> c) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        var (op, x, v0, a0, decay, threshold, beta, decayA, o, alpha) = c;
        ArgumentNullException.ThrowIfNull(x);
        var driver = x.Backend.Require<INeuronDriver>(op);
        int T = NeuronChecks.Validate(op, driver, x, v0, a0, decay, threshold, beta, decayA, alpha, o, out int N);
        bool adaptive = default(TN).Adaptive;
        bool needGrad = Tape.Needs(x, v0, a0, decay, threshold, beta, decayA, alpha);
        var dev = x.Device;
        var stateShape = v0?.Shape ?? x.Shape[1..];
        int W = (T + 31) / 32;

        var spikes = Tensor.Empty(x.Shape, DType.Float32, dev);
        var vT = Tensor.Empty(stateShape, DType.Float32, dev);
        var aT = adaptive ? Tensor.Empty(stateShape, DType.Float32, dev) : null;
        bool recompute = SpikeBits.Recompute(T, o.SavedDType, adaptive);
        Tensor? hSaved = null, hOut = null, bits = null, chk = null, xKeep = null;
        if (needGrad)
        {
            if (recompute) xKeep = x.Detach();
            else hSaved = o.SavedDType == DType.Float16
                ? Tensor.Empty(HalfPairs.Shape(T, N), DType.Float16, dev)
                : Tensor.Empty(x.Shape, DType.Float32, dev);
            bits = Tensor.Empty(SpikeBits.Shape(T, N), DType.Int32, dev);
            if (adaptive) chk = Tensor.Empty(new[] { W, N }, DType.Float32, dev);
        }
        if (o.ReturnMembrane)
            hOut = hSaved is { DType: DType.Float32 } ? hSaved.Detach() : Tensor.Empty(x.Shape, DType.Float32, dev);

        var th = threshold.Buf;
        var fa = new NeuronForwardArgs
        {
            Op = NeuronChecks.OpIndex(op), T = T, N = N, X = x.Buf, V0 = v0?.Buf, A0 = a0?.Buf,
            Decay = decay?.Buf ?? th, Threshold = th, Beta = beta?.Buf ?? th, DecayA = decayA?.Buf ?? th,
            Soft = o.Reset == ResetMode.Soft ? 1 : 0, VReset = o.VReset,
            Spikes = spikes.Buf, VT = vT.Buf, AT = aT?.Buf, H = hSaved?.Buf,
            HOut = hOut != null && !ReferenceEquals(hOut.Storage, hSaved?.Storage) ? hOut.Buf : null,
            Bits = bits?.Buf, AChk = chk?.Buf,
        };
        if (!driver.NeuronForward<TN>(fa))
        {
            foreach (var t in new[] { spikes, vT, aT, hSaved, hOut, bits, chk, xKeep }) t?.Dispose();
            throw new ArgumentException($"{NeuronChecks.Problem(op, "x")}; nothing was computed", nameof(x));
        }

        spikes.IsBinary = true; // the kernels write 0 or 1 only
        long saved = 0;
        if (needGrad)
        {
            saved = (hSaved != null ? (long)hSaved.Numel * o.SavedDType.SizeInBytes() : 4L * T * N)
                + 4L * bits!.Numel + (chk != null ? 4L * chk.Numel : 0);
            var v0Keep = v0?.Detach();
            var outputs = adaptive ? new[] { spikes, vT, aT! } : new[] { spikes, vT };
            var xShape = x.Shape;
            // The backward reads the parameters (their buffers are in fa) and what was kept for it, not x or v0.
            var saves = Saves.Of(decay, threshold, beta, decayA, alpha, hSaved, bits, chk, xKeep, v0Keep);
            Tape.Record(op, outputs, new[] { x, v0, a0, decay, threshold, beta, decayA, alpha }, saves, g =>
            {
                var ba = new NeuronBackwardArgs
                {
                    Op = fa.Op, T = T, N = N, GSpikes = g[0]?.Buf, GVT = g[1]?.Buf, GAT = adaptive ? g[2]?.Buf : null,
                    H = hSaved?.Buf, X = xKeep?.Buf, Bits = bits.Buf, AChk = chk?.Buf, V0 = v0Keep?.Buf,
                    Decay = fa.Decay, Threshold = th, Beta = fa.Beta, DecayA = fa.DecayA, Alpha = alpha?.Buf,
                    AlphaValue = o.Alpha, Soft = fa.Soft, VReset = o.VReset, DetachReset = o.DetachReset ? 1 : 0,
                };
                var gx = Tensor.Empty(xShape, DType.Float32, dev);
                ba.GX = gx.Buf;
                Tensor? Grad(Tensor? p) =>
                    p is { RequiresGrad: true } ? Tensor.Empty(p.Shape, DType.Float32, dev) : null;
                var gv0 = Grad(v0); var ga0 = Grad(a0);
                var gd = Grad(decay); var gth = Grad(threshold); var gb = Grad(beta);
                var gda = Grad(decayA); var gal = Grad(alpha);
                ba.GV0 = gv0?.Buf; ba.GA0 = ga0?.Buf; ba.GDecay = gd?.Buf; ba.GThreshold = gth?.Buf;
                ba.GBeta = gb?.Buf; ba.GDecayA = gda?.Buf; ba.GAlpha = gal?.Buf;
                driver.NeuronBackward<TN, TS>(ba);
                return new[] { x.RequiresGrad ? gx : null, gv0, ga0, gd, gth, gb, gda, gal };
            });
            // Made for the backward only: freed once it has run.
            foreach (var t in new[] { hSaved, bits, chk, xKeep, v0Keep }) t?.Release();
        }
        return new SpikingResult(spikes, vT, aT, hOut) { SavedBytes = saved, SavedBits = bits, SavedH = hSaved };
    }
}
