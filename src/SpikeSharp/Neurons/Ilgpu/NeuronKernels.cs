using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>Device views of one fused forward pass (layouts as <see cref="NeuronForwardArgs"/>; Has* flags mark the
/// optional ones).</summary>
internal struct FwdViews
{
    public ArrayView<float> X, V0, A0, Decay, Threshold, Beta, DecayA, Spikes, VT, AT, H32, HOut, AChk;
    public ArrayView<ILGPU.Half> H16;
    public ArrayView<ushort> H16Bits; // the same memory as H16, written by HalfNearest
    public ArrayView<int> Bits, Flags;
    public int T, N, HasV0, HasA0, HasAT, HasH32, HasH16, HasHOut, HasBits, Soft, Lanes, Width, WordsPerRow, FlagShift;
    public float VReset;
}

/// <summary>What the forward kernel keeps of h for backward (compile-time, so the other kinds' stores do not exist
/// in it).</summary>
internal interface IHKeep
{
    /// <summary>Bytes per value kept: 0 (none: inference or recompute mode), 4 (float32) or 2 (float16 pairs).
    /// </summary>
    int Bytes { get; }
}

/// <summary>No h kept.</summary>
internal struct KeepNoH : IHKeep { public readonly int Bytes => 0; }

/// <summary>float32 h kept.</summary>
internal struct KeepH32 : IHKeep { public readonly int Bytes => 4; }

/// <summary>float16 h kept (<see cref="HalfPairs"/>).</summary>
internal struct KeepH16 : IHKeep { public readonly int Bytes => 2; }

/// <summary>How a forward kernel rounds the float16 h it keeps (compile-time, as <see cref="IHKeep"/>).</summary>
internal interface IHalfRound
{
    /// <summary>True: <see cref="HalfBits.FromFloat"/> on the raw bits; false: the accelerator's cast.</summary>
    bool Explicit { get; }
}

/// <summary>The accelerator's float → half cast: on CUDA one cvt.rn.f16.f32, round to nearest even, the same bits
/// as System.Half (NeuronBehaviourTests.Float16SavedStateIsRoundedToNearestEven checks them on every device).
/// </summary>
internal struct HalfNative : IHalfRound { public readonly bool Explicit => false; }

/// <summary>Round to nearest even on the raw bits (<see cref="HalfBits"/>): for accelerators whose own cast does
/// not, such as ILGPU's CPU accelerator, which truncates.</summary>
internal struct HalfNearest : IHalfRound { public readonly bool Explicit => true; }

/// <summary>
/// The fused neuron kernels for ILGPU: one thread per neuron walks time, loads coalesced across the warp and
/// issued several steps ahead of their use (forward: 16, then 4, then 1; backward: 4, 8 or 16 by grid width, or
/// all 16 steps for T ≤ 16). This file holds what both directions share and the one-neuron forward kernel; the
/// backward kernels are in NeuronKernels.Backward.cs, the four-neuron forward kernel in NeuronKernels.Vec4.cs.
/// The step math is <see cref="NeuronMath"/>, shared with the CPU driver. Parameter gradients are reduced in the
/// block (warp shuffles, then shared memory) and written with one atomic per block, or one per neuron for
/// per-feature parameters. Invalid x or parameters raise bits in a device flag word (<see cref="NeuronFlag"/>,
/// shifted to the calling op's byte), checked once per thread outside the walk over time (x as it is read).
/// </summary>
internal static partial class NeuronKernels
{
    /// <summary>
    /// Threads per block on a GPU: 64 measured fastest on the H200 with the first kernels (fwd+bwd 16×4M: 0.483 ms
    /// at 64, 0.490 at 128, 0.509 at 256, 0.531 at 1024); SPIKESHARP_NEURON_BLOCK overrides it for tuning. Capped
    /// by the accelerator (the CPU emulation allows 64).
    /// </summary>
    public static readonly int BlockSize =
        int.TryParse(Environment.GetEnvironmentVariable("SPIKESHARP_NEURON_BLOCK"), out int b)
        && b is >= 32 and <= 1024 && b % 32 == 0 ? b : 64;

    // Loaded kernels by accelerator, variant name and the type that completes the instantiation (the surrogate for
    // backward kernels: a user's struct may share a built-in one's name; the model for forward ones).
    private static readonly ConcurrentDictionary<(Accelerator, string, Type), Delegate> _cache = new();

    private static bool Finite(float v) => v - v == 0f;

    private static NeuronParams Load(ArrayView<float> d, ArrayView<float> th, ArrayView<float> b,
        ArrayView<float> da, int n)
    {
        var p = new NeuronParams();
        p.Decay = d[n % d.IntLength]; p.Threshold = th[n % th.IntLength];
        p.Beta = b[n % b.IntLength]; p.DecayA = da[n % da.IntLength];
        return p;
    }

    // The flags of out-of-range parameters: the same ranges as NeuronChecks on the CPU.
    private static int ParamFlags<TN>(NeuronParams p) where TN : struct, INeuron
    {
        int bad = 0;
        if (default(TN).Leaky && !(p.Decay >= 0f && p.Decay <= 1f)) bad |= NeuronFlag.Decay;
        if (!Finite(p.Threshold)) bad |= NeuronFlag.Threshold;
        if (default(TN).Adaptive && !Finite(p.Beta)) bad |= NeuronFlag.Beta;
        if (default(TN).Adaptive && !(p.DecayA >= 0f && p.DecayA <= 1f)) bad |= NeuronFlag.DecayA;
        return bad;
    }

    private static void FwdStep<TN, TK, TR>(ref FwdViews a, NeuronParams p, int n, int t, float x, ref float u,
        ref float av, ref int word, ref int bad)
        where TN : struct, INeuron where TK : struct, IHKeep where TR : struct, IHalfRound
    {
        int i = t * a.N + n;
        if (a.HasBits != 0 && default(TN).Adaptive && (t & 31) == 0) a.AChk[(t >> 5) * a.N + n] = av;
        if (!Finite(x)) bad = 1;
        float h;
        float s = NeuronMath.Forward<TN>(p, x, ref u, ref av, out h);
        a.Spikes[i] = s;
        if (default(TK).Bytes == 4) a.H32[i] = h;
        if (default(TK).Bytes == 2)
        {
            if (default(TR).Explicit) a.H16Bits[HalfPairs.Index(t, n, a.N)] = HalfBits.FromFloat(h);
            else a.H16[HalfPairs.Index(t, n, a.N)] = (ILGPU.Half)h;
        }
        if (a.HasHOut != 0) a.HOut[i] = h;
        if (s != 0f) word |= 1 << (t & 31);
        if (((t & 31) == 31 || t == a.T - 1) && a.Lanes == 1)
        {
            if (a.HasBits != 0) a.Bits[(t >> 5) * a.N + n] = word;
            word = 0;
        }
    }

    /// <summary>Forward: x → spikes, final state, saved h and bits.</summary>
    public static void Forward<TN, TK, TR>(FwdViews a)
        where TN : struct, INeuron where TK : struct, IHKeep where TR : struct, IHalfRound
    {
        int n = Grid.GlobalIndex.X, word = 0;
        if (n < a.N)
        {
            var p = Load(a.Decay, a.Threshold, a.Beta, a.DecayA, n);
            p.Soft = a.Soft; p.VReset = a.VReset; p.Alpha = 1f; p.DetachReset = 1;
            int bad = ParamFlags<TN>(p);
            float u = a.HasV0 != 0 ? a.V0[n] : 0f;
            float av = a.HasA0 != 0 ? a.A0[n] : 0f;
            int nanSeen = 0, N = a.N, t = 0;
            for (; t + 16 <= a.T; t += 16)
            {
                // Sixteen steps of loads in flight per thread: long sequences over few neurons are latency-bound.
                int b = t * N + n;
                float x0 = a.X[b], x1 = a.X[b + N], x2 = a.X[b + 2 * N], x3 = a.X[b + 3 * N];
                float x4 = a.X[b + 4 * N], x5 = a.X[b + 5 * N], x6 = a.X[b + 6 * N], x7 = a.X[b + 7 * N];
                float x8 = a.X[b + 8 * N], x9 = a.X[b + 9 * N], x10 = a.X[b + 10 * N], x11 = a.X[b + 11 * N];
                float x12 = a.X[b + 12 * N], x13 = a.X[b + 13 * N], x14 = a.X[b + 14 * N], x15 = a.X[b + 15 * N];
                FwdStep<TN, TK, TR>(ref a, p, n, t, x0, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 1, x1, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 2, x2, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 3, x3, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 4, x4, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 5, x5, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 6, x6, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 7, x7, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 8, x8, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 9, x9, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 10, x10, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 11, x11, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 12, x12, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 13, x13, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 14, x14, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 15, x15, ref u, ref av, ref word, ref nanSeen);
            }
            for (; t + 4 <= a.T; t += 4)
            {
                float x0 = a.X[t * N + n], x1 = a.X[(t + 1) * N + n];
                float x2 = a.X[(t + 2) * N + n], x3 = a.X[(t + 3) * N + n];
                FwdStep<TN, TK, TR>(ref a, p, n, t, x0, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 1, x1, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 2, x2, ref u, ref av, ref word, ref nanSeen);
                FwdStep<TN, TK, TR>(ref a, p, n, t + 3, x3, ref u, ref av, ref word, ref nanSeen);
            }
            for (; t < a.T; t++)
                FwdStep<TN, TK, TR>(ref a, p, n, t, a.X[t * N + n], ref u, ref av, ref word, ref nanSeen);
            a.VT[n] = u;
            if (a.HasAT != 0) a.AT[n] = av;
            if (nanSeen != 0) bad |= NeuronFlag.X;
            if (bad != 0) Atomic.Or(ref a.Flags[0], bad << a.FlagShift);
        }
        // Short sequences: neighbouring lanes share a word (SpikeBits); every lane of the warp takes part in the OR.
        if (a.Lanes > 1)
        {
            int v = word << ((n % a.Lanes) * a.Width);
            for (int m = 1; m < a.Lanes; m <<= 1) v |= Warp.ShuffleXor(v, m);
            if (a.HasBits != 0 && n < a.N && n % a.Lanes == 0) a.Bits[n / a.Lanes] = v;
        }
    }

    private static KernelConfig Config(Accelerator acc, int n)
    {
        int b = Math.Min(BlockSize, acc.MaxNumThreadsPerGroup);
        return new((n + b - 1) / b, b);
    }

    /// <summary>Whether float16 h is rounded by <see cref="HalfNearest"/> on <paramref name="acc"/>: everywhere but
    /// on CUDA, whose own conversion already rounds to nearest even.</summary>
    public static bool ExplicitHalfRounding(Accelerator acc) => acc.AcceleratorType != AcceleratorType.Cuda;

    /// <summary>Launches the forward kernel for model <typeparamref name="TN"/> on <paramref name="stream"/>.
    /// </summary>
    public static void LaunchForward<TN>(Accelerator acc, AcceleratorStream stream, FwdViews v)
        where TN : struct, INeuron
    {
        if (v.N == 0) return;
        int keep = v.HasH32 != 0 ? 4 : v.HasH16 != 0 ? 2 : 0;
        bool exact = ExplicitHalfRounding(acc);
        if (keep == 2 && exact) v.H16Bits = v.H16.Cast<ushort>();
        string name = "fwd1n-keep" + keep + (exact ? "rn" : "");
        var k = (Action<AcceleratorStream, KernelConfig, FwdViews>)_cache.GetOrAdd((acc, name, typeof(TN)),
            key => key.Item1.LoadKernel<FwdViews>(keep == 4 ? Forward<TN, KeepH32, HalfNative>
                : keep == 0 ? Forward<TN, KeepNoH, HalfNative>
                : exact ? Forward<TN, KeepH16, HalfNearest> : Forward<TN, KeepH16, HalfNative>));
        Backends.LaunchCounter.Hit();
        k(stream, Config(acc, v.N), v);
    }
}
