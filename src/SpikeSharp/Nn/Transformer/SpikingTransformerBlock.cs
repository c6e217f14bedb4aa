using SpikeSharp.Neurons;

namespace SpikeSharp.Nn.Transformer;

/// <summary>
/// A pre-norm spiking transformer block on (T, B, dim): x + Attn(LN(x)·s₁), then x + MLP(LN(x)·s₂) with
/// MLP = Linear → LIF → Linear (the first two fused as <see cref="LinearLif"/>) and learnable scalars s₁, s₂.
/// State (membranes, attention sums) is kept between calls.
/// </summary>
public sealed class SpikingTransformerBlock : Module
{
    /// <summary>Creates the block; the MLP's hidden width is <paramref name="mlpRatio"/> · dim.</summary>
    public SpikingTransformerBlock(int dim, int heads, int mlpRatio = 4, SpikingOptions? options = null,
        Generator? gen = null, Device? device = null)
    {
        if (mlpRatio <= 0)
            throw new ArgumentOutOfRangeException(nameof(mlpRatio),
                $"SpikingTransformerBlock: mlpRatio must be positive, got {mlpRatio}");
        Dim = dim; Hidden = dim * mlpRatio;
        RegisterModule("ln1", new LayerNorm(dim, device: device));
        RegisterModule("attn", new SpikingSelfAttention(dim, heads, options, gen, device));
        RegisterModule("ln2", new LayerNorm(dim, device: device));
        RegisterModule("fc1", new LinearLif(dim, Hidden, options: options, gen: gen, device: device));
        RegisterModule("fc2", new Linear(Hidden, dim, gen: gen, device: device));
        RegisterParameter("attn_scale", Tensor.Ones(new[] { 1 }, device));
        RegisterParameter("mlp_scale", Tensor.Ones(new[] { 1 }, device));
    }

    /// <summary>Model width.</summary>
    public int Dim { get; }
    /// <summary>MLP hidden width.</summary>
    public int Hidden { get; }

    private T Child<T>(string name) where T : Module => (T)NamedChildren().First(c => c.Name == name).Module;

    /// <summary>The attention layer.</summary>
    public SpikingSelfAttention Attention => Child<SpikingSelfAttention>("attn");
    /// <summary>The MLP's spiking hidden layer.</summary>
    public LinearLif Hidden1 => Child<LinearLif>("fc1");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        // Each intermediate is released once used: freed then, or when the backward rule that kept it has run.
        // LN(x)·s is one op (LayerNormOps): it keeps x and the row statistics, not LN(x) nor x̂; the layers after
        // it recompute LN(x)·s from x (one launch) for their weight gradients instead of keeping it.
        var s1 = Norm("ln1", x, Param("attn_scale"));
        var a = Tensor.Releasing(s1, Attention.Forward(s1, Again("ln1", x, Param("attn_scale"))));
        var x1 = Tensor.Releasing(a, x.Add(a));
        var s2 = Norm("ln2", x1, Param("mlp_scale"));
        var h = Tensor.Releasing(s2, Hidden1.Forward(s2, Again("ln2", x1, Param("mlp_scale"))));
        var m = Tensor.Releasing(h, Child<Linear>("fc2").Forward(h));
        var y = x1.Add(m);
        x1.Release(); m.Release();
        return y;
    }

    // The named LayerNorm child's normalisation of x times the scalar.
    private Tensor Norm(string name, Tensor x, Tensor scale)
    {
        var ln = Child<LayerNorm>(name);
        Tensor? weight = null, bias = null;
        foreach (var (n, p) in ln.NamedParameters())
            if (n == "weight") weight = p;
            else if (n == "bias") bias = p;
        return x.ScaledLayerNorm(weight, bias, scale, ln.Eps);
    }

    // The same normalisation made again in a backward pass (no gradient); x stays alive until then.
    private RowsAgain Again(string name, Tensor x, Tensor scale) => new(() => Norm(name, x, scale), new[] { x });

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"dim={Dim}, hidden={Hidden}";
}
