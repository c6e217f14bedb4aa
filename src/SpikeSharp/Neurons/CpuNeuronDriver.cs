using SpikeSharp.Backends;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Neurons;

/// <summary>
/// The CPU driver of the fused neuron functions: the backend's parallel loop over chunks of neurons; inside a chunk the
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

    public bool NeuronForward<TN>(NeuronForwardArgs a) where TN : struct, INeuron
    {
        int chunk = ChunkSize(a.N) / 4 * 4, chunks = (a.N + chunk - 1) / chunk; // chunks hold whole words
        var bad = HostPool.Rent<int>(1);
        try
        {
            bad[0] = 0;
            var job = (Args: a, Chunk: chunk, Bad: bad);
            CpuParallel.For(chunks, in job,
                static (in (NeuronForwardArgs Args, int Chunk, int[] Bad) j, int c0, int c1) =>
                {
                    for (int c = c0; c < c1; c++)
                    {
                        int n0 = c * j.Chunk, len = Math.Min(j.Chunk, j.Args.N - n0);
                        if (!ForwardChunk<TN>(j.Args, n0, len)) Volatile.Write(ref j.Bad[0], 1);
                    }
                }, 1);
            return bad[0] == 0;
        }
        finally { HostPool.Return(bad); }
    }

    // Per-thread arrays of the forward pass, grown to the largest chunk seen (no allocation once warm).
    [ThreadStatic] private static NeuronParams[]? _fp;
    [ThreadStatic] private static float[]? _fu, _fa, _fd, _fth;
    [ThreadStatic] private static int[]? _fw;

    private static T[] Scratch<T>(ref T[]? slot, int length)
    {
        if (slot == null || slot.Length < length) slot = new T[Math.Max(length, 1024)];
        return slot;
    }

    // The decay and threshold of each neuron as arrays for the vector steps (p[0] for all when uniform).
    private static void FillDecayThreshold(NeuronParams[] p, bool uniform, int len, float[] d, float[] th)
    {
        if (uniform) { Array.Fill(d, p[0].Decay, 0, len); Array.Fill(th, p[0].Threshold, 0, len); return; }
        for (int i = 0; i < len; i++) { d[i] = p[i].Decay; th[i] = p[i].Threshold; }
    }

    // Parameters of neurons [n0, n0 + len): element n % length of each buffer, the index stepped instead of divided.
    private static void GatherParams(NeuronParams[] p, int n0, int len, Buf d, Buf th, Buf b, Buf da, Buf? alpha,
        float alphaValue, int soft, float vReset, int detach)
    {
        float[] dA = d.Array<float>(), thA = th.Array<float>(), bA = b.Array<float>(), daA = da.Array<float>();
        float[]? alA = alpha?.Array<float>();
        int alO = alpha?.Offset ?? 0, alL = alpha?.Length ?? 1;
        int id = n0 % d.Length, ith = n0 % th.Length, ib = n0 % b.Length, ida = n0 % da.Length, ial = n0 % alL;
        for (int i = 0; i < len; i++)
        {
            p[i] = new NeuronParams
            {
                Decay = dA[d.Offset + id], Threshold = thA[th.Offset + ith], Beta = bA[b.Offset + ib],
                DecayA = daA[da.Offset + ida], Alpha = alA != null ? alA[alO + ial] : alphaValue,
                Soft = soft, VReset = vReset, DetachReset = detach,
            };
            if (++id == d.Length) id = 0;
            if (++ith == th.Length) ith = 0;
            if (++ib == b.Length) ib = 0;
            if (++ida == da.Length) ida = 0;
            if (++ial == alL) ial = 0;
        }
    }

    // The forward pass of neurons [n0, n0 + len): time outer, neurons inner; false when x held NaN or Inf.
    // Optimised from the first call: a tier-0 body is several times slower, and a training step runs few chunks.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ForwardChunk<TN>(NeuronForwardArgs a, int n0, int len) where TN : struct, INeuron
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
        var p = Scratch(ref _fp, len); var u = Scratch(ref _fu, len); var av = Scratch(ref _fa, len);
        var words = Scratch(ref _fw, len);
        // A non-adaptive model without float16 h runs 8 neurons per instruction (CpuNeuronSimd), its decay and
        // threshold as arrays; shared parameters are gathered once.
        bool simd = !default(TN).Adaptive && hh == null && CpuNeuronSimd.Enabled;
        bool uniform = a.Decay.Length == 1 && a.Threshold.Length == 1;
        GatherParams(p, n0, uniform ? 1 : len, a.Decay, a.Threshold, a.Beta, a.DecayA, null, 1f, a.Soft, a.VReset, 1);
        var dS = Scratch(ref _fd, len); var thS = Scratch(ref _fth, len);
        if (simd) FillDecayThreshold(p, uniform, len, dS, thS);
        if (a.V0 is { } v0) Array.Copy(v0.Array<float>(), v0.Offset + n0, u, 0, len); else Array.Clear(u, 0, len);
        if (a.A0 is { } a0) Array.Copy(a0.Array<float>(), a0.Offset + n0, av, 0, len); else Array.Clear(av, 0, len);
        Array.Clear(words, 0, len);
        bool finite = true;
        for (int t = 0; t < T; t++)
        {
            int row = t * N + n0, bit = 1 << (t & 31);
            if (chk != null && (t & 31) == 0) Array.Copy(av, 0, chk, co + (t >> 5) * N + n0, len);
            var xr = new ReadOnlySpan<float>(x, xo + row, len);
            var sr = new Span<float>(sp, so + row, len);
            int i = 0;
            if (simd)
                i = CpuNeuronSimd.Forward<TN>(dS.AsSpan(0, len), thS.AsSpan(0, len), a.Soft, a.VReset, xr, sr,
                    u.AsSpan(0, len), hf != null ? hf.AsSpan(ho + row, len) : default,
                    hOut != null ? hOut.AsSpan(hOutO + row, len) : default, words.AsSpan(0, len), bit, ref finite);
            for (; i < xr.Length; i++)
            {
                float xv = xr[i];
                finite &= float.IsFinite(xv);
                float s = NeuronMath.Forward<TN>(p[uniform ? 0 : i], xv, ref u[i], ref av[i], out float h);
                sr[i] = s;
                if (hf != null) hf[ho + row + i] = h;
                else if (hh != null) hh[ho + HalfPairs.Index(t, n0 + i, N)] = (Half)h;
                if (hOut != null) hOut[hOutO + row + i] = h;
                if (s != 0f) words[i] |= bit;
            }
            if ((t & 31) == 31 || t == T - 1)
            {
                if (bits != null) PackWords(bits, bo, T, N, t >> 5, n0, len, words);
                Array.Clear(words, 0, len);
            }
        }
        Array.Copy(u, 0, a.VT.Array<float>(), a.VT.Offset + n0, len);
        if (default(TN).Adaptive && a.AT is { } at) Array.Copy(av, 0, at.Array<float>(), at.Offset + n0, len);
        return finite;
    }

    // Writes the spike words of neurons [n0, n0 + len) (n0 a multiple of 4, so the chunk owns whole words) into row
    // `row` of the SpikeBits layout: the words SpikeBits.Word and SpikeBits.Shift describe, with shifts for their
    // divisions (lanes are 1, 2 or 4).
    private static void PackWords(int[] bits, int bo, int T, int N, int row, int n0, int len, int[] words)
    {
        int lanes = SpikeBits.Lanes(T), width = SpikeBits.Width(T), perRow = (N + lanes - 1) / lanes;
        int at = bo + SpikeBits.Word(T, N, row, n0);
        for (int k = 0; k < len; k += lanes, at++)
        {
            int w = 0;
            for (int l = 0; l < lanes && k + l < len; l++) w |= words[k + l] << (l * width);
            bits[at] = w;
        }
    }

    // word[i] = the spike field of neuron n0 + i in row `row`, shifted to bit 0 (upper bits hold its neighbours').
    private static void ReadWords(int[] bits, int bo, int T, int N, int row, int n0, int len, int[] word)
    {
        int lanes = SpikeBits.Lanes(T), width = SpikeBits.Width(T), shift = lanes == 4 ? 2 : lanes == 2 ? 1 : 0;
        int rowStart = bo + SpikeBits.Word(T, N, row, 0);
        for (int i = 0; i < len; i++)
        {
            int n = n0 + i;
            word[i] = bits[rowStart + (n >> shift)] >> ((n & (lanes - 1)) * width);
        }
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
        var job = (Args: a, Chunk: chunk, Chunks: chunks, Workers: workers, Sums: sums);
        CpuParallel.For(workers, in job, static (in (NeuronBackwardArgs Args, int Chunk, int Chunks, int Workers,
            ParamSums[] Sums) j, int w0, int w1) =>
            {
                var a = j.Args;
                for (int w = w0; w < w1; w++)
                {
                    var s = new ParamSums(a);
                    var scratch = BackwardScratch.For(j.Chunk, a.T, default(TN).Adaptive, a.H == null);
                    int c0 = (int)((long)j.Chunks * w / j.Workers), c1 = (int)((long)j.Chunks * (w + 1) / j.Workers);
                    for (int c = c0; c < c1; c++)
                        BackwardChunk<TN, TS>(a, c * j.Chunk, Math.Min(j.Chunk, a.N - c * j.Chunk), scratch, s);
                    j.Sums[w] = s;
                }
            }, 1);
        ParamSums.Write(sums, a);
    }

    /// <summary>Per-thread arrays of the backward pass, reused for every chunk the thread takes and kept for the
    /// next call of the same sizes.</summary>
    private sealed class BackwardScratch(int chunk, int T, bool adaptive, bool recompute)
    {
        [ThreadStatic] private static BackwardScratch? _cached;
        private readonly int _chunk = chunk, _t = T;
        public readonly NeuronParams[] P = new NeuronParams[chunk];
        public readonly float[] GU = new float[chunk], GA = new float[chunk], GhNext = new float[chunk];
        public readonly ParamGrads[] Acc = new ParamGrads[chunk];
        public readonly int[] Word = new int[chunk];
        public readonly float[]? ALoc = adaptive ? new float[32 * chunk] : null;
        public readonly float[]? HRe = recompute ? new float[T * chunk] : null;
        // The vector steps' parameters and parameter-gradient sums, one array per field.
        public readonly float[] DecayS = new float[chunk], ThS = new float[chunk], AlphaS = new float[chunk];
        public readonly float[] AccD = new float[chunk], AccTh = new float[chunk], AccAl = new float[chunk];

        public static BackwardScratch For(int chunk, int T, bool adaptive, bool recompute)
        {
            var c = _cached;
            if (c == null || c._chunk < chunk || (c.ALoc != null) != adaptive || (c.HRe != null) != recompute
                || (recompute && c._t < T))
                _cached = c = new BackwardScratch(chunk, T, adaptive, recompute);
            return c;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        GatherParams(p, n0, len, a.Decay, a.Threshold, a.Beta, a.DecayA, a.Alpha, a.AlphaValue, a.Soft, a.VReset,
            a.DetachReset);
        if (a.GVT is { } gvt) Array.Copy(gvt.Array<float>(), gvt.Offset + n0, gU, 0, len); else Array.Clear(gU, 0, len);
        if (a.GAT is { } ga) Array.Copy(ga.Array<float>(), ga.Offset + n0, gA, 0, len); else Array.Clear(gA, 0, len);
        float[]? v0a = a.V0?.Array<float>(); int v0o = a.V0?.Offset ?? 0;
        // Non-adaptive models replay h 8 neurons at a time; with the arctan surrogate and no float16 h the
        // backward steps run 8 at a time too (CpuNeuronSimd; the first nVec neurons of the chunk).
        bool simd = !default(TN).Adaptive && CpuNeuronSimd.Enabled;
        bool simdBack = simd && hh == null && typeof(TS) == typeof(ArctanTetherSurrogate);
        int nVec = simdBack ? len & ~7 : 0;
        // The vector steps sum into AccD/AccTh/AccAl and whole records are written from them at the end; only the
        // scalar neurons' records start from zero here.
        acc.AsSpan(nVec, len - nVec).Clear();
        if (simd)
        {
            FillDecayThreshold(p, false, len, sc.DecayS, sc.ThS);
            for (int i = 0; i < len; i++) sc.AlphaS[i] = p[i].Alpha;
            Array.Clear(sc.AccD, 0, len); Array.Clear(sc.AccTh, 0, len); Array.Clear(sc.AccAl, 0, len);
        }
        if (hRe != null)
        {
            // Recompute mode: h from x, v0 and the saved spikes (the reset uses the saved spike, so h matches the
            // forward pass).
            var xb = a.X!.Value; var x = xb.Array<float>(); int xo = xb.Offset;
            ReadWords(bits, bo, T, N, 0, n0, len, word);
            int done = simd ? CpuNeuronSimd.Replay<TN>(sc.DecayS, sc.ThS, a.Soft, a.VReset, T, x, xo + n0, N,
                v0a != null ? v0a.AsSpan(v0o + n0, len) : default, word, hRe, len) : 0;
            for (int i = done; i < len; i++)
            {
                int n = n0 + i, wd = word[i];
                float u = v0a != null ? v0a[v0o + n] : 0f;
                for (int t = 0; t < T; t++)
                    hRe[t * len + i] = NeuronMath.Replay<TN>(p[i], x[xo + t * N + n], (wd >> t) & 1, ref u);
            }
        }
        for (int w = W - 1; w >= 0; w--)
        {
            int t0 = w << 5, t1 = Math.Min(T, t0 + 32);
            ReadWords(bits, bo, T, N, w, n0, len, word);
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
                if (nVec > 0)
                    CpuNeuronSimd.BackwardArctan<TN>(sc.DecayS, sc.ThS, sc.AlphaS, a.Soft, a.DetachReset, a.VReset, k,
                        word.AsSpan(0, len), hf != null ? hf.AsSpan(ho + row, len) : hRe.AsSpan(t * len, len),
                        gs != null ? gs.AsSpan(gso + row, len) : default, gU.AsSpan(0, len), ghNext.AsSpan(0, len),
                        gx.AsSpan(gxo + row, len), sc.AccD, sc.AccTh, sc.AccAl);
                for (int i = nVec; i < len; i++)
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
        for (int i = 0; i < nVec; i++)
            acc[i] = new ParamGrads { Decay = sc.AccD[i], Threshold = sc.AccTh[i], Alpha = sc.AccAl[i] };
        for (int i = 0; i < len; i++)
        {
            int n = n0 + i;
            if (leaky) acc[i].Decay += ghNext[i] * (v0a != null ? v0a[v0o + n] : 0f);
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
            // Element n % length of each sum, the indices stepped instead of divided.
            int id = Start(_d, n0), ith = Start(_th, n0), ib = Start(_b, n0);
            int ida = Start(_da, n0), ial = Start(_al, n0);
            for (int i = 0; i < len; i++)
            {
                if (_d != null) { _d[id] += acc[i].Decay; if (++id == _d.Length) id = 0; }
                if (_th != null) { _th[ith] += acc[i].Threshold; if (++ith == _th.Length) ith = 0; }
                if (_b != null) { _b[ib] += acc[i].Beta; if (++ib == _b.Length) ib = 0; }
                if (_da != null) { _da[ida] += acc[i].DecayA; if (++ida == _da.Length) ida = 0; }
                if (_al != null) { _al[ial] += acc[i].Alpha; if (++ial == _al.Length) ial = 0; }
            }
        }

        private static int Start(double[]? sums, int n0) => sums == null ? 0 : n0 % sums.Length;

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
