using SpikeSharp.Backends;

namespace SpikeSharp.Attention;

/// <summary>
/// The fused causal linear-attention accumulation as a backend kernel family: every element of
/// the flattened (B·H·D = N) state walks time on its own. <see cref="CpuCausalAccumulation"/> and
/// <see cref="IlgpuCausalAccumulation"/> implement it; each backend registers its own in its
/// kernel-family file, and <see cref="CausalAccumulation"/> asks the backend of its inputs for it.
/// </summary>
/// <remarks>
/// Forward, for t = 0 … T−1 with S₋₁ = S0 (zeros when absent):
/// S_t = S_{t−1} + K_t ⊙ V_t,  out_t = Q_t ⊙ S_t.
/// Backward, with G_t = Σ_{τ≥t} g_τ ⊙ Q_τ + g_S (the gradient of the final state):
/// gQ_t = g_t ⊙ S_t,  gK_t = G_t ⊙ V_t,  gV_t = G_t ⊙ K_t,  gS0 = G_0.
/// </remarks>
public interface ICausalAccumulationKernels
{
    /// <summary>
    /// q, k, v, output: (T, N) float32; s0: (N) or null for zeros; state: (N), receives S_{T−1}; packed: (T, N)
    /// uint8 or null: when given (q, k and v are spikes, 0 or 1), receives each element's three spikes as one byte
    /// (<see cref="CausalAccumulationBits"/>) for <see cref="BackwardPacked"/>.
    /// </summary>
    void Forward(Buf q, Buf k, Buf v, Buf? s0, Buf output, Buf state, Buf? packed, int steps, int n);

    /// <summary>
    /// Recomputes S_t from q, k, v, s0 (nothing but the inputs is saved) and writes exact gradients.
    /// gOut: (T, N) or null (no gradient reached the output); gState: (N) or null; gq, gk, gv: (T, N);
    /// gs0: (N) or null when not wanted.
    /// </summary>
    void Backward(Buf q, Buf k, Buf v, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n);

    /// <summary><see cref="Backward"/> reading q, k and v from the bytes the forward pass packed.</summary>
    void BackwardPacked(Buf packed, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n);
}
