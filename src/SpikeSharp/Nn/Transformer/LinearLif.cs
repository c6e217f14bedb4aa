using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using SpikeSharp.Neurons;

namespace SpikeSharp.Nn.Transformer;

/// <summary>
/// How a layer gets its input again in its backward pass instead of keeping it: a deterministic recomputation
/// (bit-identical to the forward's input) and the tensors it reads, which the layer's backward node keeps alive.
/// </summary>
internal sealed record RowsAgain(Func<Tensor> Rows, Tensor[] Reads);

/// <summary>
/// A linear layer feeding leaky integrate-and-fire neurons, fused: one GEMM over all T·B rows with the
/// bias written into the output first (no separate bias pass), then the fused multi-step LIF kernel.
/// Input (T, B…, in) → spikes (T, B…, out). The membrane is kept between calls for streaming
/// (<see cref="Module.ResetState"/> clears it).
/// </summary>
/// <remarks>
/// x'_t = W·x_t + b;  h_t = λ·u_{t−1} + x'_t;  s_t = H(h_t − θ);  u_t = h_t·(1 − s_t).
/// A learnable λ is sigmoid(decay_logit), so it stays in [0, 1] whatever the optimiser does (as in the Lif
/// layers); θ is a scalar. Backward: the LIF kernel's exact BPTT with a surrogate, then gx = g·W, gW = gᵀ·x,
/// gb = Σ_rows g. A call whose batch shape differs from the kept membrane's throws (call
/// <see cref="Module.ResetState"/> first), as the Lif layers do.
/// </remarks>
public sealed class LinearLif : Module, INeuronLayer
{
    /// <summary>Creates the layer: PyTorch's Linear init, λ = <paramref name="decay"/>,
    /// θ = <paramref name="threshold"/>.</summary>
    /// <param name="inFeatures">Input size.</param>
    /// <param name="outFeatures">Output size (neurons per position).</param>
    /// <param name="decay">Initial λ: in (0, 1) when learnable (learnt as its logit), in [0, 1] when fixed.</param>
    /// <param name="threshold">Initial θ.</param>
    /// <param name="learnable">Whether λ and θ get gradients (the weight and bias always do).</param>
    /// <param name="trainAlpha">Learn the surrogate sharpness α too (one scalar, the seed's pseudo-gradient).</param>
    /// <param name="options">Surrogate, reset and saved precision of the LIF kernel.</param>
    /// <param name="gen">Generator of the initial weights.</param>
    /// <param name="device">Where parameters and state live.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="decay"/> is outside
    /// its range.</exception>
    public LinearLif(int inFeatures, int outFeatures, float decay = 0.5f, float threshold = 1f, bool learnable = true,
        bool trainAlpha = false, SpikingOptions? options = null, Generator? gen = null, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(nameof(inFeatures),
                $"LinearLif: features must be positive, got in={inFeatures}, out={outFeatures}");
        DecayMath.CheckInitial(nameof(LinearLif), nameof(decay), decay, learnable);
        InFeatures = inFeatures; OutFeatures = outFeatures;
        Options = options ?? SpikingOptions.Default;
        RegisterParameter("weight", Init.KaimingUniform(new[] { outFeatures, inFeatures }, inFeatures, gen, device));
        RegisterParameter("bias", Init.KaimingUniform(new[] { outFeatures }, inFeatures, gen, device));
        if (learnable)
        {
            RegisterParameter("decay_logit", Tensor.Full(new[] { 1 }, DecayMath.Logit(decay), DType.Float32, device));
            RegisterParameter("threshold", Tensor.Full(new[] { 1 }, threshold, DType.Float32, device));
        }
        else
        {
            RegisterBuffer("decay", Tensor.Full(new[] { 1 }, decay, DType.Float32, device));
            RegisterBuffer("threshold", Tensor.Full(new[] { 1 }, threshold, DType.Float32, device));
        }
        if (trainAlpha) RegisterParameter("alpha", Tensor.Full(new[] { 1 }, Options.Alpha, DType.Float32, device));
        RegisterBuffer("v", null, persistent: false);
    }

    /// <summary>Input size.</summary>
    public int InFeatures { get; }
    /// <summary>Output size (neurons per position).</summary>
    public int OutFeatures { get; }
    /// <summary>Surrogate, reset and saved precision of the LIF kernel.</summary>
    public SpikingOptions Options { get; }
    /// <summary>(out, in).</summary>
    public Tensor Weight => Param("weight");
    /// <summary>(out).</summary>
    public Tensor Bias => Param("bias");
    /// <summary>Scalar threshold θ (1): a parameter when learnable, else a buffer.</summary>
    public Tensor Threshold => TryParam("threshold") ?? Buffer("threshold")!;
    /// <summary>α (1) when trained, else null (<see cref="SpikingOptions.Alpha"/> is used).</summary>
    public Tensor? Alpha => TryParam("alpha");
    /// <summary>The current membrane (B…, out), or null before the first call / after a reset.</summary>
    public Tensor? Membrane => Buffer("v");

    /// <inheritdoc/>
    public bool TrackFiringRate { get; set; }

    /// <inheritdoc/>
    public Tensor? FiringRate { get; private set; }

    /// <summary>λ (1) as a new tensor the caller owns (the current <see cref="TensorScope"/> frees it):
    /// sigmoid(decay_logit) computed now and differentiable when learnable, a view of the fixed decay's buffer
    /// otherwise.</summary>
    public Tensor Decay() => TryParam("decay_logit") is { } w ? w.Sigmoid() : Buffer("decay")!.Detach();

    /// <summary>A checkpoint of a learnable layer loads into a fixed one (the decay is sigmoid of the saved logit) and
    /// the other way round.</summary>
    protected override IEnumerable<StateUpgrade> StateUpgrades() => new[]
    {
        TryParam("decay_logit") != null
            ? new StateUpgrade("decay", "decay_logit", DecayMath.LogitsOfSaved)
            : new StateUpgrade("decay_logit", "decay", DecayMath.Sigmoids),
    };

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary><see cref="Forward(Tensor)"/> whose weight gradient reads the input again through
    /// <paramref name="again"/> (when given) instead of keeping it.</summary>
    internal Tensor Forward(Tensor x, RowsAgain? again)
    {
        if (x.Rank < 2 || x.Size(-1) != InFeatures)
            throw new ArgumentException(
                $"LinearLif: expected (T, ..., {InFeatures}), got {ShapeUtil.Format(x.Shape)}", nameof(x));
        var outShape = x.Shape; outShape[^1] = OutFeatures;
        var v0 = Membrane;
        if (v0 != null && !v0.Shape.SequenceEqual(outShape[1..]))
            throw new InvalidOperationException($"LinearLif: the kept membrane is {ShapeUtil.Format(v0.Shape)} but "
                + $"this input {ShapeUtil.Format(x.Shape)} needs {ShapeUtil.Format(outShape[1..])}; "
                + "call ResetState() when the batch changes");
        var rows = x.Reshape(-1, InFeatures);
        var y = Project(rows, Weight, Bias, again);
        rows.Release();
        var pre = Tensor.Releasing(y, y.Reshape(outShape));
        var decay = Decay();
        var r = SpikingFunctions.Lif(pre, v0, decay, Threshold, Options, Alpha);
        // Freed now or once the neuron's backward has read them: the layer returns only the spikes.
        pre.Release(); decay.Release();
        SetBuffer("v", r.V.Detach());
        r.V.Release();
        FiringRate?.Dispose();
        FiringRate = null;
        if (TrackFiringRate)
            using (Tape.NoGrad())
                FiringRate = r.Spikes.Mean().Persist();
        return r.Spikes;
    }

    /// <inheritdoc/>
    protected override void ResetOwnState() => SetBuffer("v", null);

    /// <inheritdoc/>
    public override void Dispose()
    {
        FiringRate?.Dispose();
        FiringRate = null;
        base.Dispose();
    }

    /// <summary>
    /// rows (R, in) · weightᵀ (in, out) + bias (out) → (R, out) in one GEMM: the output is pre-filled with the
    /// broadcast bias and the GEMM accumulates onto it (β = 1).
    /// </summary>
    public static Tensor Project(Tensor rows, Tensor weight, Tensor bias) => Project(rows, weight, bias, null);

    // With `again`, float rows are not kept for the weight gradient: the backward recomputes them.
    internal static Tensor Project(Tensor rows, Tensor weight, Tensor bias, RowsAgain? again)
    {
        int r = rows.Size(0), inF = rows.Size(1), outF = weight.Size(0);
        if (weight.Size(1) != inF || bias.Numel != outF)
            throw new ArgumentException($"LinearLif.Project: rows {ShapeUtil.Format(rows.Shape)}, "
                + $"weight {ShapeUtil.Format(weight.Shape)} and bias {ShapeUtil.Format(bias.Shape)} do not agree",
                nameof(weight));
        bool gr = rows.RequiresGrad, gw = weight.RequiresGrad, gb = bias.RequiresGrad;
        // Spike rows are kept for the weight gradient as their bfloat16 copy (see Tensor.Matmul).
        var rows16 = gw && Tape.Needs(rows, weight, bias) ? SpikeGemm.Bf16Copy(rows) : null;
        var y = Tensor.Empty(new[] { r, outF }, DType.Float32, rows.Device);
        if (y.Numel > 0)
        {
            rows.Backend.Gather(bias.Buf, StridedIndex.Create(new[] { r, outF }, new[] { 0, 1 }), y.Buf);
            // β = 1: onto the bias
            SpikeGemm.Gemm(rows.Backend, SpikeGemm.Operand.Of(rows, rows16), SpikeGemm.Operand.Of(weight), false, true,
                r, outF, inF, 1f, y.Buf, SpikeGemm.Batch.One);
        }
        bool recompute = gw && rows16 == null && again != null;
        var saves = recompute ? Saves.Of(again!.Reads.Prepend(gr ? weight : null).ToArray())
            : Saves.Of(gr ? weight : null, gw ? rows16 ?? rows : null);
        Tape.Record("linear_bias_gemm", new[] { y }, new[] { rows, weight, bias }, saves,
            g => g[0] is not { } gy ? new Tensor?[3] : new[]
            {
                gr ? Tensor.Matmul(gy, weight) : null,
                !gw ? null : recompute ? WeightGradAgain(gy, again!, weight.Shape)
                    : WeightGrad(gy, rows, rows16, weight.Shape),
                gb ? BiasGrad(gy, bias.Shape) : null,
            });
        rows16?.Release(); // freed once the backward has read it (now, without one)
        return y;
    }

    // gW = gyᵀ · rows, from the kept bfloat16 copy of spike rows when there is one.
    private static Tensor WeightGrad(Tensor gy, Tensor rows, Tensor? rows16, int[] shape)
    {
        if (rows16 == null) return Tensor.Matmul(gy, rows, transA: true);
        var gw = Tensor.Empty(shape, DType.Float32, gy.Device);
        if (gw.Numel > 0)
            SpikeGemm.Gemm(gy.Backend, SpikeGemm.Operand.Of(gy), SpikeGemm.Operand.OfCopy(rows16), true, false,
                shape[0], shape[1], gy.Size(0), 0f, gw.Buf, SpikeGemm.Batch.One);
        return gw;
    }

    // gW = gyᵀ · rows with the rows recomputed (bit-identical to the forward's).
    private static Tensor WeightGradAgain(Tensor gy, RowsAgain again, int[] shape)
    {
        using (Tape.NoGrad())
        {
            using var made = again.Rows();
            using var rows = made.Reshape(-1, shape[1]);
            return Tensor.Matmul(gy, rows, transA: true);
        }
    }

    // Σ over rows of the output gradient, in the bias's shape.
    private static Tensor BiasGrad(Tensor gy, int[] shape)
    {
        var s = gy.Sum(0);
        return Tensor.Releasing(s, s.Reshape(shape));
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in={InFeatures}, out={OutFeatures}";
}
