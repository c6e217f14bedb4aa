namespace SpikeSharp.Nn;

/// <summary>Max pooling over (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel.</summary>
public sealed class MaxPool2d : Module
{
    private readonly (int H, int W) _k, _s, _p;

    /// <summary>Creates the layer.</summary>
    public MaxPool2d((int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null)
    { _k = kernelSize; _s = stride ?? kernelSize; _p = padding ?? (0, 0); }

    /// <summary>Square-kernel convenience constructor (stride 0 = kernel).</summary>
    public MaxPool2d(int kernelSize, int stride = 0, int padding = 0)
        : this((kernelSize, kernelSize), stride > 0 ? (stride, stride) : null, (padding, padding)) { }

    /// <summary>Window size (kh, kw).</summary>
    public (int H, int W) KernelSize => _k;
    /// <summary>Step between windows (sh, sw).</summary>
    public (int H, int W) Stride => _s;
    /// <summary>Padding on each side (ph, pw).</summary>
    public (int H, int W) Padding => _p;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Tensor.MaxPool2d(x, _k, _s, _p);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel={_k}, stride={_s}, padding={_p}";
}

/// <summary>Average pooling over (N, C, H, W) or (T, B, C, H, W); stride defaults to the kernel.</summary>
public sealed class AvgPool2d : Module
{
    private readonly (int H, int W) _k, _s, _p;

    /// <summary>Creates the layer.</summary>
    public AvgPool2d((int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null)
    { _k = kernelSize; _s = stride ?? kernelSize; _p = padding ?? (0, 0); }

    /// <summary>Square-kernel convenience constructor (stride 0 = kernel).</summary>
    public AvgPool2d(int kernelSize, int stride = 0, int padding = 0)
        : this((kernelSize, kernelSize), stride > 0 ? (stride, stride) : null, (padding, padding)) { }

    /// <summary>Window size (kh, kw).</summary>
    public (int H, int W) KernelSize => _k;
    /// <summary>Step between windows (sh, sw).</summary>
    public (int H, int W) Stride => _s;
    /// <summary>Padding on each side (ph, pw).</summary>
    public (int H, int W) Padding => _p;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Tensor.AvgPool2d(x, _k, _s, _p);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel={_k}, stride={_s}, padding={_p}";
}
