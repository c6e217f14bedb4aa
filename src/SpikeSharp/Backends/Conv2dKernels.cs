namespace SpikeSharp.Backends;

/// <summary>
/// The geometry of one 2-D convolution (cross-correlation, as in PyTorch) of a contiguous (N, C, H, W) float32
/// input with a contiguous (O, C, Kh, Kw) float32 weight, giving a contiguous (N, O, OutH, OutW) output.
/// </summary>
public readonly record struct Conv2dShape(
    int N, int C, int H, int W, int O, int Kh, int Kw, int StrideH, int StrideW, int PadH, int PadW)
{
    /// <summary>Output height: (H + 2·PadH − Kh) / StrideH + 1.</summary>
    public int OutH => (H + 2 * PadH - Kh) / StrideH + 1;

    /// <summary>Output width: (W + 2·PadW − Kw) / StrideW + 1.</summary>
    public int OutW => (W + 2 * PadW - Kw) / StrideW + 1;

    /// <summary>Multiply-adds of the forward pass (each backward pass has as many).</summary>
    public long MultiplyAdds => (long)N * O * OutH * OutW * C * Kh * Kw;
}

/// <summary>
/// A backend's own convolution kernels (cuDNN, an implicit GEMM, a blocked direct convolution…), registered as a
/// kernel family. <see cref="ConvOps.Conv2d"/> asks the backend for this family and falls back to its generic
/// im2col + GEMM path for every call a family declines, so an implementation may take only the cases it is fast
/// or exact for. Each method either computes its whole result and returns true, or writes nothing and returns false.
/// Bias is not part of the contract (the caller adds it and reduces its gradient). Buffers are contiguous and do not
/// alias each other.
/// </summary>
public interface IConv2dKernels
{
    /// <summary>y (N, O, OutH, OutW) = x ⋆ w; overwrites y.</summary>
    bool TryForward(in Conv2dShape s, Buf x, Buf w, Buf y);

    /// <summary>dx (N, C, H, W) = the gradient of the forward with respect to x for output gradient dy; overwrites dx.
    /// </summary>
    bool TryBackwardData(in Conv2dShape s, Buf dy, Buf w, Buf dx);

    /// <summary>dw (O, C, Kh, Kw) = the gradient of the forward with respect to w for input x and output gradient
    /// dy; overwrites dw.</summary>
    bool TryBackwardFilter(in Conv2dShape s, Buf x, Buf dy, Buf dw);
}
