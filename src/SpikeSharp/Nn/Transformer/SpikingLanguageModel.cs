using SpikeSharp.Neurons;
using SpikeSharp.Text;

namespace SpikeSharp.Nn.Transformer;

/// <summary>Hyperparameters of a <see cref="SpikingLanguageModel"/>.</summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="Dim">Model width.</param>
/// <param name="Layers">Number of blocks.</param>
/// <param name="Heads">Attention heads (divides Dim).</param>
/// <param name="MlpRatio">MLP hidden width / Dim.</param>
public sealed record SpikingLmConfig(int VocabSize, int Dim = 384, int Layers = 6, int Heads = 6, int MlpRatio = 4)
{
    /// <summary>Checks every field; throws naming the first bad one.</summary>
    public void Validate()
    {
        if (VocabSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(VocabSize), $"vocab size must be positive, got {VocabSize}");
        if (Dim <= 0) throw new ArgumentOutOfRangeException(nameof(Dim), $"dim must be positive, got {Dim}");
        if (Layers <= 0)
            throw new ArgumentOutOfRangeException(nameof(Layers), $"layers must be positive, got {Layers}");
        if (Heads <= 0 || Dim % Heads != 0)
            throw new ArgumentException($"heads must be positive and divide dim {Dim}, got {Heads}", nameof(Heads));
        if (MlpRatio <= 0)
            throw new ArgumentOutOfRangeException(nameof(MlpRatio), $"mlp ratio must be positive, got {MlpRatio}");
    }
}

/// <summary>
/// A character-level spiking language model: embedding → blocks → LayerNorm → linear head.
/// <c>Forward(tokens (T, B) int32) → logits (T, B, V)</c>. All state (membranes, attention sums) is kept
/// between calls, so feeding a sequence in pieces, or one token at a time, gives the same logits as one pass.
/// </summary>
public sealed class SpikingLanguageModel : Module
{
    /// <summary>Model kind written into checkpoints.</summary>
    public const string Kind = "spiking-lm";

    /// <summary>Builds the model (parameters drawn from <paramref name="gen"/>).</summary>
    public SpikingLanguageModel(SpikingLmConfig config, SpikingOptions? options = null, Generator? gen = null,
        Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var emb = new Embedding(config.VocabSize, config.Dim, gen, device);
        RegisterModule("embed", emb);
        Blocks = new SpikingTransformerBlock[config.Layers];
        var blocks = new BlockList();
        for (int i = 0; i < config.Layers; i++)
            Blocks[i] = blocks.Add(
                new SpikingTransformerBlock(config.Dim, config.Heads, config.MlpRatio, options, gen, device));
        RegisterModule("blocks", blocks);
        RegisterModule("ln_f", new LayerNorm(config.Dim, device: device));
        RegisterModule("head", new Linear(config.Dim, config.VocabSize, gen: gen, device: device));
    }

    /// <summary>The hyperparameters.</summary>
    public SpikingLmConfig Config { get; }

    /// <summary>The blocks, in order.</summary>
    public SpikingTransformerBlock[] Blocks { get; }

    private T Child<T>(string name) where T : Module => (T)NamedChildren().First(c => c.Name == name).Module;

    /// <summary>tokens: (T, B) int32 ids → logits (T, B, V).</summary>
    public override Tensor Forward(Tensor tokens)
    {
        if (tokens.DType != DType.Int32 || tokens.Rank != 2)
            throw new ArgumentException($"SpikingLanguageModel: tokens must be (T, B) int32, got "
                + $"{tokens.DType.Name()} {ShapeUtil.Format(tokens.Shape)}", nameof(tokens));
        // Each block's input is released once the block has run (freed unless a backward rule kept it).
        var x = Child<Embedding>("embed").Forward(tokens);
        foreach (var b in Blocks) x = Tensor.Releasing(x, b.Forward(x));
        var n = Tensor.Releasing(x, Child<LayerNorm>("ln_f").Forward(x));
        return Tensor.Releasing(n, Child<Linear>("head").Forward(n));
    }

    /// <summary>Turns firing-rate tracking of every spiking layer on or off.</summary>
    public void TrackFiringRates(bool on)
    {
        foreach (var (_, m) in NamedModules())
            if (m is LinearLif l) l.TrackFiringRate = on;
    }

    /// <summary>
    /// Synaptic operations per token from the firing rates of the last forward pass (tracking must be on; this
    /// reads the rates to the host). Attention projections read real-valued LayerNorm outputs (MACs); the
    /// MLP's second layer reads spikes (accumulates); the attention accumulation adds where K and V both
    /// spike (rates assumed independent) and the output projection multiplies only where Q spiked.
    /// </summary>
    public EfficiencyReport Efficiency()
    {
        var rows = new List<LayerOps>();
        long d = Config.Dim;
        double Rate(LinearLif l) => l.FiringRate?.Item()
            ?? throw new InvalidOperationException(
                "Efficiency: no firing rates recorded; call TrackFiringRates(true) and run a forward pass first");
        for (int i = 0; i < Blocks.Length; i++)
        {
            var blk = Blocks[i]; var at = blk.Attention;
            string p = $"blocks.{i}.";
            double rq = Rate(at.Query), rk = Rate(at.Key), rv = Rate(at.Value), rh = Rate(blk.Hidden1);
            rows.Add(LayerOps.Dense(p + "attn.q", d, d) with { InputRate = double.NaN });
            rows.Add(LayerOps.Dense(p + "attn.k", d, d));
            rows.Add(LayerOps.Dense(p + "attn.v", d, d));
            rows.Add(new LayerOps(p + "attn.accumulate", 2 * d, 0, (rk * rv + rq) * d, (rk + rv + rq) / 3));
            rows.Add(new LayerOps(p + "attn.proj", d * d, rq * d * d, 0, rq));
            rows.Add(LayerOps.Dense(p + "mlp.fc1", d, blk.Hidden));
            rows.Add(LayerOps.Spiking(p + "mlp.fc2", blk.Hidden, d, rh));
        }
        rows.Add(LayerOps.Dense("head", d, Config.VocabSize));
        return new EfficiencyReport(rows);
    }

    /// <summary>A container so the blocks get the names "blocks.0", "blocks.1", ….</summary>
    private sealed class BlockList : Module
    {
        private int _n;
        public SpikingTransformerBlock Add(SpikingTransformerBlock b) => RegisterModule((_n++).ToString(), b);
        public override Tensor Forward(Tensor x) =>
            throw new NotSupportedException("BlockList is a container; call the blocks");
    }
}
