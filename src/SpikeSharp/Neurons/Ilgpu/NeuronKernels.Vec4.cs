using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>Four float32 values moved as one 16-byte access (ILGPU emits ld/st.global.v4 for views of it).</summary>
internal struct Vec4 { public float X, Y, Z, W; }

/// <summary>Two steps of four neurons in the float16 pair layout (<see cref="HalfPairs"/>): 16 bytes.</summary>
internal struct Half8 { public ILGPU.Half X0, X1, Y0, Y1, Z0, Z1, W0, W1; }

/// <summary><see cref="Half8"/> as raw float16 bits, for the kernel that rounds them itself
/// (<see cref="HalfNearest"/>).</summary>
internal struct Bits8 { public ushort X0, X1, Y0, Y1, Z0, Z1, W0, W1; }

/// <summary>Two or four bit words moved as one access.</summary>
internal struct Int2 { public int X, Y; }

/// <inheritdoc cref="Int2"/>
internal struct Int4 { public int X, Y, Z, W; }

/// <summary>The parameters of four neighbouring neurons.</summary>
internal struct Params4 { public NeuronParams X, Y, Z, W; }

/// <summary>Device views of one forward pass of the four-neuron kernel (N4 = N / 4 groups of four neurons).</summary>
internal struct Fwd4Views
{
    public ArrayView<Vec4> X, V0, Spikes, VT, H32, HOut;
    public ArrayView<Half8> H16;
    public ArrayView<Bits8> H16Bits; // the same memory as H16, written by HalfNearest
    public ArrayView<float> Decay, Threshold;
    public ArrayView<int> Bits1, Flags;
    public ArrayView<Int2> Bits2;
    public ArrayView<Int4> Bits4;
    public int T, N4, HasV0, HasH32, HasH16, HasHOut, HasBits, Soft, Lanes, FlagShift;
    public float VReset;
}

/// <summary>
/// The four-neuron forward kernel for non-adaptive models (LIF, PLIF, IF) when N is a multiple of 4, every buffer
/// is 16-byte aligned and N/4 threads still fill the GPU: each thread walks four neighbouring neurons, so every
/// load and store is a 16-byte vector access (8 bytes for float16 h), and eight time steps of loads are issued
/// before the first is used. On the H200 a 16-byte copy reaches the device copy rate where a 4-byte one reaches
/// 60 % of it (bench/results/h200/bandwidth-probe.txt); the forward pass of 16×4M gains 3–6 %. A four-neuron
/// backward kernel was measured too and lost to the one-neuron one (register pressure: 0.347 against 0.242 ms),
/// so the backward pass is always <see cref="Backward{TN, TS, TH, TD}"/> or <see cref="BackwardShort{TN, TS, TH}"/>,
/// which read the same bit layout. The step math is <see cref="NeuronMath"/>, as everywhere.
/// </summary>
internal static partial class NeuronKernels
{
    private static Params4 Load4(ArrayView<float> d, ArrayView<float> th, int i, int soft, float vReset)
    {
        var p = new Params4
        {
            X = Load(d, th, th, th, 4 * i), Y = Load(d, th, th, th, 4 * i + 1),
            Z = Load(d, th, th, th, 4 * i + 2), W = Load(d, th, th, th, 4 * i + 3),
        };
        p.X.Soft = p.Y.Soft = p.Z.Soft = p.W.Soft = soft;
        p.X.VReset = p.Y.VReset = p.Z.VReset = p.W.VReset = vReset;
        return p;
    }

    private static float Fwd1<TN>(NeuronParams p, float x, ref float u, out float h) where TN : struct, INeuron
    {
        float a = 0f;
        return NeuronMath.Forward<TN>(p, x, ref u, ref a, out h);
    }

    // Steps t − 1 (even) and t of four neurons, interleaved per neuron as HalfPairs stores them.
    private static Half8 ToHalf8(Vec4 even, Vec4 odd) => new()
    {
        X0 = (ILGPU.Half)even.X, X1 = (ILGPU.Half)odd.X, Y0 = (ILGPU.Half)even.Y, Y1 = (ILGPU.Half)odd.Y,
        Z0 = (ILGPU.Half)even.Z, Z1 = (ILGPU.Half)odd.Z, W0 = (ILGPU.Half)even.W, W1 = (ILGPU.Half)odd.W,
    };

    private static Bits8 ToBits8(Vec4 even, Vec4 odd) => new()
    {
        X0 = HalfBits.FromFloat(even.X), X1 = HalfBits.FromFloat(odd.X),
        Y0 = HalfBits.FromFloat(even.Y), Y1 = HalfBits.FromFloat(odd.Y),
        Z0 = HalfBits.FromFloat(even.Z), Z1 = HalfBits.FromFloat(odd.Z),
        W0 = HalfBits.FromFloat(even.W), W1 = HalfBits.FromFloat(odd.W),
    };

    // Steps t − 1 (even) and t (odd; t − 1 again when t is the last step and even) of four neurons, rounded by TR.
    private static void StoreHalf<TR>(ref Fwd4Views a, int idx, Vec4 even, Vec4 odd) where TR : struct, IHalfRound
    {
        if (default(TR).Explicit) a.H16Bits[idx] = ToBits8(even, odd);
        else a.H16[idx] = ToHalf8(even, odd);
    }

    private static void FwdStep4<TN, TR>(ref Fwd4Views a, ref Params4 p, int i, int t, Vec4 x, ref Vec4 u,
        ref Int4 word, ref int bad, ref Vec4 hEven)
        where TN : struct, INeuron where TR : struct, IHalfRound
    {
        if (!(Finite(x.X) & Finite(x.Y) & Finite(x.Z) & Finite(x.W))) bad = 1;
        Vec4 s, h;
        s.X = Fwd1<TN>(p.X, x.X, ref u.X, out h.X);
        s.Y = Fwd1<TN>(p.Y, x.Y, ref u.Y, out h.Y);
        s.Z = Fwd1<TN>(p.Z, x.Z, ref u.Z, out h.Z);
        s.W = Fwd1<TN>(p.W, x.W, ref u.W, out h.W);
        int idx = t * a.N4 + i;
        a.Spikes[idx] = s;
        if (a.HasH32 != 0) a.H32[idx] = h;
        if (a.HasH16 != 0)
        {
            // float16 h goes out every second step, both steps in one 16-byte store (the last step alone when T is
            // odd).
            if ((t & 1) == 0) hEven = h;
            if ((t & 1) == 1) StoreHalf<TR>(ref a, (t >> 1) * a.N4 + i, hEven, h);
            else if (t == a.T - 1) StoreHalf<TR>(ref a, (t >> 1) * a.N4 + i, h, h);
        }
        if (a.HasHOut != 0) a.HOut[idx] = h;
        int bit = 1 << (t & 31);
        if (s.X != 0f) word.X |= bit;
        if (s.Y != 0f) word.Y |= bit;
        if (s.Z != 0f) word.Z |= bit;
        if (s.W != 0f) word.W |= bit;
        if ((t & 31) == 31 || t == a.T - 1)
        {
            if (a.HasBits != 0)
            {
                if (a.Lanes == 1) a.Bits4[(t >> 5) * a.N4 + i] = word;
                else if (a.Lanes == 2)
                    a.Bits2[i] = new Int2 { X = word.X | (word.Y << 16), Y = word.Z | (word.W << 16) };
                else a.Bits1[i] = word.X | (word.Y << 8) | (word.Z << 16) | (word.W << 24);
            }
            word = default;
        }
    }

    /// <summary>Forward, four neurons per thread.</summary>
    public static void Forward4<TN, TR>(Fwd4Views a) where TN : struct, INeuron where TR : struct, IHalfRound
    {
        int i = Grid.GlobalIndex.X, N4 = a.N4;
        if (i >= N4) return;
        var p = Load4(a.Decay, a.Threshold, i, a.Soft, a.VReset);
        int bad = ParamFlags<TN>(p.X) | ParamFlags<TN>(p.Y) | ParamFlags<TN>(p.Z) | ParamFlags<TN>(p.W);
        Vec4 u = a.HasV0 != 0 ? a.V0[i] : default;
        var word = new Int4();
        Vec4 hEven = default;
        int nan = 0, t = 0;
        for (; t + 8 <= a.T; t += 8)
        {
            int b = t * N4 + i;
            Vec4 x0 = a.X[b], x1 = a.X[b + N4], x2 = a.X[b + 2 * N4], x3 = a.X[b + 3 * N4];
            Vec4 x4 = a.X[b + 4 * N4], x5 = a.X[b + 5 * N4], x6 = a.X[b + 6 * N4], x7 = a.X[b + 7 * N4];
            FwdStep4<TN, TR>(ref a, ref p, i, t, x0, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 1, x1, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 2, x2, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 3, x3, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 4, x4, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 5, x5, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 6, x6, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 7, x7, ref u, ref word, ref nan, ref hEven);
        }
        for (; t + 4 <= a.T; t += 4)
        {
            int b = t * N4 + i;
            Vec4 x0 = a.X[b], x1 = a.X[b + N4], x2 = a.X[b + 2 * N4], x3 = a.X[b + 3 * N4];
            FwdStep4<TN, TR>(ref a, ref p, i, t, x0, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 1, x1, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 2, x2, ref u, ref word, ref nan, ref hEven);
            FwdStep4<TN, TR>(ref a, ref p, i, t + 3, x3, ref u, ref word, ref nan, ref hEven);
        }
        for (; t < a.T; t++) FwdStep4<TN, TR>(ref a, ref p, i, t, a.X[t * N4 + i], ref u, ref word, ref nan, ref hEven);
        a.VT[i] = u;
        if (nan != 0) bad |= NeuronFlag.X;
        if (bad != 0) Atomic.Or(ref a.Flags[0], bad << a.FlagShift);
    }

    /// <summary>Launches the four-neuron forward kernel.</summary>
    public static void LaunchForward4<TN>(Accelerator acc, AcceleratorStream stream, Fwd4Views v)
        where TN : struct, INeuron
    {
        if (v.N4 == 0) return;
        bool exact = ExplicitHalfRounding(acc);
        if (exact && v.HasH16 != 0) v.H16Bits = v.H16.Cast<Bits8>();
        string name = exact ? "fwd4n-rn" : "fwd4n";
        var k = (Action<AcceleratorStream, KernelConfig, Fwd4Views>)_cache.GetOrAdd((acc, name, typeof(TN)),
            key => key.Item1.LoadKernel<Fwd4Views>(exact ? Forward4<TN, HalfNearest> : Forward4<TN, HalfNative>));
        Backends.LaunchCounter.Hit();
        k(stream, Config(acc, v.N4), v);
    }
}
