using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Neurons;
using SpikeSharp.Neurons.Ilgpu;

namespace SpikeSharp.Backends.Ilgpu;

// The ILGPU backend's driver of the fused neuron kernels: buffers → views, then one launch per direction.
public sealed partial class IlgpuBackend : INeuronDriver
{
    private Tensor? _neuronFlags;
    private long _neuronLaunches, _neuronLaunchesChecked;

    /// <summary>The device-side flag word of the neuron kernels (1: NaN/Inf in x, 2: decay out of range, 4: α ≤ 0).</summary>
    internal Tensor NeuronFlags => _neuronFlags ??= Tensor.Zeros(new[] { 1 }, Device, DType.Int32).Persist();

    /// <summary>
    /// Reads and clears the neuron flag word; throws when a kernel raised a flag. Called from the backend's
    /// error check at the next synchronising host read (no extra synchronisation in the training step).
    /// </summary>
    internal void ThrowIfNeuronFlags()
    {
        // Only when neuron kernels ran since the last check: a host read pays one 4-byte copy, a sync point none.
        long launched = Interlocked.Read(ref _neuronLaunches);
        if (_neuronFlags == null || launched == Interlocked.Read(ref _neuronLaunchesChecked)) return;
        Interlocked.Exchange(ref _neuronLaunchesChecked, launched);
        var f = new int[1];
        View<int>(_neuronFlags.Buf).CopyToCPU(Stream, f.AsSpan());
        Stream.Synchronize();
        if (f[0] == 0) return;
        View<int>(_neuronFlags.Buf).MemSetToZero(Stream);
        Stream.Synchronize();
        var what = new List<string>();
        if ((f[0] & 1) != 0) what.Add("x held NaN or Inf");
        if ((f[0] & 2) != 0) what.Add("decay or decayA was outside (0, 1]");
        if ((f[0] & 4) != 0) what.Add("alpha was not > 0");
        throw new InvalidOperationException($"spiking neuron kernels on {Device}: {string.Join("; ", what)} in a call since the last check");
    }

    private ArrayView<float> F(Buf? b, ArrayView<float> dummy) => b is { } x ? View<float>(x) : dummy;

    bool INeuronDriver.NeuronForward<TN>(NeuronForwardArgs a)
    {
        var dummy = View<float>(a.Threshold);
        var hb = a.H;
        var v = new FwdViews
        {
            X = View<float>(a.X), V0 = F(a.V0, dummy), A0 = F(a.A0, dummy), Decay = View<float>(a.Decay), Threshold = dummy,
            Beta = View<float>(a.Beta), DecayA = View<float>(a.DecayA), Spikes = View<float>(a.Spikes), VT = View<float>(a.VT),
            AT = F(a.AT, dummy), H32 = hb is { DType: DType.Float32 } h32 ? View<float>(h32) : dummy,
            H16 = hb is { DType: DType.Float16 } h16 ? View<ILGPU.Half>(h16) : View<ILGPU.Half>(Scratch16()),
            HOut = F(a.HOut, dummy), AChk = F(a.AChk, dummy),
            Bits = a.Bits is { } bits ? View<int>(bits) : View<int>(NeuronFlags.Buf), Flags = View<int>(NeuronFlags.Buf),
            T = a.T, N = a.N, HasV0 = a.V0 != null ? 1 : 0, HasA0 = a.A0 != null ? 1 : 0, HasAT = a.AT != null ? 1 : 0,
            HasH32 = hb is { DType: DType.Float32 } ? 1 : 0, HasH16 = hb is { DType: DType.Float16 } ? 1 : 0,
            HasHOut = a.HOut != null ? 1 : 0, HasBits = a.Bits != null ? 1 : 0, Soft = a.Soft, VReset = a.VReset,
        };
        NeuronKernels.LaunchForward<TN>(Accelerator, Stream, v);
        Interlocked.Increment(ref _neuronLaunches);
        return true; // validity is reported through the device flag
    }

    void INeuronDriver.NeuronBackward<TN, TS>(NeuronBackwardArgs a)
    {
        var dummy = View<float>(a.Threshold);
        foreach (var g in new[] { a.GDecay, a.GThreshold, a.GBeta, a.GDecayA, a.GAlpha }) if (g is { } gb) Fill(gb, 0f);
        var v = new BwdViews
        {
            GSpikes = F(a.GSpikes, dummy), GVT = F(a.GVT, dummy), GAT = F(a.GAT, dummy),
            H32 = a.H.DType == DType.Float32 ? View<float>(a.H) : dummy,
            H16 = a.H.DType == DType.Float16 ? View<ILGPU.Half>(a.H) : View<ILGPU.Half>(Scratch16()),
            AChk = F(a.AChk, dummy), V0 = F(a.V0, dummy), Decay = View<float>(a.Decay), Threshold = dummy, Beta = View<float>(a.Beta),
            DecayA = View<float>(a.DecayA), Alpha = View<float>(a.Alpha), GX = View<float>(a.GX), GV0 = F(a.GV0, dummy), GA0 = F(a.GA0, dummy),
            GDecay = F(a.GDecay, dummy), GThreshold = F(a.GThreshold, dummy), GBeta = F(a.GBeta, dummy), GDecayA = F(a.GDecayA, dummy),
            GAlpha = F(a.GAlpha, dummy), Bits = View<int>(a.Bits), Flags = View<int>(NeuronFlags.Buf),
            T = a.T, N = a.N, HasGs = a.GSpikes != null ? 1 : 0, HasGVT = a.GVT != null ? 1 : 0, HasGAT = a.GAT != null ? 1 : 0,
            HalfH = a.H.DType == DType.Float16 ? 1 : 0, HasV0 = a.V0 != null ? 1 : 0, HasGV0 = a.GV0 != null ? 1 : 0,
            HasGA0 = a.GA0 != null ? 1 : 0, Soft = a.Soft, DetachReset = a.DetachReset, VReset = a.VReset,
            HasGDecay = a.GDecay != null ? 1 : 0, HasGThreshold = a.GThreshold != null ? 1 : 0, HasGBeta = a.GBeta != null ? 1 : 0,
            HasGDecayA = a.GDecayA != null ? 1 : 0, HasGAlpha = a.GAlpha != null ? 1 : 0,
        };
        NeuronKernels.LaunchBackward<TN, TS>(Accelerator, Stream, v);
        Interlocked.Increment(ref _neuronLaunches);
    }

    private Tensor? _scratch16;
    private Buf Scratch16() => (_scratch16 ??= Tensor.Zeros(new[] { 1 }, Device, DType.Float16).Persist()).Buf;
}
