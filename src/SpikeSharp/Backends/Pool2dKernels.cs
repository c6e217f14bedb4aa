namespace SpikeSharp.Backends;

/// <summary>
/// The geometry of one 2-D pooling of a contiguous (N, C, H, W) float32 input into a contiguous (N, C, OutH, OutW)
/// output. Window taps are numbered i·Kw + j.
/// </summary>
public readonly record struct Pool2dShape(int N, int C, int H, int W, int Kh, int Kw, int StrideH, int StrideW,
    int PadH, int PadW)
{
    /// <summary>Output height: (H + 2·PadH − Kh) / StrideH + 1.</summary>
    public int OutH => (H + 2 * PadH - Kh) / StrideH + 1;

    /// <summary>Output width: (W + 2·PadW − Kw) / StrideW + 1.</summary>
    public int OutW => (W + 2 * PadW - Kw) / StrideW + 1;

    /// <summary>Taps of a window: Kh·Kw.</summary>
    public int Taps => Kh * Kw;

    /// <summary>Elements of the input.</summary>
    public int InputNumel => N * C * H * W;

    /// <summary>Elements of the output.</summary>
    public int OutputNumel => N * C * OutH * OutW;
}

/// <summary>
/// A backend's own pooling kernels, registered as a kernel family: one pass forward and one pass backward instead of
/// the generic window gather (Kh·Kw times the input), reduction and per-tap scatters.
/// <see cref="PoolingOps.MaxPool2d"/> and <see cref="PoolingOps.AvgPool2d"/> fall back to their generic paths for every
/// call a family declines. Each method either computes its whole result and returns true, or writes nothing and returns
/// false. Max pooling pads with −∞ and picks the first largest value in tap order (a NaN counts as the largest),
/// recording its tap as one byte (so windows of more than 256 taps are declined, as are padded planes of 2¹⁶ rows or
/// columns); average pooling pads with 0 and counts the padding.
/// </summary>
public interface IPool2dKernels
{
    /// <summary>y = the maximum of each window; argmax (uint8, y's shape), when given, = its tap number.</summary>
    bool TryMaxForward(in Pool2dShape s, Buf x, Buf y, Buf? argmax);

    /// <summary>dx = dy routed to the input position of each window's argmax tap (overlapping windows add up in tap
    /// order); overwrites dx.</summary>
    bool TryMaxBackward(in Pool2dShape s, Buf dy, Buf argmax, Buf dx);

    /// <summary>y = the mean of each window's Kh·Kw taps.</summary>
    bool TryAvgForward(in Pool2dShape s, Buf x, Buf y);

    /// <summary>dx = Σ over the windows that contain each input of dy/(Kh·Kw), in tap order; overwrites dx.</summary>
    bool TryAvgBackward(in Pool2dShape s, Buf dy, Buf dx);
}
