using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>How a backward kernel reads the saved h: a struct type argument, so the choice is made at compile time.
/// </summary>
internal interface IHRead
{
    /// <summary>True when the saved value is x (recompute mode) and h must be rebuilt from it.</summary>
    bool FromX { get; }

    /// <summary>The saved value (h, or x in recompute mode) of step t, neuron n.</summary>
    float Read(ref BwdViews a, int t, int n);

    /// <summary>Steps t (even) and t + 1 of neuron n (step t + 1 read as step t when t + 1 = T).</summary>
    void Read2(ref BwdViews a, int t, int n, out float h0, out float h1);
}

/// <summary>float32 saved h, (T, N); in recompute mode the view holds x (see <see cref="XRead"/>).</summary>
internal struct H32Read : IHRead
{
    public readonly bool FromX => false;
    public readonly float Read(ref BwdViews a, int t, int n) => a.H32[t * a.N + n];
    public readonly void Read2(ref BwdViews a, int t, int n, out float h0, out float h1)
    {
        h0 = a.H32[t * a.N + n];
        h1 = a.H32[(t + 1 < a.T ? t + 1 : t) * a.N + n];
    }
}

/// <summary>float16 saved h in step pairs (<see cref="HalfPairs"/>): one 4-byte load per two steps.</summary>
internal struct H16Read : IHRead
{
    public readonly bool FromX => false;
    public readonly float Read(ref BwdViews a, int t, int n)
    {
        var p = a.H16P[(t >> 1) * a.N + n];
        return (t & 1) == 0 ? (float)p.X : (float)p.Y;
    }
    public readonly void Read2(ref BwdViews a, int t, int n, out float h0, out float h1)
    {
        var p = a.H16P[(t >> 1) * a.N + n];
        h0 = (float)p.X; h1 = (float)p.Y;
    }
}

/// <summary>Recompute mode: x is saved (the driver passes it as the float32 (T, N) view), h is rebuilt from it.
/// </summary>
internal struct XRead : IHRead
{
    public readonly bool FromX => true;
    public readonly float Read(ref BwdViews a, int t, int n) => default(H32Read).Read(ref a, t, n);
    public readonly void Read2(ref BwdViews a, int t, int n, out float h0, out float h1) =>
        default(H32Read).Read2(ref a, t, n, out h0, out h1);
}

/// <summary>Two float16 values moved as one 4-byte access.</summary>
internal struct Half2 { public ILGPU.Half X, Y; }

/// <summary>How many time steps of loads a backward batch keeps in flight (compile-time, as
/// <see cref="IHRead"/>): 4, 8 or 16.</summary>
internal interface IDepth
{
    /// <summary>Steps per batch.</summary>
    int Steps { get; }
}

/// <summary>Four steps per batch: many neurons, occupancy-bound.</summary>
internal struct Depth4 : IDepth { public readonly int Steps => 4; }

/// <summary>Eight steps per batch.</summary>
internal struct Depth8 : IDepth { public readonly int Steps => 8; }

/// <summary>Sixteen steps per batch: few neurons, latency-bound.</summary>
internal struct Depth16 : IDepth { public readonly int Steps => 16; }

/// <summary>Device views of one fused backward pass.</summary>
internal struct BwdViews
{
    public ArrayView<float> GSpikes, GVT, GAT, H32, AChk, V0, Decay, Threshold, Beta, DecayA, Alpha, GX, GV0, GA0;
    public ArrayView<float> GDecay, GThreshold, GBeta, GDecayA, GAlpha;
    public ArrayView<Half2> H16P;
    public ArrayView<int> Bits, Flags;
    public int T, N, HasGVT, HasGAT, HalfH, Recompute, HasV0, HasGV0, HasGA0, Soft, DetachReset, HasAlpha;
    public int HasGDecay, HasGThreshold, HasGBeta, HasGDecayA, HasGAlpha, Lanes, Width, WordsPerRow, FlagShift;
    public float VReset, AlphaValue;
}

// The backward kernels: a reverse walk over time per neuron, from the saved h (or x) and the spike bits.
internal static partial class NeuronKernels
{
    /// <summary>Backward: reverse walk over time; gradients of x and the initial state; block-reduced parameter
    /// gradients. <typeparamref name="TH"/> reads the saved h (float32 or float16) and <typeparamref name="TD"/>
    /// sets how many steps of loads a batch puts in flight (4, 8 or 16): compile-time choices, so a batch's loads
    /// carry no branch, and each kernel gets the registers of its own depth.</summary>
    public static void Backward<TN, TS, TH, TD>(BwdViews a)
        where TN : struct, INeuron where TS : struct, ISurrogate where TH : struct, IHRead where TD : struct, IDepth
    {
        int n = Grid.GlobalIndex.X, N = a.N;
        bool active = n < N;
        var acc = new ParamGrads();
        var aLoc = LocalMemory.Allocate<float>(32);
        if (active)
        {
            var p = BwdParams(ref a, n);
            float gU = a.HasGVT != 0 ? a.GVT[n] : 0f, gA = a.HasGAT != 0 ? a.GAT[n] : 0f, ghNext = 0f;
            int W = (a.T + 31) >> 5;
            for (int w = W - 1; w >= 0; w--)
            {
                int t0 = w << 5, t1 = a.T - t0 < 32 ? a.T : t0 + 32;
                int word = a.Bits[w * a.WordsPerRow + n / a.Lanes] >> ((n % a.Lanes) * a.Width);
                if (default(TN).Adaptive)
                {
                    float av = a.AChk[w * N + n];
                    for (int k = 0; k < t1 - t0; k++) { aLoc[k] = av; av = p.DecayA * av + ((word >> k) & 1); }
                }
                // S steps of h and of the spike gradient in flight before the first is used; S is a constant of
                // the kernel, so the slots past it fold away and no load sits behind a branch.
                int S = default(TD).Steps, tTop = t0 + ((t1 - t0) & ~(S - 1));
                for (int t = t1 - 1; t >= tTop; t--)
                    BwdStep<TN, TS>(ref a, p, n, t, t - t0, word, default(TH).Read(ref a, t, n), a.GSpikes[t * N + n],
                        aLoc, ref gU, ref gA, ref ghNext, ref acc);
                for (int tb = tTop - S; tb >= t0; tb -= S)
                {
                    int b = tb * N + n, k = tb - t0;
                    float h0, h1, h2, h3, h4 = 0f, h5 = 0f, h6 = 0f, h7 = 0f;
                    float h8 = 0f, h9 = 0f, h10 = 0f, h11 = 0f, h12 = 0f, h13 = 0f, h14 = 0f, h15 = 0f;
                    default(TH).Read2(ref a, tb, n, out h0, out h1);
                    default(TH).Read2(ref a, tb + 2, n, out h2, out h3);
                    if (S > 4)
                    {
                        default(TH).Read2(ref a, tb + 4, n, out h4, out h5);
                        default(TH).Read2(ref a, tb + 6, n, out h6, out h7);
                    }
                    if (S > 8)
                    {
                        default(TH).Read2(ref a, tb + 8, n, out h8, out h9);
                        default(TH).Read2(ref a, tb + 10, n, out h10, out h11);
                        default(TH).Read2(ref a, tb + 12, n, out h12, out h13);
                        default(TH).Read2(ref a, tb + 14, n, out h14, out h15);
                    }
                    float g0 = a.GSpikes[b], g1 = a.GSpikes[b + N];
                    float g2 = a.GSpikes[b + 2 * N], g3 = a.GSpikes[b + 3 * N];
                    float g4 = S > 4 ? a.GSpikes[b + 4 * N] : 0f, g5 = S > 4 ? a.GSpikes[b + 5 * N] : 0f;
                    float g6 = S > 4 ? a.GSpikes[b + 6 * N] : 0f, g7 = S > 4 ? a.GSpikes[b + 7 * N] : 0f;
                    float g8 = S > 8 ? a.GSpikes[b + 8 * N] : 0f, g9 = S > 8 ? a.GSpikes[b + 9 * N] : 0f;
                    float g10 = S > 8 ? a.GSpikes[b + 10 * N] : 0f, g11 = S > 8 ? a.GSpikes[b + 11 * N] : 0f;
                    float g12 = S > 8 ? a.GSpikes[b + 12 * N] : 0f, g13 = S > 8 ? a.GSpikes[b + 13 * N] : 0f;
                    float g14 = S > 8 ? a.GSpikes[b + 14 * N] : 0f, g15 = S > 8 ? a.GSpikes[b + 15 * N] : 0f;
                    if (S > 8)
                    {
                        Back4<TN, TS>(ref a, p, n, tb + 12, k + 12, word, h12, h13, h14, h15, g12, g13, g14, g15,
                            aLoc, ref gU, ref gA, ref ghNext, ref acc);
                        Back4<TN, TS>(ref a, p, n, tb + 8, k + 8, word, h8, h9, h10, h11, g8, g9, g10, g11,
                            aLoc, ref gU, ref gA, ref ghNext, ref acc);
                    }
                    if (S > 4)
                        Back4<TN, TS>(ref a, p, n, tb + 4, k + 4, word, h4, h5, h6, h7, g4, g5, g6, g7,
                            aLoc, ref gU, ref gA, ref ghNext, ref acc);
                    Back4<TN, TS>(ref a, p, n, tb, k, word, h0, h1, h2, h3, g0, g1, g2, g3,
                        aLoc, ref gU, ref gA, ref ghNext, ref acc);
                }
            }
            BwdFinish<TN>(ref a, n, gU, gA, ghNext, ref acc);
        }
        BwdReduce(ref a, n, active, ref acc);
    }

    // Steps t + 3 down to t of one neuron (k: the bit of step t in its word).
    private static void Back4<TN, TS>(ref BwdViews a, NeuronParams p, int n, int t, int k, int word,
        float h0, float h1, float h2, float h3, float g0, float g1, float g2, float g3, ArrayView<float> aLoc,
        ref float gU, ref float gA, ref float ghNext, ref ParamGrads acc)
        where TN : struct, INeuron where TS : struct, ISurrogate
    {
        BwdStep<TN, TS>(ref a, p, n, t + 3, k + 3, word, h3, g3, aLoc, ref gU, ref gA, ref ghNext, ref acc);
        BwdStep<TN, TS>(ref a, p, n, t + 2, k + 2, word, h2, g2, aLoc, ref gU, ref gA, ref ghNext, ref acc);
        BwdStep<TN, TS>(ref a, p, n, t + 1, k + 1, word, h1, g1, aLoc, ref gU, ref gA, ref ghNext, ref acc);
        BwdStep<TN, TS>(ref a, p, n, t, k, word, h0, g0, aLoc, ref gU, ref gA, ref ghNext, ref acc);
    }

    private static NeuronParams BwdParams(ref BwdViews a, int n)
    {
        var p = Load(a.Decay, a.Threshold, a.Beta, a.DecayA, n);
        p.Alpha = a.HasAlpha != 0 ? a.Alpha[n % a.Alpha.IntLength] : a.AlphaValue;
        p.Soft = a.Soft; p.VReset = a.VReset; p.DetachReset = a.DetachReset;
        if (!(p.Alpha > 0f && Finite(p.Alpha))) Atomic.Or(ref a.Flags[0], NeuronFlag.Alpha << a.FlagShift);
        return p;
    }

    private static void BwdFinish<TN>(ref BwdViews a, int n, float gU, float gA, float ghNext, ref ParamGrads acc)
        where TN : struct, INeuron
    {
        if (default(TN).Leaky && a.HasV0 != 0) acc.Decay += ghNext * a.V0[n];
        if (a.HasGV0 != 0) a.GV0[n] = gU;
        if (a.HasGA0 != 0) a.GA0[n] = gA;
    }

    private static void BwdReduce(ref BwdViews a, int n, bool active, ref ParamGrads acc)
    {
        if (a.HasGDecay != 0) ReduceAdd(a.GDecay, acc.Decay, n, active);
        if (a.HasGThreshold != 0) ReduceAdd(a.GThreshold, acc.Threshold, n, active);
        if (a.HasGBeta != 0) ReduceAdd(a.GBeta, acc.Beta, n, active);
        if (a.HasGDecayA != 0) ReduceAdd(a.GDecayA, acc.DecayA, n, active);
        if (a.HasGAlpha != 0) ReduceAdd(a.GAlpha, acc.Alpha, n, active);
    }

    // Recompute mode: step k's h from x (in place), the carried membrane and the saved spike.
    private static void Recharge<TN>(NeuronParams p, int k, int word, ref float x, ref float u)
        where TN : struct, INeuron =>
        x = NeuronMath.Replay<TN>(p, x, (word >> k) & 1, ref u);

    // Row of step k, clamped to the last step so that every load is valid and none needs a branch
    // (the duplicates past T hit the cache and are never used).
    private static int Row(int k, int T, int N, int n) => (k < T ? k : T - 1) * N + n;

    // Steps k + 3 down to k of a short sequence; steps past T are skipped.
    private static void Rec4<TN, TS>(ref BwdViews a, NeuronParams p, int n, int k, int word,
        float h0, float h1, float h2, float h3, float g0, float g1, float g2, float g3,
        ref float gU, ref float ghNext, ref ParamGrads acc) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        float gA = 0f;
        if (k + 3 < a.T)
            BwdStep<TN, TS>(ref a, p, n, k + 3, k + 3, word, h3, g3, default, ref gU, ref gA, ref ghNext, ref acc);
        if (k + 2 < a.T)
            BwdStep<TN, TS>(ref a, p, n, k + 2, k + 2, word, h2, g2, default, ref gU, ref gA, ref ghNext, ref acc);
        if (k + 1 < a.T)
            BwdStep<TN, TS>(ref a, p, n, k + 1, k + 1, word, h1, g1, default, ref gU, ref gA, ref ghNext, ref acc);
        if (k < a.T)
            BwdStep<TN, TS>(ref a, p, n, k, k, word, h0, g0, default, ref gU, ref gA, ref ghNext, ref acc);
    }

    /// <summary>
    /// Backward of a short sequence (T ≤ 16, non-adaptive): the saved value of every step and every spike gradient
    /// are loaded into registers at once (32 loads in flight per thread), then walked back. In recompute mode
    /// (<typeparamref name="TH"/> = <see cref="XRead"/>) the saved x is first turned into h in place from v0 and
    /// the saved spikes, so h is the forward pass's h.
    /// </summary>
    public static void BackwardShort<TN, TS, TH>(BwdViews a)
        where TN : struct, INeuron where TS : struct, ISurrogate where TH : struct, IHRead
    {
        int n = Grid.GlobalIndex.X, N = a.N, T = a.T;
        bool active = n < N;
        var acc = new ParamGrads();
        if (active)
        {
            var p = BwdParams(ref a, n);
            int word = a.Bits[n / a.Lanes] >> ((n % a.Lanes) * a.Width);
            // Pairs of steps (one 4-byte load each for float16 h); pairs past T read the last pair (cached, unused).
            int last = (T - 1) & ~1;
            float h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, h13, h14, h15;
            default(TH).Read2(ref a, 0 < last ? 0 : last, n, out h0, out h1);
            default(TH).Read2(ref a, 2 < last ? 2 : last, n, out h2, out h3);
            default(TH).Read2(ref a, 4 < last ? 4 : last, n, out h4, out h5);
            default(TH).Read2(ref a, 6 < last ? 6 : last, n, out h6, out h7);
            default(TH).Read2(ref a, 8 < last ? 8 : last, n, out h8, out h9);
            default(TH).Read2(ref a, 10 < last ? 10 : last, n, out h10, out h11);
            default(TH).Read2(ref a, 12 < last ? 12 : last, n, out h12, out h13);
            default(TH).Read2(ref a, 14 < last ? 14 : last, n, out h14, out h15);
            // All sixteen spike gradients in flight at once, issued with the loads above.
            float g0 = a.GSpikes[Row(0, T, N, n)], g1 = a.GSpikes[Row(1, T, N, n)];
            float g2 = a.GSpikes[Row(2, T, N, n)], g3 = a.GSpikes[Row(3, T, N, n)];
            float g4 = a.GSpikes[Row(4, T, N, n)], g5 = a.GSpikes[Row(5, T, N, n)];
            float g6 = a.GSpikes[Row(6, T, N, n)], g7 = a.GSpikes[Row(7, T, N, n)];
            float g8 = a.GSpikes[Row(8, T, N, n)], g9 = a.GSpikes[Row(9, T, N, n)];
            float g10 = a.GSpikes[Row(10, T, N, n)], g11 = a.GSpikes[Row(11, T, N, n)];
            float g12 = a.GSpikes[Row(12, T, N, n)], g13 = a.GSpikes[Row(13, T, N, n)];
            float g14 = a.GSpikes[Row(14, T, N, n)], g15 = a.GSpikes[Row(15, T, N, n)];
            if (default(TH).FromX)
            {
                float u = a.HasV0 != 0 ? a.V0[n] : 0f;
                Recharge<TN>(p, 0, word, ref h0, ref u); Recharge<TN>(p, 1, word, ref h1, ref u);
                Recharge<TN>(p, 2, word, ref h2, ref u); Recharge<TN>(p, 3, word, ref h3, ref u);
                Recharge<TN>(p, 4, word, ref h4, ref u); Recharge<TN>(p, 5, word, ref h5, ref u);
                Recharge<TN>(p, 6, word, ref h6, ref u); Recharge<TN>(p, 7, word, ref h7, ref u);
                Recharge<TN>(p, 8, word, ref h8, ref u); Recharge<TN>(p, 9, word, ref h9, ref u);
                Recharge<TN>(p, 10, word, ref h10, ref u); Recharge<TN>(p, 11, word, ref h11, ref u);
                Recharge<TN>(p, 12, word, ref h12, ref u); Recharge<TN>(p, 13, word, ref h13, ref u);
                Recharge<TN>(p, 14, word, ref h14, ref u); Recharge<TN>(p, 15, word, ref h15, ref u);
            }
            float gU = a.HasGVT != 0 ? a.GVT[n] : 0f, ghNext = 0f;
            Rec4<TN, TS>(ref a, p, n, 12, word, h12, h13, h14, h15, g12, g13, g14, g15, ref gU, ref ghNext, ref acc);
            Rec4<TN, TS>(ref a, p, n, 8, word, h8, h9, h10, h11, g8, g9, g10, g11, ref gU, ref ghNext, ref acc);
            Rec4<TN, TS>(ref a, p, n, 4, word, h4, h5, h6, h7, g4, g5, g6, g7, ref gU, ref ghNext, ref acc);
            Rec4<TN, TS>(ref a, p, n, 0, word, h0, h1, h2, h3, g0, g1, g2, g3, ref gU, ref ghNext, ref acc);
            BwdFinish<TN>(ref a, n, gU, 0f, ghNext, ref acc);
        }
        BwdReduce(ref a, n, active, ref acc);
    }

    private static void BwdStep<TN, TS>(ref BwdViews a, NeuronParams p, int n, int t, int k, int word, float h,
        float g, ArrayView<float> aLoc, ref float gU, ref float gA, ref float ghNext, ref ParamGrads acc)
        where TN : struct, INeuron where TS : struct, ISurrogate
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

    /// <summary>Launches the backward kernel (the recompute one when v.Recompute is set); parameter-gradient
    /// buffers must be zeroed first and GSpikes must be a real buffer (zeros when no gradient reached the spikes).
    /// </summary>
    public static void LaunchBackward<TN, TS>(Accelerator acc, AcceleratorStream stream, BwdViews v, int depth)
        where TN : struct, INeuron where TS : struct, ISurrogate
    {
        if (v.N == 0) return;
        bool shortT = v.T <= 16 && !default(TN).Adaptive;
        string src = v.Recompute != 0 ? "x" : v.HalfH != 0 ? "h16" : "h32";
        string key = (shortT ? "bwdshort" : "bwd" + depth) + src + typeof(TN).Name;
        var k = (Action<AcceleratorStream, KernelConfig, BwdViews>)_cache.GetOrAdd((acc, key, typeof(TS)),
            c => c.Item1.LoadKernel<BwdViews>(
                v.Recompute != 0 ? BackwardShort<TN, TS, XRead>
                : shortT ? (v.HalfH != 0 ? BackwardShort<TN, TS, H16Read> : BackwardShort<TN, TS, H32Read>)
                : v.HalfH != 0 ? Saved<TN, TS, H16Read>(depth) : Saved<TN, TS, H32Read>(depth)));
        Backends.LaunchCounter.Hit();
        k(stream, Config(acc, v.N), v);
    }

    private static Action<BwdViews> Saved<TN, TS, TH>(int depth)
        where TN : struct, INeuron where TS : struct, ISurrogate where TH : struct, IHRead =>
        depth switch
        {
            4 => Backward<TN, TS, TH, Depth4>,
            8 => Backward<TN, TS, TH, Depth8>,
            16 => Backward<TN, TS, TH, Depth16>,
            _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "batch depth must be 4, 8 or 16"),
        };

    /// <summary>Steps of loads per backward batch for <paramref name="n"/> neurons: deeper batches when fewer
    /// threads leave the device's thread slots empty (the walk over time is then latency-bound), shallower when
    /// occupancy is the limit. H200, backward ms with 4 / 8 / 16 steps, one run
    /// (bench/results/neurons-h200.json, rows f32-dK): 64×1048576 0.236 / 0.264 / 0.314; 256×65536
    /// 0.091 / 0.079 / 0.111; 2048×24576 0.590 / 0.471 / 0.407.</summary>
    public static int Depth(Accelerator acc, int n) =>
        DepthOverride is 4 or 8 or 16 ? DepthOverride
        : n < acc.NumMultiprocessors * 256 ? 16 : n < acc.NumMultiprocessors * 1024 ? 8 : 4;

    /// <summary>Forces a batch depth (4, 8 or 16; 0 = chosen by <see cref="Depth"/>): for same-run comparisons in
    /// the benchmark.</summary>
    internal static int DepthOverride { get; set; }
}
