namespace SpikeSharp.Nn;

/// <summary>
/// 2-D convolution. Input (N, C, H, W), or (T, B, C, H, W) with time folded into the batch; output
/// (N, O, Ho, Wo) or (T, B, O, Ho, Wo).
/// </summary>
public sealed class Conv2d : Module
{
    /// <summary>
    /// Creates the layer with PyTorch's default init (U(−1/√fanIn, 1/√fanIn), fanIn = C·kh·kw).
    /// </summary>
    public Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W)? stride = null,
        (int H, int W)? padding = null, bool bias = true, Generator? gen = null, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize.H <= 0 || kernelSize.W <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(kernelSize),
                "Conv2d: channels and kernel must be positive, "
                + $"got in={inChannels}, out={outChannels}, kernel={kernelSize}");
        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize;
        Stride = stride ?? (1, 1); Padding = padding ?? (0, 0);
        int fanIn = inChannels * kernelSize.H * kernelSize.W;
        RegisterParameter(
            "weight",
            Init.KaimingUniform(new[] { outChannels, inChannels, kernelSize.H, kernelSize.W }, fanIn, gen, device));
        if (bias) RegisterParameter("bias", Init.KaimingUniform(new[] { outChannels }, fanIn, gen, device));
    }

    /// <summary>Square-kernel convenience constructor.</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true,
        Generator? gen = null, Device? device = null)
        : this(
            inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding),
            bias, gen, device) { }

    /// <summary>C.</summary>
    public int InChannels { get; }
    /// <summary>O.</summary>
    public int OutChannels { get; }
    /// <summary>(kh, kw).</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Stride.</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Zero padding on each side.</summary>
    public (int H, int W) Padding { get; }
    /// <summary>(O, C, kh, kw).</summary>
    public Tensor Weight => Param("weight");
    /// <summary>(O) or null.</summary>
    public Tensor? Bias => TryParam("bias");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Tensor.Conv2d(x, Weight, Bias, Stride, Padding);

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel={KernelSize}, stride={Stride}, padding={Padding}";
}
