using SpikeSharp.Nn;

namespace SpikeSharp.Nir;

/// <summary>
/// Elementwise y = x ⊙ scale (+ bias) over the trailing dims (any leading dims, (N, …) or (T, B, …), broadcast):
/// NIR's Scale node, and the input gain and offset an imported neuron node needs when its NIR parameters do not give a
/// unit input weight (r·dt/τ ≠ 1, or a leak voltage v_leak ≠ 0). The values are fixed buffers, not trained.
/// </summary>
public sealed class Scale : Module
{
    /// <summary>Creates the layer.</summary>
    /// <param name="scale">Per-element factors, of shape <paramref name="shape"/>.</param>
    /// <param name="shape">The per-sample shape the layer applies to (the trailing dims of its input).</param>
    /// <param name="bias">Per-element offsets of the same shape, or null for none.</param>
    /// <param name="device">Where the buffers live.</param>
    /// <exception cref="ArgumentException">The arrays do not hold <paramref name="shape"/>'s element count.</exception>
    public Scale(float[] scale, int[] shape, float[]? bias = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(shape);
        long n = ShapeUtil.Numel(shape);
        if (shape.Length == 0 || shape.Any(d => d <= 0) || scale.Length != n)
            throw new ArgumentException(
                $"Scale: {scale.Length} factors do not fill the shape {ShapeUtil.Format(shape)}", nameof(scale));
        if (bias != null && bias.Length != n)
            throw new ArgumentException($"Scale: {bias.Length} offsets do not fill the shape {ShapeUtil.Format(shape)}",
                nameof(bias));
        SampleShape = (int[])shape.Clone();
        RegisterBuffer("scale", Tensor.FromArray((float[])scale.Clone(), SampleShape, device));
        RegisterBuffer("bias", bias is null ? null : Tensor.FromArray((float[])bias.Clone(), SampleShape, device));
    }

    /// <summary>The per-sample shape (the trailing dims of the input).</summary>
    public int[] SampleShape { get; }
    /// <summary>The factors, of <see cref="SampleShape"/>.</summary>
    public Tensor Factors => Buffer("scale")!;
    /// <summary>The offsets, or null.</summary>
    public Tensor? Offsets => Buffer("bias");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank <= SampleShape.Length || !x.Shape.AsSpan(x.Rank - SampleShape.Length).SequenceEqual(SampleShape))
            throw new ArgumentException($"Scale: input {ShapeUtil.Format(x.Shape)} does not end in the layer's shape " +
                $"{ShapeUtil.Format(SampleShape)}", nameof(x));
        var y = x.Mul(Factors);
        return Offsets is { } b ? y.Add(b) : y;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{ShapeUtil.Format(SampleShape)}, bias={Offsets != null}";
}

/// <summary>
/// Sum pooling (NIR's SumPool2d) over (N, C, H, W) or (T, B, C, H, W): the window sum, i.e. average pooling (zeros
/// of the padding included) times the window size.
/// </summary>
public sealed class SumPool2d : Module
{
    /// <summary>Creates the layer; the stride defaults to the kernel.</summary>
    public SumPool2d((int H, int W) kernelSize, (int H, int W)? stride = null, (int H, int W)? padding = null)
    {
        if (kernelSize.H <= 0 || kernelSize.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize),
                $"SumPool2d: the kernel must be positive, got {kernelSize}");
        KernelSize = kernelSize; Stride = stride ?? kernelSize; Padding = padding ?? (0, 0);
    }

    /// <summary>Window size.</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Step between windows.</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Zero padding on each side.</summary>
    public (int H, int W) Padding { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) =>
        Tensor.AvgPool2d(x, KernelSize, Stride, Padding).MulScalar(KernelSize.H * KernelSize.W);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel={KernelSize}, stride={Stride}, padding={Padding}";
}
