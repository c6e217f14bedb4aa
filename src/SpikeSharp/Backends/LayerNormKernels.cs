namespace SpikeSharp.Backends;

/// <summary>The geometry of one layer normalisation: a contiguous float32 input viewed as (Rows, D), each row
/// normalised over its D values.</summary>
public readonly record struct LayerNormShape(int Rows, int D)
{
    /// <summary>Elements of the input: Rows·D.</summary>
    public int Numel => Rows * D;
}

/// <summary>
/// A backend's own layer-normalisation kernels, registered as a kernel family: one pass forward and three short
/// launches backward instead of the generic composition of reductions and broadcasts (10 launches forward, 15
/// backward). <see cref="LayerNormOps"/> uses it when the backend has it; <see cref="NormOps.LayerNorm"/> keeps its
/// generic path otherwise. Per-row tensors (mean, rstd) hold Rows values, per-column ones (weight, bias, their
/// gradients) D values; rstd is 1/√(σ² + ε) (<see cref="Kernels.NormMath.Rstd"/>), σ² the biased variance from the
/// centred squares. An optional one-element scale s multiplies the output: y = (x̂·γ + β)·s, so a learnt scalar
/// after the norm costs no pass and no saved tensor of its own. Buffers are contiguous; outputs alias no input.
/// Results are deterministic: partial sums are combined in an order fixed by the shape and the device.
/// </summary>
public interface ILayerNormKernels
{
    /// <summary>y = ((x − μ)·rstd·γ + β)·s per row, writing the row's mean and rstd (γ = 1, β = 0, s = 1 when
    /// null).</summary>
    void Forward(in LayerNormShape s, Buf x, Buf? weight, Buf? bias, Buf? scale, float eps, Buf y, Buf mean,
        Buf rstd);

    /// <summary>dx = rstd·(ĝ − x̂·mean_D(ĝ·x̂) − mean_D(ĝ)) per row with ĝ = g·γ·s and x̂ = (x − μ)·rstd
    /// recomputed from x and the saved row statistics.</summary>
    void BackwardData(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? scale, Buf dx);

    /// <summary>
    /// The per-column reductions, over rows, of A = Σ g·x̂ and B = Σ g: dWeight = s·A, dBias = s·B and
    /// dScaleParts = γ·A + β·B (whose sum over the D columns is the scale's gradient). Each output may be null.
    /// </summary>
    void BackwardParams(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias, Buf? scale,
        Buf? dWeight, Buf? dBias, Buf? dScaleParts);
}
