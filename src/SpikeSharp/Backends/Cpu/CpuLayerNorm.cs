using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU layer normalisation (<see cref="ILayerNormKernels"/>): the row passes in parallel over rows (each row
/// summed in SIMD lanes by one thread), the column reductions in parallel over column ranges (each column
/// summed over rows in row order), so results do not depend on the thread count. The
/// <see cref="NormMath"/> formulas are the ones the ILGPU kernels evaluate.
/// </summary>
internal sealed class CpuLayerNorm : ILayerNormKernels
{
    public static CpuLayerNorm Instance { get; } = new();

    private CpuLayerNorm() { }

    private struct Job
    {
        public LayerNormShape S;
        public float[] X, G, Mean, Rstd, Weight, Bias, Out, DW, DB, DS;
        public int OffX, OffG, OffMean, OffRstd, OffWeight, OffBias, OffOut, OffDW, OffDB, OffDS;
        public bool HasWeight, HasBias, HasDW, HasDB, HasDS;
        public float Eps, Scale;
    }

    /// <inheritdoc/>
    public void Forward(in LayerNormShape s, Buf x, Buf? weight, Buf? bias, Buf? scale, float eps, Buf y, Buf mean,
        Buf rstd)
    {
        Check(s.Numel, x, "x"); Check(s.Numel, y, "y"); Check(s.Rows, mean, "mean"); Check(s.Rows, rstd, "rstd");
        var j = NewJob(s, weight, bias, scale);
        if (s.Rows == 0) return;
        Set(ref j.X, ref j.OffX, x); Set(ref j.Out, ref j.OffOut, y);
        Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        j.Eps = eps;
        CpuParallel.For(s.Rows, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int r0, int r1) =>
        {
            int d = j.S.D;
            for (int r = r0; r < r1; r++)
            {
                var xs = j.X.AsSpan(j.OffX + r * d, d);
                float m = d > 0 ? CpuRowSums.Sum(xs) / d : 0f;
                float rs = NormMath.Rstd(d > 0 ? CpuRowSums.CentredSquares(xs, m) / d : 0f, j.Eps);
                j.Mean[j.OffMean + r] = m;
                j.Rstd[j.OffRstd + r] = rs;
                var ys = j.Out.AsSpan(j.OffOut + r * d, d);
                if (j.HasWeight && j.HasBias)
                {
                    // The common affine case in SIMD lanes, the same operations as the scalar rule below.
                    var vx = MemoryMarshal.Cast<float, Vector<float>>(xs);
                    var vy = MemoryMarshal.Cast<float, Vector<float>>(ys);
                    var vw = MemoryMarshal.Cast<float, Vector<float>>(j.Weight.AsSpan(j.OffWeight, d));
                    var vb = MemoryMarshal.Cast<float, Vector<float>>(j.Bias.AsSpan(j.OffBias, d));
                    Vector<float> vm = new(m), vr = new(rs), vs = new(j.Scale);
                    for (int i = 0; i < vx.Length; i++) vy[i] = ((vx[i] - vm) * vr * vw[i] + vb[i]) * vs;
                    for (int i = vx.Length * Vector<float>.Count; i < d; i++)
                        ys[i] = Affine(in j, i, NormMath.Xhat(xs[i], m, rs)) * j.Scale;
                    continue;
                }
                for (int i = 0; i < d; i++) ys[i] = Affine(in j, i, NormMath.Xhat(xs[i], m, rs)) * j.Scale;
            }
        }, Grain(s.D));
    }

    /// <inheritdoc/>
    public void BackwardData(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? scale, Buf dx)
    {
        Check(s.Numel, g, "g"); Check(s.Numel, x, "x"); Check(s.Numel, dx, "dx");
        Check(s.Rows, mean, "mean"); Check(s.Rows, rstd, "rstd");
        var j = NewJob(s, weight, null, scale);
        if (s.Numel == 0) return;
        Set(ref j.G, ref j.OffG, g); Set(ref j.X, ref j.OffX, x); Set(ref j.Out, ref j.OffOut, dx);
        Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        CpuParallel.For(s.Rows, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int r0, int r1) =>
        {
            int d = j.S.D;
            for (int r = r0; r < r1; r++)
            {
                var gs = j.G.AsSpan(j.OffG + r * d, d);
                var xs = j.X.AsSpan(j.OffX + r * d, d);
                float m = j.Mean[j.OffMean + r], rs = j.Rstd[j.OffRstd + r];
                var dst = j.Out.AsSpan(j.OffOut + r * d, d);
                int tail = 0;
                Vector<float> va = Vector<float>.Zero, vb = Vector<float>.Zero, vm = new(m), vr = new(rs);
                if (j.HasWeight)
                {
                    // SIMD lanes for whole vectors, the scalar rule below for the tail.
                    var vg = MemoryMarshal.Cast<float, Vector<float>>(gs);
                    var vx = MemoryMarshal.Cast<float, Vector<float>>(xs);
                    var vw = MemoryMarshal.Cast<float, Vector<float>>(j.Weight.AsSpan(j.OffWeight, d));
                    var vs = new Vector<float>(j.Scale);
                    for (int i = 0; i < vg.Length; i++)
                    {
                        var gh = vg[i] * vw[i] * vs;
                        va += gh;
                        vb += gh * ((vx[i] - vm) * vr);
                    }
                    tail = vg.Length * Vector<float>.Count;
                }
                float sg = Vector.Sum(va), sgx = Vector.Sum(vb);
                for (int i = tail; i < d; i++)
                {
                    float gh = ScaledGrad(in j, i, gs[i]);
                    sg += gh;
                    sgx += gh * NormMath.Xhat(xs[i], m, rs);
                }
                float mg = sg / d, mgx = sgx / d;
                if (j.HasWeight)
                {
                    var vg = MemoryMarshal.Cast<float, Vector<float>>(gs);
                    var vx = MemoryMarshal.Cast<float, Vector<float>>(xs);
                    var vw = MemoryMarshal.Cast<float, Vector<float>>(j.Weight.AsSpan(j.OffWeight, d));
                    var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
                    Vector<float> vs = new(j.Scale), vmg = new(mg), vmgx = new(mgx);
                    for (int i = 0; i < vg.Length; i++)
                        vd[i] = vr * (vg[i] * vw[i] * vs - (vx[i] - vm) * vr * vmgx - vmg);
                }
                for (int i = tail; i < d; i++)
                    dst[i] = NormMath.InputGradient(ScaledGrad(in j, i, gs[i]), NormMath.Xhat(xs[i], m, rs), rs, mg,
                        mgx);
            }
        }, Grain(s.D));
    }

    /// <inheritdoc/>
    public void BackwardParams(in LayerNormShape s, Buf g, Buf x, Buf mean, Buf rstd, Buf? weight, Buf? bias,
        Buf? scale, Buf? dWeight, Buf? dBias, Buf? dScaleParts)
    {
        Check(s.Numel, g, "g"); Check(s.Numel, x, "x"); Check(s.Rows, mean, "mean"); Check(s.Rows, rstd, "rstd");
        var j = NewJob(s, weight, bias, scale);
        if (dWeight is { } dw) { Check(s.D, dw, "dWeight"); j.HasDW = true; Set(ref j.DW, ref j.OffDW, dw); }
        if (dBias is { } db) { Check(s.D, db, "dBias"); j.HasDB = true; Set(ref j.DB, ref j.OffDB, db); }
        if (dScaleParts is { } ds) { Check(s.D, ds, "dScaleParts"); j.HasDS = true; Set(ref j.DS, ref j.OffDS, ds); }
        if (s.D == 0) return;
        Set(ref j.G, ref j.OffG, g); Set(ref j.X, ref j.OffX, x);
        Set(ref j.Mean, ref j.OffMean, mean); Set(ref j.Rstd, ref j.OffRstd, rstd);
        CpuParallel.For(s.D, in j,
            [MethodImpl(MethodImplOptions.AggressiveOptimization)] static (in Job j, int c0, int c1) =>
        {
            int d = j.S.D, n = c1 - c0;
            // Each column summed over the rows in row order (SIMD lanes hold neighbouring columns).
            var a = new float[n];
            var b = new float[n];
            var va = MemoryMarshal.Cast<float, Vector<float>>(a.AsSpan());
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b.AsSpan());
            int tail = va.Length * Vector<float>.Count;
            for (int r = 0; r < j.S.Rows; r++)
            {
                float m = j.Mean[j.OffMean + r], rs = j.Rstd[j.OffRstd + r];
                var gs = j.G.AsSpan(j.OffG + r * d + c0, n);
                var xs = j.X.AsSpan(j.OffX + r * d + c0, n);
                var vg = MemoryMarshal.Cast<float, Vector<float>>(gs);
                var vx = MemoryMarshal.Cast<float, Vector<float>>(xs);
                Vector<float> vm = new(m), vr = new(rs);
                for (int i = 0; i < va.Length; i++)
                {
                    va[i] += vg[i] * ((vx[i] - vm) * vr);
                    vb[i] += vg[i];
                }
                for (int i = tail; i < n; i++)
                {
                    a[i] += gs[i] * NormMath.Xhat(xs[i], m, rs);
                    b[i] += gs[i];
                }
            }
            for (int i = 0; i < n; i++)
            {
                float sa = a[i], sb = b[i];
                if (j.HasDW) j.DW[j.OffDW + c0 + i] = j.Scale * sa;
                if (j.HasDB) j.DB[j.OffDB + c0 + i] = j.Scale * sb;
                if (j.HasDS) j.DS[j.OffDS + c0 + i] = ScaleGradPart(in j, c0 + i, sa, sb);
            }
        }, Grain(s.Rows));
    }

    // (x̂·γ + β) of column i.
    private static float Affine(in Job j, int i, float xhat) => NormMath.Affine(xhat,
        j.HasWeight ? j.Weight[j.OffWeight + i] : 1f, j.HasBias ? j.Bias[j.OffBias + i] : 0f);

    // ĝ = g·γ·s of column i.
    private static float ScaledGrad(in Job j, int i, float g) =>
        g * (j.HasWeight ? j.Weight[j.OffWeight + i] : 1f) * j.Scale;

    // γ·A + β·B of column i: its share of the scale's gradient Σ g·(x̂·γ + β).
    private static float ScaleGradPart(in Job j, int i, float a, float b) =>
        (j.HasWeight ? j.Weight[j.OffWeight + i] : 1f) * a + (j.HasBias ? j.Bias[j.OffBias + i] : 0f) * b;

    private static Job NewJob(in LayerNormShape s, Buf? weight, Buf? bias, Buf? scale)
    {
        var j = new Job
        {
            S = s, Scale = 1f,
            X = Array.Empty<float>(), G = Array.Empty<float>(), Mean = Array.Empty<float>(),
            Rstd = Array.Empty<float>(), Weight = Array.Empty<float>(), Bias = Array.Empty<float>(),
            Out = Array.Empty<float>(), DW = Array.Empty<float>(), DB = Array.Empty<float>(), DS = Array.Empty<float>(),
        };
        if (weight is { } w) { Check(s.D, w, "weight"); j.HasWeight = true; Set(ref j.Weight, ref j.OffWeight, w); }
        if (bias is { } b) { Check(s.D, b, "bias"); j.HasBias = true; Set(ref j.Bias, ref j.OffBias, b); }
        if (scale is { } sc) { Check(1, sc, "scale"); j.Scale = sc.Array<float>()[sc.Offset]; }
        return j;
    }

    private static void Set(ref float[] array, ref int offset, Buf b)
    {
        array = b.Array<float>();
        offset = b.Offset;
    }

    // Rows or columns per chunk: about 32 K values of work each.
    private static int Grain(int perItem) => Math.Max(1, (1 << 15) / Math.Max(1, perItem));

    private static void Check(long expected, Buf b, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"layer_norm: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != DType.Float32)
            throw new ArgumentException($"layer_norm: {name} must be float32, got {b.DType.Name()}", name);
    }
}
