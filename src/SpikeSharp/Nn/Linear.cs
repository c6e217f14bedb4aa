namespace SpikeSharp.Nn;

/// <summary>y = x·Wᵀ + b over the last dim; any leading dims (T, B, ...) pass through.</summary>
public sealed class Linear : Module
{
    /// <summary>Creates the layer with PyTorch's default init: W, b ~ U(−1/√in, 1/√in).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? gen = null, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(inFeatures), $"Linear: features must be positive, got in={inFeatures}, out={outFeatures}");
        InFeatures = inFeatures; OutFeatures = outFeatures;
        RegisterParameter("weight", Init.KaimingUniform(new[] { outFeatures, inFeatures }, inFeatures, gen, device));
        if (bias) RegisterParameter("bias", Init.KaimingUniform(new[] { outFeatures }, inFeatures, gen, device));
    }

    /// <summary>Input size.</summary>
    public int InFeatures { get; }
    /// <summary>Output size.</summary>
    public int OutFeatures { get; }
    /// <summary>(out, in).</summary>
    public Tensor Weight => Param("weight");
    /// <summary>(out) or null.</summary>
    public Tensor? Bias => TryParam("bias");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Tensor.Linear(x, Weight, Bias);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in={InFeatures}, out={OutFeatures}, bias={Bias != null}";
}

/// <summary>Rows of a (V, D) table picked by int32 indices: (indices..., D).</summary>
public sealed class Embedding : Module
{
    /// <summary>Creates the table with N(0, 1) entries.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, Generator? gen = null, Device? device = null)
    {
        if (numEmbeddings <= 0 || embeddingDim <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(numEmbeddings), $"Embedding: sizes must be positive, got {numEmbeddings}×{embeddingDim}");
        RegisterParameter("weight", Tensor.Randn(new[] { numEmbeddings, embeddingDim }, gen, device));
    }

    /// <summary>(V, D).</summary>
    public Tensor Weight => Param("weight");

    /// <summary>indices: int32 of any shape.</summary>
    public override Tensor Forward(Tensor indices) => Weight.Embedding(indices);
}

/// <summary>Merges dims [startDim, endDim]; use startDim = 2 for (T, B, ...) sequences.</summary>
public sealed class Flatten : Module
{
    private readonly int _start, _end;

    /// <summary>Flattens dims startDim..endDim (default: all but the batch dim).</summary>
    public Flatten(int startDim = 1, int endDim = -1) { _start = startDim; _end = endDim; }

    /// <summary>First dim merged (negative counts from the end).</summary>
    public int StartDim => _start;
    /// <summary>Last dim merged (negative counts from the end).</summary>
    public int EndDim => _end;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => x.Flatten(_start, _end);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"start={_start}, end={_end}";
}
