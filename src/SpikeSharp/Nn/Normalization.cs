namespace SpikeSharp.Nn;

/// <summary>
/// Batch normalisation with running statistics ("running_mean", "running_var" buffers) and an optional affine
/// transform ("weight" = γ, "bias" = β). Training normalises with the batch statistics and updates the running
/// ones: r ← (1 − momentum)·r + momentum·batch (unbiased variance). Evaluation uses the running statistics.
/// </summary>
public abstract class BatchNormBase : Module
{
    /// <summary>Creates the layer for <paramref name="numFeatures"/> channels.</summary>
    protected BatchNormBase(int numFeatures, float eps, float momentum, bool affine, Device? device)
    {
        if (numFeatures <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(numFeatures), $"BatchNorm: numFeatures must be positive, got {numFeatures}");
        if (!(momentum >= 0f && momentum <= 1f))
            throw new ArgumentOutOfRangeException(
                nameof(momentum), $"BatchNorm: momentum must be in [0, 1], got {momentum}");
        NumFeatures = numFeatures; Eps = eps; Momentum = momentum;
        if (affine)
        {
            RegisterParameter("weight", Tensor.Ones(new[] { numFeatures }, device));
            RegisterParameter("bias", Tensor.Zeros(new[] { numFeatures }, device));
        }
        RegisterBuffer("running_mean", Tensor.Zeros(new[] { numFeatures }, device));
        RegisterBuffer("running_var", Tensor.Ones(new[] { numFeatures }, device));
    }

    /// <summary>C.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the variance.</summary>
    public float Eps { get; }
    /// <summary>Weight of the new batch in the running statistics.</summary>
    public float Momentum { get; }
    /// <summary>γ (C) or null.</summary>
    public Tensor? Weight => TryParam("weight");
    /// <summary>β (C) or null.</summary>
    public Tensor? Bias => TryParam("bias");
    /// <summary>Running mean (C).</summary>
    public Tensor RunningMean => Buffer("running_mean")!;
    /// <summary>Running variance (C).</summary>
    public Tensor RunningVar => Buffer("running_var")!;

    /// <summary>Normalises an input whose channel dim is 1.</summary>
    protected Tensor Normalize(Tensor x) =>
        Tensor.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, IsTraining, Momentum, Eps);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumFeatures}, eps={Eps}, momentum={Momentum}, affine={Weight != null}";
}

/// <summary>
/// Batch norm over (N, C) or (N, C, L) inputs. For (T, B, C) sequences wrap it in <see cref="MultiStep"/>.
/// </summary>
public sealed class BatchNorm1d : BatchNormBase
{
    /// <summary>Creates the layer.</summary>
    public BatchNorm1d(
        int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, Device? device = null)
        : base(numFeatures, eps, momentum, affine, device) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank is not (2 or 3) || x.Size(1) != NumFeatures)
            throw new ArgumentException($"BatchNorm1d: expected (N, {NumFeatures}) or (N, {NumFeatures}, L), "
                + $"got {ShapeUtil.Format(x.Shape)}", nameof(x));
        return Normalize(x);
    }
}

/// <summary>Batch norm over (N, C, H, W), or (T, B, C, H, W) normalised over T·B.</summary>
public sealed class BatchNorm2d : BatchNormBase
{
    /// <summary>Creates the layer.</summary>
    public BatchNorm2d(
        int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, Device? device = null)
        : base(numFeatures, eps, momentum, affine, device) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank == 5)
        {
            var folded = MultiStep.Fold(x);
            var y = Forward(folded);
            folded.Release();
            return Tensor.Releasing(y, MultiStep.Unfold(y, x.Size(0)));
        }
        if (x.Rank != 4 || x.Size(1) != NumFeatures)
            throw new ArgumentException($"BatchNorm2d: expected (N, {NumFeatures}, H, W) or "
                + $"(T, B, {NumFeatures}, H, W), got {ShapeUtil.Format(x.Shape)}", nameof(x));
        return Normalize(x);
    }
}

/// <summary>
/// Layer normalisation over the trailing dims given by <c>normalizedShape</c>, with elementwise affine.
/// </summary>
public sealed class LayerNorm : Module
{
    private readonly int[] _shape;

    /// <summary>Creates the layer; γ = 1, β = 0 of shape <paramref name="normalizedShape"/>.</summary>
    public LayerNorm(int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, Device? device = null)
    {
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException(
                $"LayerNorm: normalizedShape must be non-empty and positive, got {ShapeUtil.Format(normalizedShape)}",
                nameof(normalizedShape));
        _shape = (int[])normalizedShape.Clone(); Eps = eps;
        if (elementwiseAffine)
        {
            RegisterParameter("weight", Tensor.Ones(_shape, device));
            RegisterParameter("bias", Tensor.Zeros(_shape, device));
        }
    }

    /// <summary>Normalises over the last dim of size <paramref name="features"/>.</summary>
    public LayerNorm(int features, float eps = 1e-5f, bool elementwiseAffine = true, Device? device = null)
        : this(new[] { features }, eps, elementwiseAffine, device) { }

    /// <summary>ε added to the variance.</summary>
    public float Eps { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < _shape.Length || !x.Shape.Skip(x.Rank - _shape.Length).SequenceEqual(_shape))
            throw new ArgumentException(
                $"LayerNorm: input {ShapeUtil.Format(x.Shape)} does not end in {ShapeUtil.Format(_shape)}", nameof(x));
        return Tensor.LayerNorm(x, _shape.Length, TryParam("weight"), TryParam("bias"), Eps);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{ShapeUtil.Format(_shape)}, eps={Eps}";
}
