using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Neurons;

/// <summary>
/// The CPU driver of the fused neuron functions: Parallel.For over chunks of neurons; inside a chunk the
/// time loop is outer and the neuron loop inner, so each step reads and writes one contiguous row slice.
/// This is the specification the ILGPU kernels are tested against.
/// </summary>
internal sealed class CpuNeuronDriver : INeuronDriver
{
    public static CpuNeuronDriver Instance { get; } = new();

    public bool TryReadOnHost(Buf b, out ReadOnlySpan<float> values)
    {
        values = b.F();
        return true;
    }

    private static int ChunkSize(int n) => Math.Clamp(n / (4 * Environment.ProcessorCount), 64, 1024);

    private static NeuronParams Gather(float[] d, int dO, int dL, float[] th, int thO, int thL, float[] b, int bO, int bL,
        float[] da, int daO, int daL, float alpha, int n, int soft, float vReset, int detach) => new()
    {
        Decay = d[dO + n % dL], Threshold = th[thO + n % thL], Beta = b[bO + n % bL], DecayA = da[daO + n % daL],
        Alpha = alpha, Soft = soft, VReset = vReset, DetachReset = detach,
    };

    public bool NeuronForward<TN>(NeuronForwardArgs a) where TN : struct, INeuron
    {
        int T = a.T, N = a.N;
        var x = a.X.Array<float>(); int xo = a.X.Offset;
        var sp = a.Spikes.Array<float>(); int so = a.Spikes.Offset;
        float[]? hf = a.H is { DType: DType.Float32 } hb ? hb.Array<float>() : null;
        Half[]? hh = a.H is { DType: DType.Float16 } hb2 ? hb2.Array<Half>() : null;
        int ho = a.H?.Offset ?? 0;
        float[]? hOut = a.HOut?.Array<float>(); int hOutO = a.HOut?.Offset ?? 0;
        int[]? bits = a.Bits?.Array<int>(); int bo = a.Bits?.Offset ?? 0;
        float[]? chk = a.AChk?.Array<float>(); int co = a.AChk?.Offset ?? 0;
        bool adaptive = default(TN).Adaptive;
        int chunk = ChunkSize(N) / 4 * 4, chunks = (N + chunk - 1) / chunk; // chunks hold whole words
        int bad = 0;
        LaunchCounter.Hit();
        Parallel.For(0, chunks, c =>
        {
            int n0 = c * chunk, len = Math.Min(chunk, N - n0);
            var p = new NeuronParams[len]; var u = new float[len]; var av = new float[len]; var words = new int[len];
            for (int i = 0; i < len; i++)
            {
                int n = n0 + i;
                p[i] = Gather(a.Decay.Array<float>(), a.Decay.Offset, a.Decay.Length, a.Threshold.Array<float>(), a.Threshold.Offset, a.Threshold.Length,
                    a.Beta.Array<float>(), a.Beta.Offset, a.Beta.Length, a.DecayA.Array<float>(), a.DecayA.Offset, a.DecayA.Length, 1f, n, a.Soft, a.VReset, 1);
                u[i] = a.V0 is { } v0 ? v0.Array<float>()[v0.Offset + n] : 0f;
                av[i] = a.A0 is { } a0 ? a0.Array<float>()[a0.Offset + n] : 0f;
            }
            bool finite = true;
            for (int t = 0; t < T; t++)
            {
                int row = t * N + n0;
                if (chk != null && (t & 31) == 0)
                    for (int i = 0; i < len; i++) chk[co + (t >> 5) * N + n0 + i] = av[i];
                for (int i = 0; i < len; i++)
                {
                    float xv = x[xo + row + i];
                    finite &= float.IsFinite(xv);
                    float s = NeuronMath.Forward<TN>(p[i], xv, ref u[i], ref av[i], out float h);
                    sp[so + row + i] = s;
                    if (hf != null) hf[ho + row + i] = h; else if (hh != null) hh[ho + HalfPairs.Index(t, n0 + i, N)] = (Half)h;
                    if (hOut != null) hOut[hOutO + row + i] = h;
                    if (s != 0f) words[i] |= 1 << (t & 31);
                }
                if (bits != null && ((t & 31) == 31 || t == T - 1))
                {
                    // Chunks start on a multiple of 4 neurons, so a chunk owns whole words (clear, then OR the fields in).
                    for (int i = 0; i < len; i++) bits[bo + SpikeBits.Word(T, N, t >> 5, n0 + i)] = 0;
                    for (int i = 0; i < len; i++) bits[bo + SpikeBits.Word(T, N, t >> 5, n0 + i)] |= words[i] << SpikeBits.Shift(T, n0 + i);
                    Array.Clear(words);
                }
                else if (bits == null && (t & 31) == 31) Array.Clear(words);
            }
            var vt = a.VT.Array<float>();
            for (int i = 0; i < len; i++) vt[a.VT.Offset + n0 + i] = u[i];
            if (adaptive && a.AT is { } at) for (int i = 0; i < len; i++) at.Array<float>()[at.Offset + n0 + i] = av[i];
            if (!finite) Interlocked.Exchange(ref bad, 1);
        });
        return bad == 0;
    }

    public void NeuronBackward<TN, TS>(NeuronBackwardArgs a) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        int N = a.N, chunk = ChunkSize(N), chunks = (N + chunk - 1) / chunk;
        // One worker per core walks a fixed, contiguous range of chunks with one set of scratch arrays and one set
        // of parameter-gradient sums (per-feature sums are F long: 100,352 for the first PLIF layer of plif-csnn,
        // so sums per chunk would take chunks × F floats). The ranges do not depend on scheduling, so the sums are
        // deterministic.
        int workers = Math.Min(chunks, Environment.ProcessorCount);
        var sums = new ParamSums[workers];
        LaunchCounter.Hit();
        Parallel.For(0, workers, w =>
        {
            var s = new ParamSums(a);
            var scratch = new BackwardScratch(chunk, a.T, default(TN).Adaptive, a.H == null);
            int c0 = (int)((long)chunks * w / workers), c1 = (int)((long)chunks * (w + 1) / workers);
            for (int c = c0; c < c1; c++)
                BackwardChunk<TN, TS>(a, c * chunk, Math.Min(chunk, N - c * chunk), scratch, s);
            sums[w] = s;
        });
        ParamSums.Write(sums, a);
    }

    /// <summary>Per-worker arrays of the backward pass, reused for every chunk the worker takes.</summary>
    private sealed class BackwardScratch(int chunk, int T, bool adaptive, bool recompute)
    {
        public readonly NeuronParams[] P = new NeuronParams[chunk];
        public readonly float[] GU = new float[chunk], GA = new float[chunk], GhNext = new float[chunk];
        public readonly ParamGrads[] Acc = new ParamGrads[chunk];
        public readonly int[] Word = new int[chunk];
        public readonly float[]? ALoc = adaptive ? new float[32 * chunk] : null;
        public readonly float[]? HRe = recompute ? new float[T * chunk] : null;
    }

    private static void BackwardChunk<TN, TS>(NeuronBackwardArgs a, int n0, int len, BackwardScratch sc, ParamSums sums)
        where TN : struct, INeuron where TS : struct, ISurrogate
    {
        int T = a.T, N = a.N, W = (T + 31) >> 5;
        float[]? gs = a.GSpikes?.Array<float>(); int gso = a.GSpikes?.Offset ?? 0;
        float[]? hf = a.H is { DType: DType.Float32 } h32 ? h32.Array<float>() : null;
        Half[]? hh = a.H is { DType: DType.Float16 } h16 ? h16.Array<Half>() : null;
        int ho = a.H?.Offset ?? 0;
        var bits = a.Bits.Array<int>(); int bo = a.Bits.Offset;
        var gx = a.GX.Array<float>(); int gxo = a.GX.Offset;
        float[]? chk = a.AChk?.Array<float>(); int co = a.AChk?.Offset ?? 0;
        bool leaky = default(TN).Leaky;
        var p = sc.P; var gU = sc.GU; var gA = sc.GA; var ghNext = sc.GhNext; var acc = sc.Acc; var word = sc.Word;
        var aLoc = sc.ALoc; var hRe = sc.HRe;
        Array.Clear(ghNext, 0, len);
        Array.Clear(acc, 0, len);
        for (int i = 0; i < len; i++)
        {
            int n = n0 + i;
            float alpha = a.Alpha is { } al ? al.Array<float>()[al.Offset + n % al.Length] : a.AlphaValue;
            p[i] = Gather(a.Decay.Array<float>(), a.Decay.Offset, a.Decay.Length,
                a.Threshold.Array<float>(), a.Threshold.Offset, a.Threshold.Length,
                a.Beta.Array<float>(), a.Beta.Offset, a.Beta.Length,
                a.DecayA.Array<float>(), a.DecayA.Offset, a.DecayA.Length,
                alpha, n, a.Soft, a.VReset, a.DetachReset);
            gU[i] = a.GVT is { } g ? g.Array<float>()[g.Offset + n] : 0f;
            gA[i] = a.GAT is { } ga ? ga.Array<float>()[ga.Offset + n] : 0f;
        }
        if (hRe != null)
        {
            // Recompute mode: h from x, v0 and the saved spikes (the reset uses the saved spike, so h matches the
            // forward pass).
            var xb = a.X!.Value; var x = xb.Array<float>(); int xo = xb.Offset;
            for (int i = 0; i < len; i++)
            {
                int n = n0 + i, wd = bits[bo + SpikeBits.Word(T, N, 0, n)] >> SpikeBits.Shift(T, n);
                float u = a.V0 is { } v0 ? v0.Array<float>()[v0.Offset + n] : 0f;
                for (int t = 0; t < T; t++)
                    hRe[t * len + i] = NeuronMath.Replay<TN>(p[i], x[xo + t * N + n], (wd >> t) & 1, ref u);
            }
        }
        for (int w = W - 1; w >= 0; w--)
        {
            int t0 = w << 5, t1 = Math.Min(T, t0 + 32);
            for (int i = 0; i < len; i++)
                word[i] = bits[bo + SpikeBits.Word(T, N, w, n0 + i)] >> SpikeBits.Shift(T, n0 + i);
            if (aLoc != null)
                for (int i = 0; i < len; i++)
                {
                    // Recompute a over the word from its checkpoint and the bits: 4 B per 32 steps saved.
                    float av = chk![co + w * N + n0 + i];
                    for (int k = 0; k < t1 - t0; k++)
                    {
                        aLoc[k * len + i] = av;
                        av = p[i].DecayA * av + ((word[i] >> k) & 1);
                    }
                }
            for (int t = t1 - 1; t >= t0; t--)
            {
                int row = t * N + n0, k = t - t0;
                for (int i = 0; i < len; i++)
                {
                    float s = (word[i] >> k) & 1;
                    float h = hf != null ? hf[ho + row + i]
                        : hh != null ? (float)hh[ho + HalfPairs.Index(t, n0 + i, N)] : hRe![t * len + i];
                    float aPrev = aLoc != null ? aLoc[k * len + i] : 0f;
                    if (leaky)
                        acc[i].Decay += ghNext[i] * NeuronMath.Reset(p[i], h, s, NeuronMath.Threshold<TN>(p[i], aPrev));
                    float g = gs != null ? gs[gso + row + i] : 0f;
                    float gh = NeuronMath.Backward<TN, TS>(p[i], g, h, s, aPrev, ref gU[i], ref gA[i], ref acc[i]);
                    gx[gxo + row + i] = gh;
                    ghNext[i] = gh;
                }
            }
        }
        for (int i = 0; i < len; i++)
        {
            int n = n0 + i;
            if (leaky) acc[i].Decay += ghNext[i] * (a.V0 is { } v0 ? v0.Array<float>()[v0.Offset + n] : 0f);
            if (a.GV0 is { } gv) gv.Array<float>()[gv.Offset + n] = gU[i];
            if (a.GA0 is { } ga0) ga0.Array<float>()[ga0.Offset + n] = gA[i];
        }
        sums.Add(acc, n0, len);
    }

    /// <summary>One worker's parameter-gradient sums (double) per parameter element, for the gradients asked for.
    /// </summary>
    private sealed class ParamSums(NeuronBackwardArgs a)
    {
        private readonly double[]? _d = a.GDecay is { } d ? new double[d.Length] : null;
        private readonly double[]? _th = a.GThreshold is { } th ? new double[th.Length] : null;
        private readonly double[]? _b = a.GBeta is { } b ? new double[b.Length] : null;
        private readonly double[]? _da = a.GDecayA is { } da ? new double[da.Length] : null;
        private readonly double[]? _al = a.GAlpha is { } al ? new double[al.Length] : null;

        public void Add(ParamGrads[] acc, int n0, int len)
        {
            for (int i = 0; i < len; i++)
            {
                int n = n0 + i;
                if (_d != null) _d[n % _d.Length] += acc[i].Decay;
                if (_th != null) _th[n % _th.Length] += acc[i].Threshold;
                if (_b != null) _b[n % _b.Length] += acc[i].Beta;
                if (_da != null) _da[n % _da.Length] += acc[i].DecayA;
                if (_al != null) _al[n % _al.Length] += acc[i].Alpha;
            }
        }

        // Workers are combined in their fixed order, so the result does not depend on scheduling.
        public static void Write(ParamSums[] parts, NeuronBackwardArgs a)
        {
            static void One(Buf? dst, ParamSums[] parts, Func<ParamSums, double[]?> f)
            {
                if (dst is not { } d) return;
                var o = d.Array<float>();
                for (int j = 0; j < d.Length; j++)
                {
                    double s = 0;
                    foreach (var p in parts) s += f(p)![j];
                    o[d.Offset + j] = (float)s;
                }
            }
            One(a.GDecay, parts, p => p._d); One(a.GThreshold, parts, p => p._th); One(a.GBeta, parts, p => p._b);
            One(a.GDecayA, parts, p => p._da); One(a.GAlpha, parts, p => p._al);
        }
    }
}
