using ILGPU;

namespace SpikeSharp.Attention;

/// <summary>Where a backward kernel reads q, k, v at flat index j of the (T, N) inputs.</summary>
internal interface IQkvSource
{
    float Q(int j);
    float K(int j);
    float V(int j);
}

/// <summary>q, k, v as float32 views.</summary>
internal struct FloatQkvSource : IQkvSource
{
    public ArrayView<float> Qs, Ks, Vs;
    public readonly float Q(int j) => Qs[j];
    public readonly float K(int j) => Ks[j];
    public readonly float V(int j) => Vs[j];
}

/// <summary>q, k, v as the packed spike bytes (<see cref="CausalAccumulationBits"/>).</summary>
internal struct PackedQkvSource : IQkvSource
{
    public ArrayView<byte> Bits;
    public readonly float Q(int j) => CausalAccumulationBits.Q(Bits[j]);
    public readonly float K(int j) => CausalAccumulationBits.K(Bits[j]);
    public readonly float V(int j) => CausalAccumulationBits.V(Bits[j]);
}

// ILGPU kernels of the causal accumulation: one thread per element of the flattened state walks
// time (grid-stride over elements). Neighbouring threads read neighbouring addresses at each step,
// so every load of a time row is coalesced. Optional buffers are passed with a flag and a dummy view.
internal static class CausalAccumulationKernels
{
    /// <summary>Forward: state ← s0 or 0; for each t: state += k_t·v_t, out_t = q_t·state; with pack ≠ 0 the
    /// spikes' byte goes to packed.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> s0,
        ArrayView<float> output, ArrayView<float> state, ArrayView<byte> packed, int steps, int n, int hasS0,
        int pack)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float s = hasS0 != 0 ? s0[i] : 0f;
            for (int t = 0, j = i; t < steps; t++, j += n)
            {
                float qj = q[j], kj = k[j], vj = v[j];
                s += kj * vj;
                output[j] = qj * s;
                if (pack != 0) packed[j] = CausalAccumulationBits.Pack(qj, kj, vj);
            }
            state[i] = s;
        }
    }

    /// <summary>
    /// Backward: a forward walk recomputes S_t (same operations as the forward, so the same values) for
    /// gq; a reverse walk accumulates G_t for gk, gv and gs0. flags: bit 0 s0, bit 1 gOut, bit 2 gState, bit 3 gs0.
    /// </summary>
    public static void Backward<TSource>(TSource qkv, ArrayView<float> s0,
        ArrayView<float> gOut, ArrayView<float> gState, ArrayView<float> gq, ArrayView<float> gk, ArrayView<float> gv,
        ArrayView<float> gs0, int steps, int n, int flags) where TSource : struct, IQkvSource
    {
        int stride = Grid.DimX * Group.DimX;
        bool hasGOut = (flags & 2) != 0;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float s = (flags & 1) != 0 ? s0[i] : 0f;
            for (int t = 0, j = i; t < steps; t++, j += n)
            {
                s += qkv.K(j) * qkv.V(j);
                gq[j] = hasGOut ? gOut[j] * s : 0f;
            }
            float acc = (flags & 4) != 0 ? gState[i] : 0f;
            for (int t = steps - 1, j = (steps - 1) * n + i; t >= 0; t--, j -= n)
            {
                if (hasGOut) acc += gOut[j] * qkv.Q(j);
                gk[j] = acc * qkv.V(j);
                gv[j] = acc * qkv.K(j);
            }
            if ((flags & 8) != 0) gs0[i] = acc;
        }
    }
}
