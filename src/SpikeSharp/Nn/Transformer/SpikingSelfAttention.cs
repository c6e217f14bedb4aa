using SpikeSharp.Attention;
using SpikeSharp.Neurons;

namespace SpikeSharp.Nn.Transformer;

/// <summary>
/// Spiking causal linear self-attention over time: Q, K, V are spikes of LIF neurons fed by linear maps
/// of x; the running sum of K ⊙ V is kept between calls for streaming; a linear layer projects the result.
/// Input and output (T, B, dim).
/// </summary>
/// <remarks>
/// Q = LIF(W_q x), K = LIF(W_k x), V = LIF(W_v x), viewed as (T, B, heads, dim / heads);
/// S_t = S_{t−1} + K_t ⊙ V_t, a_t = Q_t ⊙ S_t; y_t = W_o a_t + b_o. The accumulation is elementwise, so
/// heads only group channels (the shape of the state); it runs in one fused kernel with an exact backward.
/// </remarks>
public sealed class SpikingSelfAttention : Module
{
    /// <summary>Creates the layer; <paramref name="dim"/> must be a multiple of <paramref name="heads"/>.</summary>
    public SpikingSelfAttention(int dim, int heads, SpikingOptions? options = null, Generator? gen = null,
        Device? device = null)
    {
        if (dim <= 0 || heads <= 0 || dim % heads != 0)
            throw new ArgumentException("SpikingSelfAttention: dim must be a positive multiple of heads, "
                + $"got dim={dim}, heads={heads}", nameof(heads));
        Dim = dim; Heads = heads;
        RegisterModule("q", new LinearLif(dim, dim, options: options, gen: gen, device: device));
        RegisterModule("k", new LinearLif(dim, dim, options: options, gen: gen, device: device));
        RegisterModule("v", new LinearLif(dim, dim, options: options, gen: gen, device: device));
        RegisterModule("proj", new Linear(dim, dim, gen: gen, device: device));
        RegisterBuffer("kv_state", null, persistent: false);
    }

    /// <summary>Model width.</summary>
    public int Dim { get; }
    /// <summary>Number of heads.</summary>
    public int Heads { get; }
    /// <summary>The query neurons.</summary>
    public LinearLif Query => (LinearLif)NamedChildren().First(c => c.Name == "q").Module;
    /// <summary>The key neurons.</summary>
    public LinearLif Key => (LinearLif)NamedChildren().First(c => c.Name == "k").Module;
    /// <summary>The value neurons.</summary>
    public LinearLif Value => (LinearLif)NamedChildren().First(c => c.Name == "v").Module;
    /// <summary>The output projection.</summary>
    public Linear Projection => (Linear)NamedChildren().First(c => c.Name == "proj").Module;
    /// <summary>The kept running sum (B, heads, dim / heads), or null.</summary>
    public Tensor? State => Buffer("kv_state");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary><see cref="Forward(Tensor)"/> whose q, k, v weight gradients read x again through
    /// <paramref name="again"/> (when given) instead of keeping it.</summary>
    internal Tensor Forward(Tensor x, RowsAgain? again)
    {
        if (x.Rank != 3 || x.Size(2) != Dim)
            throw new ArgumentException(
                $"SpikingSelfAttention: expected (T, B, {Dim}), got {ShapeUtil.Format(x.Shape)}", nameof(x));
        int t = x.Size(0), b = x.Size(1), hd = Dim / Heads;
        Tensor Heads4(LinearLif l)
        {
            var y = l.Forward(x, again);
            return Tensor.Releasing(y, y.Reshape(t, b, Heads, hd));
        }
        var q = Heads4(Query);
        var k = Heads4(Key);
        var v = Heads4(Value);
        var s0 = State;
        if (s0 != null && (s0.Size(0) != b))
            throw new InvalidOperationException($"SpikingSelfAttention: the kept state is for batch {s0.Size(0)}, "
                + $"this input has batch {b}; call ResetState() when the batch changes");
        var (a, s) = CausalAccumulation.Forward(q, k, v, s0);
        // q, k and v stay until the accumulation's backward has read them; the rest of this call goes now.
        q.Release(); k.Release(); v.Release();
        SetBuffer("kv_state", s.Detach());
        s.Release();
        var merged = Tensor.Releasing(a, a.Reshape(t, b, Dim));
        return Tensor.Releasing(merged, Projection.Forward(merged));
    }

    /// <inheritdoc/>
    protected override void ResetOwnState() => SetBuffer("kv_state", null);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"dim={Dim}, heads={Heads}";
}
