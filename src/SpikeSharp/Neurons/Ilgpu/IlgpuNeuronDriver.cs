using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>
/// The ILGPU driver of the fused neuron kernels (<see cref="NeuronKernels"/>): buffers → views, then one launch per
/// direction. Invalid inputs raise bits in a device flag word, which <see cref="ThrowIfDeviceErrors"/> turns into
/// the CPU backend's exception at the next host read (the backend runs it from Download).
/// </summary>
internal sealed class IlgpuNeuronDriver(IlgpuBackend backend) : INeuronDriver, IDeviceErrorCheck
{
    private Tensor? _flags;
    private long _launches, _launchesChecked, _vec4Launches;

    /// <summary>How many launches took the four-neuron kernels (tests check which path ran).</summary>
    internal long Vec4Launches => Interlocked.Read(ref _vec4Launches);

    /// <summary>The kernels' device-side flag word: <see cref="NeuronFlag"/> bits, one byte per op.</summary>
    internal Tensor Flags => _flags ??= Tensor.Zeros(new[] { 1 }, backend.Device, DType.Int32).Persist();

    /// <summary>SPIKESHARP_NEURON_VEC4=0 forces the one-neuron-per-thread kernels (for comparisons).</summary>
    internal static bool Vec4Enabled { get; set; } =
        Environment.GetEnvironmentVariable("SPIKESHARP_NEURON_VEC4") != "0";

    /// <summary>
    /// Reads and clears the flag word; when a kernel raised a flag, throws the <see cref="ArgumentException"/> the
    /// CPU backend throws at the call (same start of the message, <see cref="NeuronChecks.Problem"/>, and the same
    /// ParamName). Run by the backend at the next synchronising host read (no extra synchronisation in the
    /// training step).
    /// </summary>
    public void ThrowIfDeviceErrors()
    {
        // Only when neuron kernels ran since the last check: a host read pays one 4-byte copy, a sync point none.
        long launched = Interlocked.Read(ref _launches);
        if (_flags == null || launched == Interlocked.Read(ref _launchesChecked)) return;
        Interlocked.Exchange(ref _launchesChecked, launched);
        var f = new int[1];
        var view = backend.View<int>(_flags.Buf);
        view.CopyToCPU(backend.Stream, f.AsSpan());
        backend.Stream.Synchronize();
        if (f[0] == 0) return;
        view.MemSetToZero(backend.Stream);
        backend.Stream.Synchronize();
        throw FlagError(f[0], backend.Device);
    }

    /// <summary>The exception for a raised flag word: the first (op, argument) in flag order is the ParamName, and
    /// the message lists every one.</summary>
    internal static ArgumentException FlagError(int flags, Device device)
    {
        var found = new List<(string Op, string Arg)>();
        for (int op = 0; op < NeuronChecks.Ops.Length; op++)
            for (int k = 0; k < NeuronFlag.Names.Length; k++)
                if ((flags >> (8 * op + k) & 1) != 0) found.Add((NeuronChecks.Ops[op], NeuronFlag.Names[k]));
        if (found.Count == 0)
            return new ArgumentException($"spiking neuron kernels on {device} raised unknown flags 0x{flags:x}");
        string where = $" (found on {device} at the first host read after the call; that call's results are not valid)";
        string also = found.Count == 1 ? ""
            : "; also " + string.Join("; ", found.Skip(1).Select(p => NeuronChecks.Problem(p.Op, p.Arg)));
        return new ArgumentException(NeuronChecks.Problem(found[0].Op, found[0].Arg) + where + also, found[0].Arg);
    }

    // Parameter ranges are checked by the kernels (a host read here would synchronise every call).
    public bool TryReadOnHost(Buf b, out ReadOnlySpan<float> values)
    {
        values = default;
        return false;
    }

    private ArrayView<T> View<T>(Buf b) where T : unmanaged => backend.View<T>(b);

    private ArrayView<float> F(Buf? b, ArrayView<float> dummy) => b is { } x ? View<float>(x) : dummy;

    // The four-neuron kernels need N % 4 == 0 and every per-neuron buffer starting on a 16-byte boundary
    // (blocks are 256-byte aligned; a tensor view may start anywhere inside one).
    private static bool Aligned16(Buf? b) => b is not { } x || (long)x.Offset * x.DType.SizeInBytes() % 16 == 0;

    // On a GPU only when N/4 threads still fill half the device: with fewer neurons (long sequences) the walk over
    // time is latency-bound and four times as many threads beat wider accesses (H200, 2048×24576 forward: 0.48 ms
    // with four neurons per thread, 0.28–0.31 with one and 16 steps in flight). The CPU emulation always takes it
    // (tests cover both paths).
    private bool UseVec4<TN>(int n, params Buf?[] perNeuron) where TN : struct, INeuron =>
        Vec4Enabled && !default(TN).Adaptive && n % 4 == 0 && perNeuron.All(Aligned16)
        && (!backend.IsCuda || n / 4 >= backend.Accelerator.NumMultiprocessors
            * backend.Accelerator.MaxNumThreadsPerMultiprocessor / 2);

    // A window as a view of wider elements (four floats, eight halves…): same bytes, fewer accesses.
    private ArrayView<TV> V4<TV>(Buf? b) where TV : unmanaged =>
        b is { Length: > 0 } x ? backend.Bytes(x).Cast<TV>() : ArrayView<TV>.Empty;

    public bool NeuronForward<TN>(NeuronForwardArgs a) where TN : struct, INeuron
    {
        var hb = a.H;
        int lanes = SpikeBits.Lanes(a.T);
        bool h32 = hb is { DType: DType.Float32 }, h16 = hb is { DType: DType.Float16 };
        if (UseVec4<TN>(a.N, a.X, a.V0, a.Spikes, a.VT, hb, a.HOut))
        {
            var v4 = new Fwd4Views
            {
                X = V4<Vec4>(a.X), V0 = V4<Vec4>(a.V0), Spikes = V4<Vec4>(a.Spikes), VT = V4<Vec4>(a.VT),
                H32 = h32 ? V4<Vec4>(hb) : ArrayView<Vec4>.Empty, H16 = h16 ? V4<Half8>(hb) : ArrayView<Half8>.Empty,
                HOut = V4<Vec4>(a.HOut), Decay = View<float>(a.Decay), Threshold = View<float>(a.Threshold),
                Bits1 = lanes == 4 && a.Bits is { } b1 ? View<int>(b1) : ArrayView<int>.Empty,
                Bits2 = lanes == 2 ? V4<Int2>(a.Bits) : ArrayView<Int2>.Empty,
                Bits4 = lanes == 1 ? V4<Int4>(a.Bits) : ArrayView<Int4>.Empty,
                Flags = View<int>(Flags.Buf), FlagShift = 8 * a.Op,
                T = a.T, N4 = a.N / 4, HasV0 = a.V0 != null ? 1 : 0, HasH32 = h32 ? 1 : 0, HasH16 = h16 ? 1 : 0,
                HasHOut = a.HOut != null ? 1 : 0, HasBits = a.Bits != null ? 1 : 0,
                Soft = a.Soft, Lanes = lanes, VReset = a.VReset,
            };
            NeuronKernels.LaunchForward4<TN>(backend.Accelerator, backend.Stream, v4);
            Interlocked.Increment(ref _launches); Interlocked.Increment(ref _vec4Launches);
            return true;
        }
        var dummy = View<float>(a.Threshold);
        var v = new FwdViews
        {
            X = View<float>(a.X), V0 = F(a.V0, dummy), A0 = F(a.A0, dummy), Decay = View<float>(a.Decay),
            Threshold = dummy, Beta = View<float>(a.Beta), DecayA = View<float>(a.DecayA),
            Spikes = View<float>(a.Spikes), VT = View<float>(a.VT), AT = F(a.AT, dummy),
            H32 = h32 ? View<float>(hb!.Value) : dummy,
            H16 = h16 ? View<ILGPU.Half>(hb!.Value) : ArrayView<ILGPU.Half>.Empty,
            HOut = F(a.HOut, dummy), AChk = F(a.AChk, dummy),
            Bits = a.Bits is { } bits ? View<int>(bits) : View<int>(Flags.Buf), Flags = View<int>(Flags.Buf),
            FlagShift = 8 * a.Op,
            T = a.T, N = a.N, HasV0 = a.V0 != null ? 1 : 0, HasA0 = a.A0 != null ? 1 : 0, HasAT = a.AT != null ? 1 : 0,
            HasH32 = h32 ? 1 : 0, HasH16 = h16 ? 1 : 0,
            HasHOut = a.HOut != null ? 1 : 0, HasBits = a.Bits != null ? 1 : 0, Soft = a.Soft, VReset = a.VReset,
            Lanes = lanes, Width = SpikeBits.Width(a.T), WordsPerRow = SpikeBits.Shape(a.T, a.N)[1],
        };
        NeuronKernels.LaunchForward<TN>(backend.Accelerator, backend.Stream, v);
        Interlocked.Increment(ref _launches);
        return true; // validity is reported through the device flag
    }

    public void NeuronBackward<TN, TS>(NeuronBackwardArgs a) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        foreach (var g in new[] { a.GDecay, a.GThreshold, a.GBeta, a.GDecayA, a.GAlpha })
            if (g is { } gb) backend.Fill(gb, 0f);
        // The kernels read the spike gradient unconditionally (no branch among a batch's loads): zeros when none came.
        using var zeros = a.GSpikes == null ? Tensor.Zeros(new[] { a.T, a.N }, backend.Device) : null;
        if (zeros != null) a.GSpikes = zeros.Buf;
        int lanes = SpikeBits.Lanes(a.T);
        bool recompute = a.H == null;
        var dummy = View<float>(a.Threshold);
        var v = new BwdViews
        {
            GSpikes = F(a.GSpikes, dummy), GVT = F(a.GVT, dummy), GAT = F(a.GAT, dummy),
            // Recompute mode reads x through the float32 (T, N) view of the saved value.
            H32 = a.H is { DType: DType.Float32 } hf ? View<float>(hf) : recompute ? View<float>(a.X!.Value) : dummy,
            H16P = a.H is { DType: DType.Float16 } hh ? V4<Half2>(hh) : ArrayView<Half2>.Empty,
            AChk = F(a.AChk, dummy), V0 = F(a.V0, dummy), Decay = View<float>(a.Decay), Threshold = dummy,
            Beta = View<float>(a.Beta), DecayA = View<float>(a.DecayA), Alpha = F(a.Alpha, dummy),
            GX = View<float>(a.GX), GV0 = F(a.GV0, dummy), GA0 = F(a.GA0, dummy),
            GDecay = F(a.GDecay, dummy), GThreshold = F(a.GThreshold, dummy), GBeta = F(a.GBeta, dummy),
            GDecayA = F(a.GDecayA, dummy), GAlpha = F(a.GAlpha, dummy),
            Bits = View<int>(a.Bits), Flags = View<int>(Flags.Buf), FlagShift = 8 * a.Op,
            T = a.T, N = a.N, HasGVT = a.GVT != null ? 1 : 0, HasGAT = a.GAT != null ? 1 : 0,
            HalfH = a.H is { DType: DType.Float16 } ? 1 : 0, Recompute = recompute ? 1 : 0,
            HasV0 = a.V0 != null ? 1 : 0, HasGV0 = a.GV0 != null ? 1 : 0, HasGA0 = a.GA0 != null ? 1 : 0,
            Soft = a.Soft, DetachReset = a.DetachReset,
            HasAlpha = a.Alpha != null ? 1 : 0, AlphaValue = a.AlphaValue, VReset = a.VReset,
            HasGDecay = a.GDecay != null ? 1 : 0, HasGThreshold = a.GThreshold != null ? 1 : 0,
            HasGBeta = a.GBeta != null ? 1 : 0, HasGDecayA = a.GDecayA != null ? 1 : 0,
            HasGAlpha = a.GAlpha != null ? 1 : 0,
            Lanes = lanes, Width = SpikeBits.Width(a.T), WordsPerRow = SpikeBits.Shape(a.T, a.N)[1],
        };
        var acc = backend.Accelerator;
        NeuronKernels.LaunchBackward<TN, TS>(acc, backend.Stream, v, NeuronKernels.Depth(acc, a.N));
        Interlocked.Increment(ref _launches);
    }
}
