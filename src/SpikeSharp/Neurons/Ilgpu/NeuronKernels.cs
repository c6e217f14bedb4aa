using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

// ILGPU generates kernel wrappers in a dynamic assembly that must see these internal argument structs.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ILGPURuntime")]

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>Device views of one fused forward pass (layouts as <see cref="NeuronForwardArgs"/>; Has* flags mark the optional ones).</summary>
internal struct FwdViews
{
    public ArrayView<float> X, V0, A0, Decay, Threshold, Beta, DecayA, Spikes, VT, AT, H32, HOut, AChk;
    public ArrayView<ILGPU.Half> H16;
    public ArrayView<int> Bits, Flags;
    public int T, N, HasV0, HasA0, HasAT, HasH32, HasH16, HasHOut, HasBits, Soft;
    public float VReset;
}

/// <summary>Device views of one fused backward pass.</summary>
internal struct BwdViews
{
    public ArrayView<float> GSpikes, GVT, GAT, H32, AChk, V0, Decay, Threshold, Beta, DecayA, Alpha, GX, GV0, GA0;
    public ArrayView<float> GDecay, GThreshold, GBeta, GDecayA, GAlpha;
    public ArrayView<ILGPU.Half> H16;
    public ArrayView<int> Bits, Flags;
    public int T, N, HasGs, HasGVT, HasGAT, HalfH, HasV0, HasGV0, HasGA0, Soft, DetachReset;
    public int HasGDecay, HasGThreshold, HasGBeta, HasGDecayA, HasGAlpha;
    public float VReset;
}

/// <summary>
/// The fused neuron kernels for ILGPU: one thread per neuron walks time (loads coalesced across the warp,
/// four steps of loads issued before they are used); the step math is <see cref="NeuronMath"/>, shared with
/// the CPU driver. Parameter gradients are reduced in the block (warp shuffles, then shared memory) and
/// written with one atomic per block, or one per neuron for per-feature parameters. Invalid x or parameters
/// raise bits in a device flag word (1: NaN/Inf in x, 2: decay or decayA outside (0, 1], 4: α ≤ 0).
/// </summary>
internal static class NeuronKernels
{
    /// <summary>
    /// Threads per block on a GPU: 64 measured fastest on the H200 (fwd+bwd 16×4M: 0.483 ms at 64, 0.490 at 128, 0.509 at 256,
    /// 0.531 at 1024); SPIKESHARP_NEURON_BLOCK overrides it for tuning. Capped by the accelerator (the CPU emulation allows 64).
    /// </summary>
    public static readonly int BlockSize =
        int.TryParse(Environment.GetEnvironmentVariable("SPIKESHARP_NEURON_BLOCK"), out int b) && b is >= 32 and <= 1024 && b % 32 == 0 ? b : 64;
    private static readonly ConcurrentDictionary<(Accelerator, string), Delegate> _cache = new();

    private static bool Finite(float v) => v - v == 0f;

    private static NeuronParams Load(ArrayView<float> d, ArrayView<float> th, ArrayView<float> b, ArrayView<float> da, int n)
    {
        var p = new NeuronParams();
        p.Decay = d[n % d.IntLength]; p.Threshold = th[n % th.IntLength];
        p.Beta = b[n % b.IntLength]; p.DecayA = da[n % da.IntLength];
        return p;
    }

    private static void FwdStep<TN>(ref FwdViews a, NeuronParams p, int n, int t, float x, ref float u, ref float av, ref int word, ref int bad)
        where TN : struct, INeuron
    {
        int i = t * a.N + n;
        if (a.HasBits != 0 && default(TN).Adaptive && (t & 31) == 0) a.AChk[(t >> 5) * a.N + n] = av;
        if (!Finite(x)) bad = 1;
        float h;
        float s = NeuronMath.Forward<TN>(p, x, ref u, ref av, out h);
        a.Spikes[i] = s;
        if (a.HasH32 != 0) a.H32[i] = h;
        if (a.HasH16 != 0) a.H16[i] = (ILGPU.Half)h;
        if (a.HasHOut != 0) a.HOut[i] = h;
        if (s != 0f) word |= 1 << (t & 31);
        if (((t & 31) == 31 || t == a.T - 1))
        {
            if (a.HasBits != 0) a.Bits[(t >> 5) * a.N + n] = word;
            word = 0;
        }
    }

    /// <summary>Forward: x → spikes, final state, saved h and bits.</summary>
    public static void Forward<TN>(FwdViews a) where TN : struct, INeuron
    {
        int n = Grid.GlobalIndex.X;
        if (n >= a.N) return;
        var p = Load(a.Decay, a.Threshold, a.Beta, a.DecayA, n);
        p.Soft = a.Soft; p.VReset = a.VReset; p.Alpha = 1f; p.DetachReset = 1;
        int bad = 0;
        if (default(TN).Leaky && !(p.Decay > 0f && p.Decay <= 1f)) bad |= 2;
        if (default(TN).Adaptive && !(p.DecayA > 0f && p.DecayA <= 1f)) bad |= 2;
        float u = a.HasV0 != 0 ? a.V0[n] : 0f;
        float av = a.HasA0 != 0 ? a.A0[n] : 0f;
        int word = 0, nanSeen = 0, N = a.N, t = 0;
        for (; t + 4 <= a.T; t += 4)
        {
            float x0 = a.X[t * N + n], x1 = a.X[(t + 1) * N + n], x2 = a.X[(t + 2) * N + n], x3 = a.X[(t + 3) * N + n];
            FwdStep<TN>(ref a, p, n, t, x0, ref u, ref av, ref word, ref nanSeen);
            FwdStep<TN>(ref a, p, n, t + 1, x1, ref u, ref av, ref word, ref nanSeen);
            FwdStep<TN>(ref a, p, n, t + 2, x2, ref u, ref av, ref word, ref nanSeen);
            FwdStep<TN>(ref a, p, n, t + 3, x3, ref u, ref av, ref word, ref nanSeen);
        }
        for (; t < a.T; t++) FwdStep<TN>(ref a, p, n, t, a.X[t * N + n], ref u, ref av, ref word, ref nanSeen);
        a.VT[n] = u;
        if (a.HasAT != 0) a.AT[n] = av;
        bad |= nanSeen;
        if (bad != 0) Atomic.Or(ref a.Flags[0], bad);
    }

    private static float LoadH(ref BwdViews a, int i) => a.HalfH != 0 ? (float)a.H16[i] : a.H32[i];

    /// <summary>Backward: reverse walk over time; gradients of x and the initial state; block-reduced parameter gradients.</summary>
    public static void Backward<TN, TS>(BwdViews a) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        int n = Grid.GlobalIndex.X, N = a.N;
        bool active = n < N;
        var acc = new ParamGrads();
        var aLoc = LocalMemory.Allocate<float>(32);
        if (active)
        {
            var p = Load(a.Decay, a.Threshold, a.Beta, a.DecayA, n);
            p.Alpha = a.Alpha[n % a.Alpha.IntLength]; p.Soft = a.Soft; p.VReset = a.VReset; p.DetachReset = a.DetachReset;
            if (!(p.Alpha > 0f)) Atomic.Or(ref a.Flags[0], 4);
            float gU = a.HasGVT != 0 ? a.GVT[n] : 0f, gA = a.HasGAT != 0 ? a.GAT[n] : 0f, ghNext = 0f;
            int W = (a.T + 31) >> 5;
            for (int w = W - 1; w >= 0; w--)
            {
                int t0 = w << 5, len = a.T - t0 < 32 ? a.T - t0 : 32;
                int word = a.Bits[w * N + n];
                if (default(TN).Adaptive)
                {
                    float av = a.AChk[w * N + n];
                    for (int k = 0; k < len; k++) { aLoc[k] = av; av = p.DecayA * av + ((word >> k) & 1); }
                }
                int k2 = len - 1;
                for (; k2 >= 3; k2 -= 4)
                {
                    int t = t0 + k2;
                    float h0 = LoadH(ref a, t * N + n), h1 = LoadH(ref a, (t - 1) * N + n), h2 = LoadH(ref a, (t - 2) * N + n), h3 = LoadH(ref a, (t - 3) * N + n);
                    float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f;
                    if (a.HasGs != 0) { g0 = a.GSpikes[t * N + n]; g1 = a.GSpikes[(t - 1) * N + n]; g2 = a.GSpikes[(t - 2) * N + n]; g3 = a.GSpikes[(t - 3) * N + n]; }
                    BwdStep<TN, TS>(ref a, p, n, t, k2, word, h0, g0, aLoc, ref gU, ref gA, ref ghNext, ref acc);
                    BwdStep<TN, TS>(ref a, p, n, t - 1, k2 - 1, word, h1, g1, aLoc, ref gU, ref gA, ref ghNext, ref acc);
                    BwdStep<TN, TS>(ref a, p, n, t - 2, k2 - 2, word, h2, g2, aLoc, ref gU, ref gA, ref ghNext, ref acc);
                    BwdStep<TN, TS>(ref a, p, n, t - 3, k2 - 3, word, h3, g3, aLoc, ref gU, ref gA, ref ghNext, ref acc);
                }
                for (; k2 >= 0; k2--)
                {
                    int t = t0 + k2;
                    BwdStep<TN, TS>(ref a, p, n, t, k2, word, LoadH(ref a, t * N + n), a.HasGs != 0 ? a.GSpikes[t * N + n] : 0f, aLoc, ref gU, ref gA, ref ghNext, ref acc);
                }
            }
            if (default(TN).Leaky && a.HasV0 != 0) acc.Decay += ghNext * a.V0[n];
            if (a.HasGV0 != 0) a.GV0[n] = gU;
            if (a.HasGA0 != 0) a.GA0[n] = gA;
        }
        if (a.HasGDecay != 0) ReduceAdd(a.GDecay, acc.Decay, n, active);
        if (a.HasGThreshold != 0) ReduceAdd(a.GThreshold, acc.Threshold, n, active);
        if (a.HasGBeta != 0) ReduceAdd(a.GBeta, acc.Beta, n, active);
        if (a.HasGDecayA != 0) ReduceAdd(a.GDecayA, acc.DecayA, n, active);
        if (a.HasGAlpha != 0) ReduceAdd(a.GAlpha, acc.Alpha, n, active);
    }

    private static void BwdStep<TN, TS>(ref BwdViews a, NeuronParams p, int n, int t, int k, int word, float h, float g, ArrayView<float> aLoc,
        ref float gU, ref float gA, ref float ghNext, ref ParamGrads acc) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        float s = (word >> k) & 1;
        float aPrev = default(TN).Adaptive ? aLoc[k] : 0f;
        if (default(TN).Leaky) acc.Decay += ghNext * NeuronMath.Reset(p, h, s, NeuronMath.Threshold<TN>(p, aPrev));
        float gh = NeuronMath.Backward<TN, TS>(p, g, h, s, aPrev, ref gU, ref gA, ref acc);
        a.GX[t * a.N + n] = gh;
        ghNext = gh;
    }

    // Uniform branch: every thread of the block takes the same path (the length is a kernel argument).
    private static void ReduceAdd(ArrayView<float> dst, float v, int n, bool active)
    {
        if (dst.IntLength != 1)
        {
            if (active) Atomic.Add(ref dst[n % dst.IntLength], v);
            return;
        }
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1) v += Warp.ShuffleDown(v, off);
        var sh = SharedMemory.Allocate<float>(32);
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        if (Warp.IsFirstLane) sh[Warp.WarpIdx] = v;
        Group.Barrier();
        if (Warp.WarpIdx == 0)
        {
            float w = Warp.LaneIdx < warps ? sh[Warp.LaneIdx] : 0f;
            for (int off = Warp.WarpSize / 2; off > 0; off >>= 1) w += Warp.ShuffleDown(w, off);
            if (Warp.IsFirstLane) Atomic.Add(ref dst[0], w);
        }
        Group.Barrier();
    }

    private static KernelConfig Config(Accelerator acc, int n)
    {
        int b = Math.Min(BlockSize, acc.MaxNumThreadsPerGroup);
        return new((n + b - 1) / b, b);
    }

    /// <summary>Launches the forward kernel for model <typeparamref name="TN"/> on <paramref name="stream"/>.</summary>
    public static void LaunchForward<TN>(Accelerator acc, AcceleratorStream stream, FwdViews v) where TN : struct, INeuron
    {
        if (v.N == 0) return;
        var k = (Action<AcceleratorStream, KernelConfig, FwdViews>)_cache.GetOrAdd((acc, "fwd" + typeof(TN).Name),
            key => key.Item1.LoadKernel<FwdViews>(Forward<TN>));
        k(stream, Config(acc, v.N), v);
    }

    /// <summary>Launches the backward kernel; parameter-gradient buffers must be zeroed first.</summary>
    public static void LaunchBackward<TN, TS>(Accelerator acc, AcceleratorStream stream, BwdViews v) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        if (v.N == 0) return;
        var k = (Action<AcceleratorStream, KernelConfig, BwdViews>)_cache.GetOrAdd((acc, "bwd" + typeof(TN).Name + typeof(TS).Name),
            key => key.Item1.LoadKernel<BwdViews>(Backward<TN, TS>));
        k(stream, Config(acc, v.N), v);
    }
}
