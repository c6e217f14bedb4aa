using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpikeSharp.Neurons;

/// <summary>
/// The CPU neuron driver's 8-wide steps for non-adaptive models (LIF, IF, PLIF): the operations of
/// <see cref="NeuronMath"/> in the same order and without fused multiply-adds, lanes over neurons, so every value
/// equals the scalar path's to the bit (tests compare them). Per-neuron parameters come as arrays (one value per
/// neuron of the chunk). Each method returns how many neurons it did, a multiple of 8; the caller does the rest
/// with the scalar math.
/// </summary>
internal static class CpuNeuronSimd
{
    /// <summary>Whether the vector steps run on this machine.</summary>
    public static bool Enabled => Vector256.IsHardwareAccelerated;

    /// <summary>One forward step: h = λ·u + x, s = h ≥ θ, u = reset(h, s); h and hOut are written when not empty,
    /// spike bits OR-ed into words; finite turns false on a NaN or ±∞ input.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // tier-0 vector code is many times slower
    public static int Forward<TN>(ReadOnlySpan<float> decay, ReadOnlySpan<float> threshold, int soft, float vReset,
        ReadOnlySpan<float> x, Span<float> s, Span<float> u, Span<float> h, Span<float> hOut, Span<int> words,
        int bit, ref bool finite) where TN : struct, INeuron
    {
        if (!Enabled) return 0;
        var vr = Vector256.Create(vReset);
        var bits = Vector256.Create(bit);
        var ok = Vector256<int>.AllBitsSet;
        int n = x.Length & ~7;
        for (int i = 0; i < n; i += 8)
        {
            var xv = Vector256.Create(x.Slice(i, 8));
            var th = Vector256.Create(threshold.Slice(i, 8));
            var lam = default(TN).Leaky ? Vector256.Create(decay.Slice(i, 8)) : Vector256<float>.One;
            var hv = lam * Vector256.Create((ReadOnlySpan<float>)u.Slice(i, 8)) + xv;
            var fire = Vector256.GreaterThanOrEqual(hv, th);
            var sv = fire & Vector256<float>.One;
            var uv = soft != 0 ? hv - th * sv : Vector256.ConditionalSelect(fire, vr, hv);
            ok &= Vector256.Equals(xv - xv, Vector256<float>.Zero).AsInt32(); // NaN or ±∞ gives NaN
            sv.CopyTo(s.Slice(i, 8));
            uv.CopyTo(u.Slice(i, 8));
            if (!h.IsEmpty) hv.CopyTo(h.Slice(i, 8));
            if (!hOut.IsEmpty) hv.CopyTo(hOut.Slice(i, 8));
            var w = Vector256.Create((ReadOnlySpan<int>)words.Slice(i, 8)) | (fire.AsInt32() & bits);
            w.CopyTo(words.Slice(i, 8));
        }
        finite &= ok == Vector256<int>.AllBitsSet;
        return n;
    }

    /// <summary>Recompute mode: h (T rows of len) of every step from x (T rows, N apart), the initial membrane
    /// (u0, or zeros when empty) and the saved spike fields (bit t of word).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // tier-0 vector code is many times slower
    public static int Replay<TN>(ReadOnlySpan<float> decay, ReadOnlySpan<float> threshold, int soft, float vReset,
        int T, float[] x, int xo, int N, ReadOnlySpan<float> u0, ReadOnlySpan<int> word, Span<float> h, int len)
        where TN : struct, INeuron
    {
        if (!Enabled) return 0;
        var vr = Vector256.Create(vReset);
        int n = len & ~7;
        for (int i = 0; i < n; i += 8)
        {
            var th = Vector256.Create(threshold.Slice(i, 8));
            var lam = default(TN).Leaky ? Vector256.Create(decay.Slice(i, 8)) : Vector256<float>.One;
            var wd = Vector256.Create(word.Slice(i, 8));
            var u = u0.IsEmpty ? Vector256<float>.Zero : Vector256.Create(u0.Slice(i, 8));
            for (int t = 0; t < T; t++)
            {
                var hv = lam * u + Vector256.Create(new ReadOnlySpan<float>(x, xo + t * N + i, 8));
                var sv = Vector256.ConvertToSingle((wd >>> t) & Vector256<int>.One);
                var quiet = Vector256.Equals(sv, Vector256<float>.Zero);
                u = soft != 0 ? hv - th * sv : Vector256.ConditionalSelect(quiet, hv, vr);
                hv.CopyTo(h.Slice(t * len + i, 8));
            }
        }
        return n;
    }

    /// <summary>
    /// One backward step k of a word with the arctan surrogate (<see cref="ArctanTetherSurrogate"/>), as
    /// <see cref="NeuronMath.Backward{TN, TS}"/> plus the decay term the driver adds: reads the step's h, spike
    /// gradient gs (zeros when empty) and spike fields, updates gU, the parameter sums and ghNext, writes gx.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // tier-0 vector code is many times slower
    public static int BackwardArctan<TN>(ReadOnlySpan<float> decay, ReadOnlySpan<float> threshold,
        ReadOnlySpan<float> alpha, int soft, int detachReset, float vReset, int k, ReadOnlySpan<int> word,
        ReadOnlySpan<float> h, ReadOnlySpan<float> gs, Span<float> gU, Span<float> ghNext, Span<float> gx,
        Span<float> accDecay, Span<float> accThreshold, Span<float> accAlpha) where TN : struct, INeuron
    {
        if (!Enabled) return 0;
        var vr = Vector256.Create(vReset);
        var pi = Vector256.Create(MathF.PI);
        int n = h.Length & ~7;
        for (int i = 0; i < n; i += 8)
        {
            var th = Vector256.Create(threshold.Slice(i, 8));
            var al = Vector256.Create(alpha.Slice(i, 8));
            var sv = Vector256.ConvertToSingle((Vector256.Create(word.Slice(i, 8)) >>> k) & Vector256<int>.One);
            var hv = Vector256.Create(h.Slice(i, 8));
            var gu = Vector256.Create((ReadOnlySpan<float>)gU.Slice(i, 8));
            var quiet = Vector256.Equals(sv, Vector256<float>.Zero);
            if (default(TN).Leaky)
            {
                // The decay's gradient: ∂L/∂h_{t+1} times u_t = reset(h_t, s_t).
                var reset = soft != 0 ? hv - th * sv : Vector256.ConditionalSelect(quiet, hv, vr);
                var accD = Vector256.Create((ReadOnlySpan<float>)accDecay.Slice(i, 8))
                    + Vector256.Create((ReadOnlySpan<float>)ghNext.Slice(i, 8)) * reset;
                accD.CopyTo(accDecay.Slice(i, 8));
            }
            var z = hv - th;
            var zz = al * pi * z;
            var sg = al / (Vector256<float>.One + zz * zz);
            var gSpike = gs.IsEmpty ? Vector256<float>.Zero : Vector256.Create(gs.Slice(i, 8));
            Vector256<float> dUdH, dUdS, dUdTh;
            if (soft != 0) { dUdH = Vector256<float>.One; dUdS = -th; dUdTh = -sv; }
            else { dUdH = Vector256<float>.One - sv; dUdS = vr - hv; dUdTh = Vector256<float>.Zero; }
            if (detachReset == 0) gSpike += gu * dUdS;
            var gh = gSpike * sg + gu * dUdH;
            var gth = gu * dUdTh - gSpike * sg;
            (Vector256.Create((ReadOnlySpan<float>)accThreshold.Slice(i, 8)) + gth).CopyTo(accThreshold.Slice(i, 8));
            var accA = Vector256.Create((ReadOnlySpan<float>)accAlpha.Slice(i, 8)) + gSpike * z * sg / al;
            accA.CopyTo(accAlpha.Slice(i, 8));
            (default(TN).Leaky ? Vector256.Create(decay.Slice(i, 8)) * gh : gh).CopyTo(gU.Slice(i, 8));
            gh.CopyTo(gx.Slice(i, 8));
            gh.CopyTo(ghNext.Slice(i, 8));
        }
        return n;
    }
}
