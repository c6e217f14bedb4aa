namespace SpikeSharp.Backends;

/// <summary>
/// The geometry of one 2-D max pooling of a contiguous (N, C, H, W) float32 input into a contiguous
/// (N, C, OutH, OutW) output; padding counts as −∞.
/// </summary>
public readonly record struct Pool2dShape(int N, int C, int H, int W, int Kh, int Kw, int StrideH, int StrideW,
    int PadH, int PadW)
{
    /// <summary>Output height: (H + 2·PadH − Kh) / StrideH + 1.</summary>
    public int OutH => (H + 2 * PadH - Kh) / StrideH + 1;

    /// <summary>Output width: (W + 2·PadW − Kw) / StrideW + 1.</summary>
    public int OutW => (W + 2 * PadW - Kw) / StrideW + 1;
}

/// <summary>
/// A backend's own max-pooling kernels, registered as a kernel family. <see cref="Tensor.MaxPool2d"/> falls back to
/// its generic window gather + reduction for every call a family declines. Each method either computes its whole
/// result and returns true, or writes nothing and returns false. The window's taps are numbered i·Kw + j; the
/// maximum is the first largest value in that order (a NaN counts as the largest), as the generic path's argmax.
/// </summary>
public interface IMaxPool2dKernels
{
    /// <summary>y = the maximum of each window; argmax (int32, y's shape), when given, = its tap number.</summary>
    bool TryForward(in Pool2dShape s, Buf x, Buf y, Buf? argmax);

    /// <summary>dx (N, C, H, W) = dy routed to the input position of each window's tap argmax; overwrites dx.</summary>
    bool TryBackward(in Pool2dShape s, Buf dy, Buf argmax, Buf dx);
}
