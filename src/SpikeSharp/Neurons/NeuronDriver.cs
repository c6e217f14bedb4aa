using SpikeSharp.Backends;

namespace SpikeSharp.Neurons;

/// <summary>
/// Where the spike of neuron n at step t sits in the saved bit words (one layout for every backend).
/// Words hold 32 bits. For T ≥ 17 a word holds 32 consecutive steps of one neuron: (ceil(T/32), N) words,
/// bit t % 32 of word (t / 32, n), the seed's layout. For short sequences a word holds <see cref="Lanes"/>
/// neighbouring neurons (2 for 9 ≤ T ≤ 16, 4 for T ≤ 8), each in a field of <see cref="Width"/> bits, so no
/// word is more than half empty: (1, ceil(N / lanes)) words, bit (n % lanes)·width + t of word n / lanes.
/// </summary>
internal static class SpikeBits
{
    /// <summary>Neurons per word for a sequence of <paramref name="T"/> steps: 1, 2 or 4.</summary>
    public static int Lanes(int T) => T <= 8 ? 4 : T <= 16 ? 2 : 1;

    /// <summary>Bits per neuron field in a word: 32, 16 or 8.</summary>
    public static int Width(int T) => 32 / Lanes(T);

    /// <summary>The (rows, words per row) shape of the bit tensor.</summary>
    public static int[] Shape(int T, int N) => new[] { (T + 31) / 32, Word(T, N, 1, 0) };

    /// <summary>Flat index of the word of row <paramref name="row"/> (steps 32·row …) that holds neuron n.</summary>
    public static int Word(int T, int N, int row, int n) => row * ((N + Lanes(T) - 1) / Lanes(T)) + n / Lanes(T);

    /// <summary>
    /// Where neuron n's field starts in its word: shift the word right by this to bring step 32·row to bit 0.
    /// </summary>
    public static int Shift(int T, int n) => n % Lanes(T) * Width(T);

    /// <summary>
    /// Recompute mode: float32 saved state for a sequence of at most 16 steps of a non-adaptive model keeps x
    /// (not h) and the backward pass recomputes h from x, v0 and the spike bits; the forward pass then writes
    /// no h (8 B less traffic per neuron-step and the same 4 B per neuron-step kept).
    /// </summary>
    public static bool Recompute(int T, DType saved, bool adaptive) =>
        RecomputeEnabled && saved == DType.Float32 && T <= 16 && !adaptive;

    /// <summary>
    /// SPIKESHARP_NEURON_RECOMPUTE=0 turns recompute mode off (h is saved at every T; for comparisons).
    /// </summary>
    internal static bool RecomputeEnabled { get; set; } =
        Environment.GetEnvironmentVariable("SPIKESHARP_NEURON_RECOMPUTE") != "0";
}

/// <summary>
/// The float16 saved h is stored in pairs of steps: (ceil(T/2), N, 2), h of (t, n) at ((t / 2)·N + n)·2 + t % 2, so a
/// backward thread reads two steps of its neuron with one 4-byte load instead of two 2-byte ones (on the H200 the
/// backward pass is bound by load instructions as much as by bytes: float16 h read as single halves took as long as
/// float32 h). float32 h keeps the (T, N) layout of x.
/// </summary>
internal static class HalfPairs
{
    /// <summary>The shape of the float16 saved h.</summary>
    public static int[] Shape(int T, int N) => new[] { (T + 1) / 2, N, 2 };

    /// <summary>Flat index of (t, n).</summary>
    public static int Index(int t, int n, int N) => ((t >> 1) * N + n) * 2 + (t & 1);
}

/// <summary>
/// Buffers of one fused multi-step forward pass. x is (T, N) time-major; every parameter buffer has
/// length 1 (shared) or a divisor F of N (per feature: neuron n uses element n % F). Optional buffers are null.
/// </summary>
internal sealed class NeuronForwardArgs
{
    public int Op;                // index in NeuronChecks.Ops (names the op in deferred GPU errors)
    public int T, N;
    public Buf X;                 // (T, N) float32
    public Buf? V0, A0;           // (N) float32; null = zeros
    public Buf Decay, Threshold, Beta, DecayA; // (1 or F) float32; unused ones point at any valid buffer
    public int Soft; public float VReset;
    public Buf Spikes;            // (T, N) float32
    public Buf VT;                // (N) final membrane
    public Buf? AT;               // (N) final adaptation (adaptive models)
    public Buf? H;                // (T, N) float32 or (ceil(T/2), N, 2) float16 (HalfPairs): h saved for backward
    public Buf? HOut;             // (T, N) float32 returned h when H is float16 or absent
    public Buf? Bits;             // int32 packed spikes, layout of SpikeBits
    public Buf? AChk;             // (ceil(T/32), N) float32: a_{32w−1} at the start of word w (adaptive)
}

/// <summary>Buffers of one fused backward pass (see <see cref="NeuronForwardArgs"/> for layouts).</summary>
internal sealed class NeuronBackwardArgs
{
    public int Op;                // index in NeuronChecks.Ops
    public int T, N;
    public Buf? GSpikes;          // (T, N); null = zeros
    public Buf? GVT, GAT;         // (N); null = zeros
    public Buf? H;                // saved h (null in recompute mode: X is given instead)
    public Buf? X;                // recompute mode: the forward input
    public Buf Bits;              // saved
    public Buf? AChk;             // saved (adaptive)
    public Buf? V0;               // (N); null = zeros
    public Buf Decay, Threshold, Beta, DecayA;
    public Buf? Alpha;            // trainable α (1 or F); null = AlphaValue
    public float AlphaValue;
    public int Soft, DetachReset; public float VReset;
    public Buf GX;                // (T, N) out
    public Buf? GV0, GA0;         // (N) out
    // Parameter gradients (same lengths as the parameters), overwritten.
    public Buf? GDecay, GThreshold, GBeta, GDecayA, GAlpha;
}

/// <summary>A backend's fused neuron kernels: a kernel family (see <see cref="KernelFamilies"/>).</summary>
internal interface INeuronDriver
{
    /// <summary>
    /// The values of a parameter buffer when the driver can read them without synchronising (host memory), so
    /// that their ranges are checked at the call; false for drivers whose kernels check the values themselves and
    /// raise a device flag (reported by their <see cref="IDeviceErrorCheck"/>).
    /// </summary>
    bool TryReadOnHost(Buf b, out ReadOnlySpan<float> values);

    /// <summary>Runs the forward pass; returns false when x held NaN/Inf or a parameter was out of range
    /// (backends that cannot tell synchronously return true and raise a device flag instead).</summary>
    bool NeuronForward<TN>(NeuronForwardArgs a) where TN : struct, INeuron;

    /// <summary>Runs the backward pass.</summary>
    void NeuronBackward<TN, TS>(NeuronBackwardArgs a) where TN : struct, INeuron where TS : struct, ISurrogate;
}
