using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Neurons;

namespace SpikeSharp.Bench;

// The accuracy half of a case: the split and plain products against float64, spikes and gradients compared.
internal static partial class OpenNeuromorphicBench
{
    private static OnAccuracy Accuracy(IBackend be, Tensor x, Tensor w, Tensor decay, Tensor th, bool emulate)
    {
        using var scope = TensorScope.Begin();
        int n = w.Size(0);
        var x2 = x.Reshape(-1, n);
        int rows = x2.Size(0);
        double inputRate = x.Mean().Item();
        var opts = new SpikingOptions { ReturnMembrane = true };

        Tensor y32, ySp, gW32, gWSp, yScale, gScale, g2;
        using (SplitPath(false, emulate))
        {
            y32 = Tensor.Linear(x2, w.Detach());
            yScale = Tensor.Linear(x2, w.Detach().Abs());
            // The upstream gradient of the LIF, taken once from the float32 output so both paths multiply the same g.
            var yl = y32.Detach(); yl.RequiresGrad = true;
            SpikingFunctions.Lif(yl.Reshape(x.Shape), null, decay, th).Spikes.Sum().Backward();
            g2 = yl.Grad!;
            gW32 = Tensor.Matmul(g2, x2, transA: true);
            gScale = Tensor.Matmul(g2.Abs(), x2, transA: true);
        }
        using (SplitPath(true, emulate))
        {
            ySp = Tensor.Linear(x2, w.Detach());
            gWSp = Tensor.Matmul(g2, x2, transA: true); // Linear's weight gradient: gᵀ·x, x the spike operand
        }
        double yVs32 = MaxScaled(ySp, y32, yScale), gVs32 = MaxScaled(gWSp, gW32, gScale);

        // Spikes: the same except where the float32 membrane is within 1e-5 of θ at the first difference.
        var r32 = SpikingFunctions.Lif(y32.Reshape(x.Shape), null, decay, th, opts);
        var rSp = SpikingFunctions.Lif(ySp.Reshape(x.Shape), null, decay, th, opts);
        var (diverged, far, maxDist) = CompareSpikes(r32.Spikes.ToArray(), rSp.Spikes.ToArray(), r32.H!.ToArray(),
            x.Size(0), x.Numel / x.Size(0));

        // float64 on the host on a block: y[0:64, 0:64] (k over n), gW[0:64, 0:64] (r over all rows).
        int bm = Math.Min(Block, rows), bn = Math.Min(Block, n);
        var xs = x2.Narrow(0, 0, bm).ToArray();
        var ws = w.Detach().Narrow(0, 0, bn).ToArray();
        var (y64, ySum) = Dot64(xs, ws, bm, bn, n);
        double yFp32 = BlockError(y32, y64, ySum, bm, bn, rel: false);
        double ySplit = BlockError(ySp, y64, ySum, bm, bn, rel: false);
        var gCols = g2.Narrow(1, 0, bn).ToArray(); // (rows, bn)
        var xCols = x2.Narrow(1, 0, bn).ToArray(); // (rows, bn)
        var (g64, gSum) = Dot64(Transpose(gCols, rows, bn), Transpose(xCols, rows, bn), bn, bn, rows);
        double gFp32 = BlockError(gW32, g64, gSum, bn, bn, rel: false);
        double gSplit = BlockError(gWSp, g64, gSum, bn, bn, rel: false);
        double gFp32Rel = BlockError(gW32, g64, gSum, bn, bn, rel: true);
        double gSplitRel = BlockError(gWSp, g64, gSum, bn, bn, rel: true);
        g2.Dispose(); // the leaf's gradient is persistent: scopes do not free it
        return new OnAccuracy(yVs32, yFp32, ySplit, gVs32, gFp32, gSplit, gFp32Rel, gSplitRel, diverged, far, maxDist,
            inputRate);
    }

    // max |a − b| / scale over whole tensors, on the device (0 where the scale is 0: both products are 0 there).
    private static double MaxScaled(Tensor a, Tensor b, Tensor scale)
    {
        using var scope = TensorScope.Begin();
        return Math.Abs(a.Sub(b).Abs().Div(scale.AddScalar(1e-30f)).Max().Item()); // Abs: no "-0" in the report
    }

    private static (long Diverged, long Far, double MaxDistance) CompareSpikes(float[] s32, float[] sSp, float[] h32,
        int T, int N)
    {
        long diverged = 0, far = 0; double maxDist = 0;
        for (int i = 0; i < N; i++)
            for (int t = 0; t < T; t++)
            {
                int k = t * N + i;
                if (s32[k] == sSp[k]) continue;
                double dist = Math.Abs(h32[k] - Threshold);
                diverged++;
                if (dist > NearThreshold) far++;
                maxDist = Math.Max(maxDist, dist);
                break; // the neuron's state differs from here on
            }
        return (diverged, far, maxDist);
    }

    // a (m × k) rows, b (n × k) rows → Σ_k a·b and Σ_k |a·b| in float64.
    private static (double[] Exact, double[] Sum) Dot64(float[] a, float[] b, int m, int n, int k)
    {
        var y = new double[m * n]; var s = new double[m * n];
        Parallel.For(0, m, i =>
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0, abs = 0;
                for (int q = 0; q < k; q++)
                {
                    double p = (double)a[(long)i * k + q] * b[(long)j * k + q];
                    acc += p; abs += Math.Abs(p);
                }
                y[i * n + j] = acc; s[i * n + j] = abs;
            }
        });
        return (y, s);
    }

    private static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[(long)j * rows + i] = a[(long)i * cols + j];
        return t;
    }

    // The top-left bm × bn block of a 2-D tensor against float64: max |Δ| / Σ|terms|, or with rel max |Δ| / |exact|
    // over entries not dominated by cancellation (|exact| ≥ 1e-3 · Σ|terms|).
    private static double BlockError(Tensor t, double[] exact, double[] sum, int bm, int bn, bool rel)
    {
        using var scope = TensorScope.Begin();
        var block = t.Narrow(0, 0, bm).Narrow(1, 0, bn).ToArray();
        double worst = 0;
        for (int i = 0; i < bm * bn; i++)
        {
            double err = Math.Abs(block[i] - exact[i]);
            if (!rel) { if (sum[i] > 0) worst = Math.Max(worst, err / sum[i]); }
            else if (Math.Abs(exact[i]) >= 1e-3 * sum[i] && exact[i] != 0)
                worst = Math.Max(worst, err / Math.Abs(exact[i]));
        }
        return worst;
    }
}
