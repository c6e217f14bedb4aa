using System.Runtime.CompilerServices;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The CPU layer normalisation (<see cref="ILayerNormKernels"/>): the row passes in parallel over rows (each row
/// summed in double precision by one thread), the column reductions in parallel over column ranges (each column
/// summed over rows in row order, in double precision), so results do not depend on the thread count. The
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
                double sum = 0;
                for (int i = 0; i < d; i++) sum += xs[i];
                float m = d > 0 ? (float)(sum / d) : 0f;
                double sq = 0;
                for (int i = 0; i < d; i++) { float c = xs[i] - m; sq += c * c; }
                float rs = NormMath.Rstd(d > 0 ? (float)(sq / d) : 0f, j.Eps);
                j.Mean[j.OffMean + r] = m;
                j.Rstd[j.OffRstd + r] = rs;
                var ys = j.Out.AsSpan(j.OffOut + r * d, d);
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
                double sg = 0, sgx = 0;
                for (int i = 0; i < d; i++)
                {
                    float gh = ScaledGrad(in j, i, gs[i]);
                    sg += gh;
                    sgx += gh * NormMath.Xhat(xs[i], m, rs);
                }
                float mg = (float)(sg / d), mgx = (float)(sgx / d);
                var dst = j.Out.AsSpan(j.OffOut + r * d, d);
                for (int i = 0; i < d; i++)
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
            var a = new double[n];
            var b = new double[n];
            for (int r = 0; r < j.S.Rows; r++)
            {
                float m = j.Mean[j.OffMean + r], rs = j.Rstd[j.OffRstd + r];
                var gs = j.G.AsSpan(j.OffG + r * d + c0, n);
                var xs = j.X.AsSpan(j.OffX + r * d + c0, n);
                for (int i = 0; i < n; i++)
                {
                    a[i] += gs[i] * NormMath.Xhat(xs[i], m, rs);
                    b[i] += gs[i];
                }
            }
            for (int i = 0; i < n; i++)
            {
                float sa = (float)a[i], sb = (float)b[i];
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
