using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using SpikeSharp.Neurons;

namespace SpikeSharp.Nn.Transformer;

/// <summary>
/// A linear layer feeding leaky integrate-and-fire neurons, fused: one GEMM over all T·B rows with the
/// bias written into the output first (no separate bias pass), then the fused multi-step LIF kernel.
/// Input (T, B…, in) → spikes (T, B…, out). The membrane is kept between calls for streaming
/// (<see cref="Module.ResetState"/> clears it).
/// </summary>
/// <remarks>
/// x'_t = W·x_t + b;  h_t = λ·u_{t−1} + x'_t;  s_t = H(h_t − θ);  u_t = h_t·(1 − s_t).
/// λ = sigmoid(decay_logit) stays in (0, 1) whatever the optimiser does; θ is a learnable scalar.
/// Backward: the LIF kernel's exact BPTT with a surrogate, then gx = g·W, gW = gᵀ·x, gb = Σ_rows g.
/// </remarks>
public sealed class LinearLif : Module
{
    /// <summary>Creates the layer: PyTorch's Linear init, λ = <paramref name="decay"/>, θ = <paramref name="threshold"/>.</summary>
    public LinearLif(int inFeatures, int outFeatures, float decay = 0.5f, float threshold = 1f, SpikingOptions? options = null,
        Generator? gen = null, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"LinearLif: features must be positive, got in={inFeatures}, out={outFeatures}");
        if (!(decay > 0f && decay < 1f)) throw new ArgumentOutOfRangeException(nameof(decay), $"LinearLif: decay must be in (0, 1), got {decay}");
        InFeatures = inFeatures; OutFeatures = outFeatures;
        Options = options ?? SpikingOptions.Default;
        RegisterParameter("weight", Init.KaimingUniform(new[] { outFeatures, inFeatures }, inFeatures, gen, device));
        RegisterParameter("bias", Init.KaimingUniform(new[] { outFeatures }, inFeatures, gen, device));
        RegisterParameter("decay_logit", Tensor.Full(new[] { 1 }, MathF.Log(decay / (1f - decay)), DType.Float32, device));
        RegisterParameter("threshold", Tensor.Full(new[] { 1 }, threshold, DType.Float32, device));
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
    /// <summary>Learnable scalar threshold θ (1).</summary>
    public Tensor Threshold => Param("threshold");
    /// <summary>The current membrane (B…, out), or null before the first call / after a reset.</summary>
    public Tensor? Membrane => Buffer("v");

    /// <summary>When set, every call stores the mean firing rate in <see cref="FiringRate"/> (a device tensor; no host read).</summary>
    public bool TrackFiringRate { get; set; }

    /// <summary>Mean spike rate of the last call when <see cref="TrackFiringRate"/> is on, else null.</summary>
    public Tensor? FiringRate { get; private set; }

    /// <summary>λ = sigmoid(decay_logit) as a differentiable (1) tensor.</summary>
    public Tensor Decay() => Param("decay_logit").Sigmoid();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 2 || x.Size(-1) != InFeatures)
            throw new ArgumentException($"LinearLif: expected (T, ..., {InFeatures}), got {ShapeUtil.Format(x.Shape)}", nameof(x));
        var outShape = x.Shape; outShape[^1] = OutFeatures;
        var rows = x.Reshape(-1, InFeatures);
        var pre = Project(rows, Weight, Bias).Reshape(outShape);
        var v0 = Membrane;
        if (v0 != null && !v0.Shape.SequenceEqual(outShape[1..]))
            throw new InvalidOperationException($"LinearLif: the kept membrane is {ShapeUtil.Format(v0.Shape)} but this input needs {ShapeUtil.Format(outShape[1..])}; call ResetState() when the batch changes");
        var r = SpikingFunctions.Lif(pre, v0, Decay(), Threshold, Options);
        SetBuffer("v", r.V.Detach());
        if (TrackFiringRate)
            using (Tape.NoGrad())
            {
                FiringRate?.Dispose();
                FiringRate = r.Spikes.Mean().Persist();
            }
        return r.Spikes;
    }

    /// <inheritdoc/>
    protected override void ResetOwnState() => SetBuffer("v", null);

    /// <summary>
    /// rows (R, in) · weightᵀ (in, out) + bias (out) → (R, out) in one GEMM: the output is pre-filled with the
    /// broadcast bias and the GEMM accumulates onto it (β = 1).
    /// </summary>
    public static Tensor Project(Tensor rows, Tensor weight, Tensor bias)
    {
        int r = rows.Size(0), inF = rows.Size(1), outF = weight.Size(0);
        if (weight.Size(1) != inF || bias.Numel != outF)
            throw new ArgumentException($"LinearLif.Project: rows {ShapeUtil.Format(rows.Shape)}, weight {ShapeUtil.Format(weight.Shape)} and bias {ShapeUtil.Format(bias.Shape)} do not agree", nameof(weight));
        var y = Tensor.Empty(new[] { r, outF }, DType.Float32, rows.Device);
        if (y.Numel > 0)
        {
            rows.Backend.Gather(bias.Buf, StridedIndex.Create(new[] { r, outF }, new[] { 0, 1 }), y.Buf);
            rows.Backend.Gemm(false, true, r, outF, inF, 1f, rows.Buf, weight.Buf, 1f, y.Buf);
        }
        Tape.Record("linear_bias_gemm", new[] { y }, new[] { rows, weight, bias }, g => g[0] is not { } gy ? new Tensor?[3] : new[]
        {
            rows.RequiresGrad ? Tensor.Matmul(gy, weight) : null,
            weight.RequiresGrad ? Tensor.Matmul(gy, rows, transA: true) : null,
            bias.RequiresGrad ? gy.Sum(0).Reshape(bias.Shape) : null,
        });
        return y;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in={InFeatures}, out={OutFeatures}";
}
