using System.Buffers;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using static SpikeSharp.Backends.Cpu.CpuBackend;

namespace SpikeSharp.Attention;

/// <summary>
/// The CPU causal accumulation: Parallel.For over chunks of neurons; inside a chunk, time is the outer loop and the
/// neurons of the chunk the contiguous inner loop (vectorisable, cache friendly). The backward walks are written
/// once over <see cref="IQkv"/>: float32 inputs or the packed spike bytes of <see cref="CausalAccumulationBits"/>.
/// </summary>
internal sealed class CpuCausalAccumulation : ICausalAccumulationKernels
{
    public static CpuCausalAccumulation Instance { get; } = new();

    private CpuCausalAccumulation() { }

    // Neurons per chunk: big enough for a long contiguous inner loop, small enough that the running
    // state of a chunk stays in L1 and that two cores get work on modest N.
    private static int Grain(int n) => Math.Clamp(n / (4 * Environment.ProcessorCount), 64, 2048);

    /// <summary>Where the backward reads q, k, v at flat index j of the (T, N) inputs.</summary>
    private interface IQkv
    {
        float Q(int j);
        float K(int j);
        float V(int j);
    }

    private readonly struct FloatQkv(Buf q, Buf k, Buf v) : IQkv
    {
        private readonly float[] _q = q.Array<float>(), _k = k.Array<float>(), _v = v.Array<float>();
        private readonly int _qo = q.Offset, _ko = k.Offset, _vo = v.Offset;
        public float Q(int j) => _q[_qo + j];
        public float K(int j) => _k[_ko + j];
        public float V(int j) => _v[_vo + j];
    }

    private readonly struct PackedQkv(Buf packed) : IQkv
    {
        private readonly byte[] _p = packed.Array<byte>();
        private readonly int _o = packed.Offset;
        public float Q(int j) => CausalAccumulationBits.Q(_p[_o + j]);
        public float K(int j) => CausalAccumulationBits.K(_p[_o + j]);
        public float V(int j) => CausalAccumulationBits.V(_p[_o + j]);
    }

    /// <inheritdoc/>
    public void Forward(Buf q, Buf k, Buf v, Buf? s0, Buf output, Buf state, Buf? packed, int steps, int n)
    {
        long tn = (long)steps * n;
        CheckLen(q.Length, tn, "causal_accumulation q"); CheckLen(k.Length, tn, "causal_accumulation k");
        CheckLen(v.Length, tn, "causal_accumulation v"); CheckLen(output.Length, tn, "causal_accumulation out");
        CheckLen(state.Length, n, "causal_accumulation state");
        if (packed is { } pb) CheckLen(pb.Length, tn, "causal_accumulation packed");
        if (s0 is { } s0b) { CheckLen(s0b.Length, n, "causal_accumulation s0"); CpuBackend.Instance.Copy(s0b, state); }
        else state.F().Fill(0f);
        var qa = q.Array<float>(); var ka = k.Array<float>(); var va = v.Array<float>();
        var oa = output.Array<float>(); var sa = state.Array<float>();
        var pa = packed?.Array<byte>();
        int qo = q.Offset, ko = k.Offset, vo = v.Offset, oo = output.Offset, so = state.Offset;
        int po = packed?.Offset ?? 0;
        For(n, (start, end) =>
        {
            var s = sa.AsSpan(so + start, end - start);
            for (int t = 0; t < steps; t++)
            {
                int row = t * n + start;
                var qt = qa.AsSpan(qo + row, s.Length); var kt = ka.AsSpan(ko + row, s.Length);
                var vt = va.AsSpan(vo + row, s.Length); var ot = oa.AsSpan(oo + row, s.Length);
                for (int i = 0; i < s.Length; i++)
                {
                    s[i] += kt[i] * vt[i];
                    ot[i] = qt[i] * s[i];
                }
                if (pa == null) continue;
                var pt = pa.AsSpan(po + row, s.Length);
                for (int i = 0; i < s.Length; i++) pt[i] = CausalAccumulationBits.Pack(qt[i], kt[i], vt[i]);
            }
        }, Grain(n));
    }

    /// <inheritdoc/>
    public void Backward(Buf q, Buf k, Buf v, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        long tn = (long)steps * n;
        CheckLen(q.Length, tn, "causal_accumulation q"); CheckLen(k.Length, tn, "causal_accumulation k");
        CheckLen(v.Length, tn, "causal_accumulation v");
        Backward(new FloatQkv(q, k, v), s0, gOut, gState, gq, gk, gv, gs0, steps, n);
    }

    /// <inheritdoc/>
    public void BackwardPacked(Buf packed, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n)
    {
        CheckLen(packed.Length, (long)steps * n, "causal_accumulation packed");
        Backward(new PackedQkv(packed), s0, gOut, gState, gq, gk, gv, gs0, steps, n);
    }

    private static void Backward<TQkv>(TQkv qkv, Buf? s0, Buf? gOut, Buf? gState,
        Buf gq, Buf gk, Buf gv, Buf? gs0, int steps, int n) where TQkv : struct, IQkv
    {
        long tn = (long)steps * n;
        CheckLen(gq.Length, tn, "causal_accumulation gq"); CheckLen(gk.Length, tn, "causal_accumulation gk");
        CheckLen(gv.Length, tn, "causal_accumulation gv");
        if (gOut is { } go) CheckLen(go.Length, tn, "causal_accumulation grad out");
        if (gState is { } gsb) CheckLen(gsb.Length, n, "causal_accumulation grad state");
        var ga = gOut?.Array<float>(); var gsa = gState?.Array<float>(); var s0a = s0?.Array<float>();
        var gqa = gq.Array<float>(); var gka = gk.Array<float>(); var gva = gv.Array<float>();
        var g0a = gs0?.Array<float>();
        int s0o = s0?.Offset ?? 0, go0 = gOut?.Offset ?? 0, gso = gState?.Offset ?? 0;
        int gqo = gq.Offset, gko = gk.Offset, gvo = gv.Offset, g0o = gs0?.Offset ?? 0;
        For(n, (start, end) =>
        {
            int len = end - start;
            var rent = ArrayPool<float>.Shared.Rent(2 * len);
            try
            {
                var s = rent.AsSpan(0, len); var acc = rent.AsSpan(len, len);
                if (s0a != null) s0a.AsSpan(s0o + start, len).CopyTo(s); else s.Clear();
                // Forward walk: the same additions in the same order as the forward pass, so S_t is bit-identical.
                for (int t = 0; t < steps; t++)
                {
                    int row = t * n + start;
                    var gqt = gqa.AsSpan(gqo + row, len);
                    if (ga == null)
                    {
                        for (int i = 0; i < len; i++) s[i] += qkv.K(row + i) * qkv.V(row + i);
                        gqt.Clear();
                        continue;
                    }
                    var gt = ga.AsSpan(go0 + row, len);
                    for (int i = 0; i < len; i++) { s[i] += qkv.K(row + i) * qkv.V(row + i); gqt[i] = gt[i] * s[i]; }
                }
                // Reverse walk: G_t = G_{t+1} + g_t ⊙ Q_t, seeded with the final-state gradient.
                if (gsa != null) gsa.AsSpan(gso + start, len).CopyTo(acc); else acc.Clear();
                for (int t = steps - 1; t >= 0; t--)
                {
                    int row = t * n + start;
                    var gkt = gka.AsSpan(gko + row, len); var gvt = gva.AsSpan(gvo + row, len);
                    if (ga != null)
                    {
                        var gt = ga.AsSpan(go0 + row, len);
                        for (int i = 0; i < len; i++) acc[i] += gt[i] * qkv.Q(row + i);
                    }
                    for (int i = 0; i < len; i++)
                    {
                        gkt[i] = acc[i] * qkv.V(row + i);
                        gvt[i] = acc[i] * qkv.K(row + i);
                    }
                }
                if (g0a != null) acc.CopyTo(g0a.AsSpan(g0o + start, len));
            }
            finally { ArrayPool<float>.Shared.Return(rent); }
        }, Grain(n));
    }
}
