using System.Runtime.CompilerServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU backend's convolution kernels: an im2col + GEMM per sample, parallel over the batch. Each thread builds
/// one sample's columns in a small buffer that stays in cache (<see cref="CpuConvColumns"/>) and multiplies them with
/// the packed single-threaded GEMM (<see cref="CpuGemm"/>; a GEMM called inside the batch loop runs on its thread),
/// so no batch-sized column matrix is materialised, no output permutation is needed (one sample's (O, L) result is
/// its slice of the (N, O, OutH, OutW) output), and the memory traffic is the input and output once. The weight
/// (forward) or its transpose (backward data) is packed for the GEMM once per call and shared by every sample.
/// A 1×1 stride-1 unpadded convolution multiplies the input directly. The filter gradient is summed per fixed
/// range of samples, then the ranges in order, so it does not depend on which thread ran which range.
/// </summary>
internal sealed unsafe class CpuConv : IConv2dKernels
{
    public static CpuConv Instance { get; } = new();

    private CpuConv() { }

    // Ranges the filter gradient is split into: enough for every thread and for balance on a busy machine, and a
    // fixed count up to 16 threads, so the rounding of the sum is the same on every machine of up to 16 threads.
    private static int FilterParts(int n) => Math.Min(n, Math.Max(16, Threads.Count));

    private struct Job
    {
        public Conv2dShape S;
        public float* X, W, Y;   // forward: x, w → y; backward data: dy (in Y), w → dx (in X)
        public float* Parts;     // backward filter: FilterParts partial (O, K) sums
        public int PartCount;
        public float* PackedW;   // forward: W, backward data: Wᵀ, packed once for every sample's GEMM
    }

    // The GEMM's packing of op(W) (W (O, K) or Wᵀ (K, O)), done once per call instead of once per sample.
    private static float[] PackWeight(in Conv2dShape s, float* w, bool transposed)
    {
        int k = s.C * s.Kh * s.Kw;
        int m = transposed ? k : s.O, depth = transposed ? s.O : k;
        var packed = HostPool.Rent<float>((int)CpuGemm.PackedSize(m, depth));
        fixed (float* pp = packed) CpuGemm.PackA(transposed, m, depth, w, k, pp);
        return packed;
    }

    /// <inheritdoc/>
    public bool TryForward(in Conv2dShape s, Buf x, Buf w, Buf y)
    {
        if (!Supported(s)) return false;
        fixed (float* px = x.Array<float>(), pw = w.Array<float>(), py = y.Array<float>())
        {
            var packed = PackWeight(s, pw + w.Offset, transposed: false);
            try
            {
                fixed (float* pp = packed)
                {
                    var job = new Job { S = s, X = px + x.Offset, W = pw + w.Offset, Y = py + y.Offset, PackedW = pp };
                    CpuParallel.For(s.N, in job, static (in Job j, int n0, int n1) => Forward(j, n0, n1), 1);
                }
            }
            finally { HostPool.Return(packed); }
        }
        return true;
    }

    /// <inheritdoc/>
    public bool TryBackwardData(in Conv2dShape s, Buf dy, Buf w, Buf dx)
    {
        if (!Supported(s)) return false;
        fixed (float* pdy = dy.Array<float>(), pw = w.Array<float>(), pdx = dx.Array<float>())
        {
            var packed = PackWeight(s, pw + w.Offset, transposed: true);
            try
            {
                fixed (float* pp = packed)
                {
                    var job = new Job
                    {
                        S = s, X = pdx + dx.Offset, W = pw + w.Offset, Y = pdy + dy.Offset, PackedW = pp,
                    };
                    CpuParallel.For(s.N, in job, static (in Job j, int n0, int n1) => BackwardData(j, n0, n1), 1);
                }
            }
            finally { HostPool.Return(packed); }
        }
        return true;
    }

    /// <inheritdoc/>
    public bool TryBackwardFilter(in Conv2dShape s, Buf x, Buf dy, Buf dw)
    {
        if (!Supported(s)) return false;
        int parts = FilterParts(s.N), ok = s.O * s.C * s.Kh * s.Kw;
        var partial = HostPool.Rent<float>(parts * ok);
        try
        {
            fixed (float* px = x.Array<float>(), pdy = dy.Array<float>(), pp = partial, pdw = dw.Array<float>())
            {
                var job = new Job { S = s, X = px + x.Offset, Y = pdy + dy.Offset, Parts = pp, PartCount = parts };
                CpuParallel.For(parts, in job, static (in Job j, int p0, int p1) => BackwardFilter(j, p0, p1), 1);
                // Sum the parts in their fixed order.
                var d = new Span<float>(pdw + dw.Offset, ok);
                new ReadOnlySpan<float>(pp, ok).CopyTo(d);
                for (int p = 1; p < parts; p++)
                    System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(pp + (long)p * ok, ok), d);
            }
        }
        finally { HostPool.Return(partial); }
        return true;
    }

    // The per-sample buffers are indexed with int: one sample's columns and the packed weight must fit one array.
    private static bool Supported(in Conv2dShape s)
    {
        long k = (long)s.C * s.Kh * s.Kw;
        return s.N > 0 && s.O > 0 && s.OutH > 0 && s.OutW > 0 && k * s.OutH * s.OutW <= Array.MaxLength
            && k <= int.MaxValue && CpuGemm.PackedSize(s.O, (int)k) <= Array.MaxLength
            && CpuGemm.PackedSize((int)k, s.O) <= Array.MaxLength;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Forward(in Job j, int n0, int n1)
    {
        var s = j.S;
        int k = s.C * s.Kh * s.Kw, l = s.OutH * s.OutW, inSize = s.C * s.H * s.W;
        bool direct = CpuConvColumns.IsIdentity(s);
        var cols = direct ? null : HostPool.Rent<float>(k * l);
        try
        {
            fixed (float* pc = cols)
                for (int n = n0; n < n1; n++)
                {
                    float* xn = j.X + (long)n * inSize, b = xn;
                    if (!direct) { CpuConvColumns.Im2Col(s, xn, pc); b = pc; }
                    // y_n (O, L) = W (O, K) · cols (K, L)
                    CpuGemm.Sgemm(false, false, s.O, l, k, 1f, j.W, k, b, l, 0f, j.Y + (long)n * s.O * l, l, j.PackedW);
                }
        }
        finally { if (cols != null) HostPool.Return(cols); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardData(in Job j, int n0, int n1)
    {
        var s = j.S;
        int k = s.C * s.Kh * s.Kw, l = s.OutH * s.OutW, inSize = s.C * s.H * s.W;
        bool direct = CpuConvColumns.IsIdentity(s);
        var cols = direct ? null : HostPool.Rent<float>(k * l);
        try
        {
            fixed (float* pc = cols)
                for (int n = n0; n < n1; n++)
                {
                    float* dxn = j.X + (long)n * inSize;
                    // dcols (K, L) = Wᵀ (K, O) · dy_n (O, L); the identity's columns are dx itself.
                    CpuGemm.Sgemm(true, false, k, l, s.O, 1f, j.W, k, j.Y + (long)n * s.O * l, l, 0f,
                        direct ? dxn : pc, l, j.PackedW);
                    if (!direct) CpuConvColumns.Col2Im(s, pc, dxn);
                }
        }
        finally { if (cols != null) HostPool.Return(cols); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardFilter(in Job j, int p0, int p1)
    {
        var s = j.S;
        int k = s.C * s.Kh * s.Kw, l = s.OutH * s.OutW, inSize = s.C * s.H * s.W;
        bool direct = CpuConvColumns.IsIdentity(s);
        var cols = direct ? null : HostPool.Rent<float>(k * l);
        try
        {
            fixed (float* pc = cols)
                for (int p = p0; p < p1; p++)
                {
                    int from = (int)((long)s.N * p / j.PartCount), to = (int)((long)s.N * (p + 1) / j.PartCount);
                    float* part = j.Parts + (long)p * s.O * k;
                    for (int n = from; n < to; n++)
                    {
                        float* xn = j.X + (long)n * inSize, b = xn;
                        if (!direct) { CpuConvColumns.Im2Col(s, xn, pc); b = pc; }
                        // part (O, K) (+)= dy_n (O, L) · cols (K, L)ᵀ
                        CpuGemm.Sgemm(false, true, s.O, k, l, 1f, j.Y + (long)n * s.O * l, l, b, l,
                            n == from ? 0f : 1f, part, k);
                    }
                }
        }
        finally { if (cols != null) HostPool.Return(cols); }
    }
}
