using SpikeSharp.Autograd;
using SpikeSharp.Backends;

namespace SpikeSharp.Attention;

/// <summary>The fused causal linear-attention accumulation, an autograd op with an exact backward.</summary>
public static class CausalAccumulation
{
    // Whole numbers up to 2⁸ have at most 8 significant bits: exact in bfloat16.
    private const int MaxExactSteps = 256;

    /// <summary>
    /// Causal linear attention over time. q, k, v: (T, …) of equal shapes, time-major (typically
    /// (T, B, H, D)); s0: the running sum carried in from an earlier chunk, shaped like one time step
    /// (…), or null for zeros. Returns out (T, …) and the final running sum (…) for streaming.
    /// </summary>
    /// <remarks>
    /// S_t = S_{t−1} + K_t ⊙ V_t (S₋₁ = S0), out_t = Q_t ⊙ S_t. Backward with
    /// G_t = Σ_{τ≥t} g_τ ⊙ Q_τ + g_{S}: gQ_t = g_t ⊙ S_t, gK_t = G_t ⊙ V_t, gV_t = G_t ⊙ K_t, gS0 = G_0.
    /// Only the inputs are kept for backward (spikes as one byte per element for all three,
    /// <see cref="CausalAccumulationBits"/>); the running sums are recomputed there. With spikes for q, k and v,
    /// no <paramref name="s0"/> and T ≤ 256 the output holds whole counts up to 256 and is marked
    /// <see cref="Tensor.IsBf16Exact"/>.
    /// </remarks>
    /// <exception cref="ArgumentException">Shapes, dtypes or devices disagree.</exception>
    /// <exception cref="NotSupportedException">The inputs' backend has no causal accumulation kernels.</exception>
    public static (Tensor Output, Tensor State) Forward(Tensor q, Tensor k, Tensor v, Tensor? s0 = null)
    {
        Check(q, k, v, s0);
        var kernels = q.Backend.Require<ICausalAccumulationKernels>("causal_accumulation");
        int steps = q.Size(0), n = q.Numel / Math.Max(1, steps);
        var stepShape = q.Shape[1..];
        var output = Tensor.Empty(q.Shape, DType.Float32, q.Device);
        var state = Tensor.Empty(stepShape, DType.Float32, q.Device);
        // Spikes are kept for the backward as one byte per element (all three), not three float32 tensors.
        bool spikes = q.IsBinary && k.IsBinary && v.IsBinary;
        var packed = spikes && n > 0 && Tape.Needs(q, k, v, s0) ? Tensor.Empty(q.Shape, DType.UInt8, q.Device) : null;
        if (n > 0) kernels.Forward(q.Buf, k.Buf, v.Buf, s0?.Buf, output.Buf, state.Buf, packed?.Buf, steps, n);
        else if (state.Numel > 0) q.Backend.Fill(state.Buf, 0f);
        // Spikes in, no carried sum: every output is a whole count 0..T, which bfloat16 holds exactly up to 256, so
        // the projection after it may take the exact spike GEMMs (Precision.ExactSpikeGemm).
        if (s0 == null && steps <= MaxExactSteps && spikes) output.IsBf16Exact = true;

        // With the packed bytes kept, q, k and v may be freed before the backward runs: it reads only these.
        var shape = q.Shape;
        var dev = q.Device;
        var saves = packed != null ? Saves.Of(packed, s0) : Saves.Of(q, k, v, s0);
        Tape.Record("causal_accumulation", new[] { output, state }, new[] { q, k, v, s0 }, saves, g =>
        {
            var (gOut, gState) = (g[0], g[1]);
            if (n == 0) return new Tensor?[4];
            var gq = Tensor.Empty(shape, DType.Float32, dev);
            var gk = Tensor.Empty(shape, DType.Float32, dev);
            var gv = Tensor.Empty(shape, DType.Float32, dev);
            var gs0 = s0 is { RequiresGrad: true } ? Tensor.Empty(stepShape, DType.Float32, dev) : null;
            if (packed != null)
                kernels.BackwardPacked(packed.Buf, s0?.Buf, gOut?.Buf, gState?.Buf,
                    gq.Buf, gk.Buf, gv.Buf, gs0?.Buf, steps, n);
            else
                kernels.Backward(q.Buf, k.Buf, v.Buf, s0?.Buf, gOut?.Buf, gState?.Buf,
                    gq.Buf, gk.Buf, gv.Buf, gs0?.Buf, steps, n);
            return new[] { gq, gk, gv, gs0 };
        });
        packed?.Release(); // freed once the backward has read it (now, without one)
        return (output, state);
    }

    private static void Check(Tensor q, Tensor k, Tensor v, Tensor? s0)
    {
        const string op = "causal_accumulation";
        foreach (var (t, name) in new[] { (q, "q"), (k, "k"), (v, "v") })
        {
            if (t.DType != DType.Float32)
                throw new ArgumentException($"{op}: {name} must be float32, got {t.DType.Name()}", name);
            if (t.Device != q.Device)
                throw new ArgumentException($"{op}: {name} is on {t.Device}, q on {q.Device}", name);
        }
        string qShape = ShapeUtil.Format(q.Shape);
        if (q.Rank < 1)
            throw new ArgumentException($"{op}: q must be time-major (T, ...), got shape {qShape}", nameof(q));
        if (!k.Shape.SequenceEqual(q.Shape))
            throw new ArgumentException(
                $"{op}: k has shape {ShapeUtil.Format(k.Shape)}, expected q's {qShape}", nameof(k));
        if (!v.Shape.SequenceEqual(q.Shape))
            throw new ArgumentException(
                $"{op}: v has shape {ShapeUtil.Format(v.Shape)}, expected q's {qShape}", nameof(v));
        if (s0 == null) return;
        if (s0.DType != DType.Float32 || s0.Device != q.Device)
            throw new ArgumentException(
                $"{op}: s0 must be float32 on {q.Device}, got {s0.DType.Name()} on {s0.Device}", nameof(s0));
        if (!s0.Shape.SequenceEqual(q.Shape[1..]))
            throw new ArgumentException($"{op}: s0 has shape {ShapeUtil.Format(s0.Shape)}, expected one time step "
                + $"of q {ShapeUtil.Format(q.Shape[1..])}", nameof(s0));
    }
}
