namespace SpikeSharp.Backends;

/// <summary>
/// The geometry of one batch normalisation: a contiguous float32 input viewed as (N, C, S), normalised per channel
/// over its N·S values.
/// </summary>
public readonly record struct BatchNormShape(int N, int C, int S)
{
    /// <summary>Values per channel: N·S.</summary>
    public int Count => N * S;

    /// <summary>Elements of the input: N·C·S.</summary>
    public int Numel => N * C * S;
}

/// <summary>
/// A backend's own batch-normalisation kernels, registered as a kernel family: a few passes over the input instead
/// of the generic composition of reductions and broadcasts. <see cref="NormOps.BatchNorm"/> uses it when the backend
/// has it and keeps its generic path otherwise. Per-channel tensors (mean, rstd, weight, bias, sums) hold C values;
/// rstd is 1/√(σ² + ε) (<see cref="Kernels.NormMath.Rstd"/>). Buffers are contiguous; outputs alias no input.
/// Results are deterministic: partial sums are combined in an order fixed by the shape and the device.
/// </summary>
public interface IBatchNormKernels
{
    /// <summary>
    /// The batch statistics of x: mean, then the biased variance from the centred squares (two passes over x, not
    /// E[x²] − E[x]²), as rstd. When the running statistics are given they are updated in place:
    /// r ← (1 − momentum)·r + momentum·b, with the unbiased variance (· Count / (Count − 1)).
    /// </summary>
    void Statistics(in BatchNormShape s, Buf x, float eps, float momentum, Buf mean, Buf rstd, Buf? runningMean,
        Buf? runningVar);

    /// <summary>y = (x − mean)·rstd·γ + β in one pass (γ = 1 and β = 0 when null).</summary>
    void Normalize(in BatchNormShape s, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias, Buf y);

    /// <summary>
    /// Per channel Σg and Σg·x̂ with x̂ = (x − mean)·rstd recomputed, in one pass over g and x.
    /// </summary>
    void BackwardReduce(in BatchNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf sumG, Buf sumGXhat);

    /// <summary>
    /// dx in one pass. With batch statistics (the sums given): dx = rstd·γ·(g − Σg/Count − x̂·Σgx̂/Count);
    /// with running statistics (x and the sums null): dx = rstd·γ·g.
    /// </summary>
    void BackwardData(in BatchNormShape s, Buf g, Buf? x, Buf? mean, Buf rstd, Buf? weight, Buf? sumG,
        Buf? sumGXhat, Buf dx);
}
