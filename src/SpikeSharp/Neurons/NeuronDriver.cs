using SpikeSharp.Backends;

namespace SpikeSharp.Neurons;

/// <summary>
/// Buffers of one fused multi-step forward pass. x is (T, N) time-major; every parameter buffer has
/// length 1 (shared) or a divisor F of N (per feature: neuron n uses element n % F). Optional buffers are null.
/// </summary>
internal sealed class NeuronForwardArgs
{
    public int T, N;
    public Buf X;                 // (T, N) float32
    public Buf? V0, A0;           // (N) float32; null = zeros
    public Buf Decay, Threshold, Beta, DecayA; // (1 or F) float32; unused ones point at any valid buffer
    public int Soft; public float VReset;
    public Buf Spikes;            // (T, N) float32
    public Buf VT;                // (N) final membrane
    public Buf? AT;               // (N) final adaptation (adaptive models)
    public Buf? H;                // (T, N) float32 or float16: h saved for backward (or returned)
    public Buf? HOut;             // (T, N) float32 returned h when H is float16 or absent
    public Buf? Bits;             // (ceil(T/32), N) int32 packed spikes, bit t % 32 of word t / 32
    public Buf? AChk;             // (ceil(T/32), N) float32: a_{32w−1} at the start of word w (adaptive)
}

/// <summary>Buffers of one fused backward pass (see <see cref="NeuronForwardArgs"/> for layouts).</summary>
internal sealed class NeuronBackwardArgs
{
    public int T, N;
    public Buf? GSpikes;          // (T, N); null = zeros
    public Buf? GVT, GAT;         // (N); null = zeros
    public Buf H, Bits;           // saved
    public Buf? AChk;             // saved (adaptive)
    public Buf? V0;               // (N); null = zeros
    public Buf Decay, Threshold, Beta, DecayA, Alpha;
    public int Soft, DetachReset; public float VReset;
    public Buf GX;                // (T, N) out
    public Buf? GV0, GA0;         // (N) out
    // Parameter gradients (same lengths as the parameters), overwritten.
    public Buf? GDecay, GThreshold, GBeta, GDecayA, GAlpha;
}

/// <summary>A backend that runs the fused neuron kernels.</summary>
internal interface INeuronDriver
{
    /// <summary>Runs the forward pass; returns false when x held NaN/Inf or a parameter was out of range
    /// (backends that cannot tell synchronously return true and raise a device flag instead).</summary>
    bool NeuronForward<TN>(NeuronForwardArgs a) where TN : struct, INeuron;

    /// <summary>Runs the backward pass.</summary>
    void NeuronBackward<TN, TS>(NeuronBackwardArgs a) where TN : struct, INeuron where TS : struct, ISurrogate;
}
