using ILGPU;

namespace SpikeSharp.Attention;

// ILGPU kernels of the causal accumulation: one thread per element of the flattened state walks
// time (grid-stride over elements). Neighbouring threads read neighbouring addresses at each step,
// so every load of a time row is coalesced. Optional buffers are passed with a flag and a dummy view.
internal static class CausalAccumulationKernels
{
    /// <summary>Forward: state ← s0 or 0; for each t: state += k_t·v_t, out_t = q_t·state.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> s0,
        ArrayView<float> output, ArrayView<float> state, int steps, int n, int hasS0)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float s = hasS0 != 0 ? s0[i] : 0f;
            for (int t = 0, j = i; t < steps; t++, j += n)
            {
                s += k[j] * v[j];
                output[j] = q[j] * s;
            }
            state[i] = s;
        }
    }

    /// <summary>
    /// Backward: a forward walk recomputes S_t (same operations as the forward, so the same values) for
    /// gq; a reverse walk accumulates G_t for gk, gv and gs0. flags: bit 0 s0, bit 1 gOut, bit 2 gState, bit 3 gs0.
    /// </summary>
    public static void Backward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> s0,
        ArrayView<float> gOut, ArrayView<float> gState, ArrayView<float> gq, ArrayView<float> gk, ArrayView<float> gv,
        ArrayView<float> gs0, int steps, int n, int flags)
    {
        int stride = Grid.DimX * Group.DimX;
        bool hasGOut = (flags & 2) != 0;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float s = (flags & 1) != 0 ? s0[i] : 0f;
            for (int t = 0, j = i; t < steps; t++, j += n)
            {
                s += k[j] * v[j];
                gq[j] = hasGOut ? gOut[j] * s : 0f;
            }
            float acc = (flags & 4) != 0 ? gState[i] : 0f;
            for (int t = steps - 1, j = (steps - 1) * n + i; t >= 0; t--, j -= n)
            {
                if (hasGOut) acc += gOut[j] * q[j];
                gk[j] = acc * v[j];
                gv[j] = acc * k[j];
            }
            if ((flags & 8) != 0) gs0[i] = acc;
        }
    }
}
