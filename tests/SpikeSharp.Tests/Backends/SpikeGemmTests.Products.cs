using System.Diagnostics;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Neurons;
using SpikeSharp.Nn.Transformer;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

// Split products against host references and the float32 GEMM, the switch, fallbacks and the CUDA run.
public partial class SpikeGemmTests
{
    private static float[] RandomSpikes(int n, double rate, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextDouble() < rate ? 1f : 0f).ToArray();
    }

    private static float[] RandomWeights(int n, int seed)
    {
        // Mixed magnitudes (1e-6 .. 1e2) and signs, as trained weights and gradients have.
        var r = new Random(seed);
        return Enumerable.Range(0, n)
            .Select(_ => (float)((r.NextDouble() * 2 - 1) * Math.Pow(10, r.Next(-6, 3)))).ToArray();
    }

    // y[i, j] = Σ_k s[i, k]·w[j, k] (s: m×k, w: n×k, the Linear layout), per part in float32 (k order), parts
    // added smallest first, as the three GEMMs with β = 1 do.
    private static float[] HostSplitProduct(float[] s, float[] w, int m, int n, int k, bool float64Sums = false)
    {
        var parts = w.Select(Parts).ToArray();
        var y = new float[m * n];
        var y64 = new double[m * n];
        for (int p = 2; p >= 0; p--)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float acc = 0f; double acc64 = 0;
                    for (int q = 0; q < k; q++)
                    {
                        var (a, b, c) = parts[j * k + q];
                        float wp = ToF(p == 0 ? a : p == 1 ? b : c);
                        float prod = s[i * k + q] * wp; // exact: a spike times a bfloat16
                        acc += prod; acc64 += prod;
                    }
                    y[i * n + j] = p == 2 ? acc : y[i * n + j] + acc;
                    y64[i * n + j] += acc64;
                }
        return float64Sums ? y64.Select(v => (float)v).ToArray() : y;
    }

    private static (double[] exact, double[] scale) Float64Product(float[] s, float[] w, int m, int n, int k)
    {
        var y = new double[m * n]; var sc = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int q = 0; q < k; q++)
                {
                    double p = (double)s[i * k + q] * w[j * k + q];
                    y[i * n + j] += p; sc[i * n + j] += Math.Abs(p);
                }
        return (y, sc);
    }

    // Largest |y − exact| / Σ|products| (the scale of a dot product's rounding error; 0/0 counts as 0).
    private static double MaxRelError(float[] y, double[] exact, double[] scale)
    {
        double worst = 0;
        for (int i = 0; i < y.Length; i++)
            if (scale[i] > 0) worst = Math.Max(worst, Math.Abs(y[i] - exact[i]) / scale[i]);
        return worst;
    }

    [Fact]
    public void HostSplitProductMatchesFloat64Within1e6()
    {
        int m = 24, n = 20, k = 700;
        var s = RandomSpikes(m * k, 0.2, 5);
        var w = RandomWeights(n * k, 6);
        var (exact, scale) = Float64Product(s, w, m, n, k);
        double split32 = MaxRelError(HostSplitProduct(s, w, m, n, k), exact, scale);
        Assert.True(split32 <= 1e-6, $"split product with float32 sums: max rel error {split32:E2}");
        // With float64 sums the split is the float64 product rounded once: the products lose nothing.
        double split64 = MaxRelError(HostSplitProduct(s, w, m, n, k, float64Sums: true), exact, scale);
        Assert.True(split64 <= 6e-8, $"split product with float64 sums: max rel error {split64:E2}");
        // A single bfloat16 product (no split) is far off: the split is what makes it exact.
        var bf16Only = HostOnePart(s, w, m, n, k);
        Assert.True(MaxRelError(bf16Only, exact, scale) > 1e-4);
    }

    private static float[] HostOnePart(float[] s, float[] w, int m, int n, int k)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int q = 0; q < k; q++)
                    y[i * n + j] += s[i * k + q] * ToF(Bf16Bits.FromFloat(w[j * k + q]));
        return y;
    }

    // ---- the whole path on the emulated device ----

    // Marked 0/1 spikes from the fused LIF: ~rate of the inputs fire (decay 0.01, so h is about x).
    private static Tensor Spikes(int[] shape, float rate, int seed, Device d)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Rand(shape, new Generator((ulong)seed), d);
        var s = SpikingFunctions.Lif(x, null, Tensor.Scalar(0.01f, d), Tensor.Scalar(1f - rate, d)).Spikes;
        Assert.True(s.IsBf16Exact);
        return s.MoveToOuterScope();
    }

    private static Tensor Weights(int[] shape, int seed, Device d) =>
        Tensor.FromArray(RandomWeights(shape.Aggregate(1, (p, q) => p * q), seed), shape, d);

    [Fact]
    public void LinearForwardAndWeightGradientRunSplitOnTheEmulatedDevice()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        int T = 3, Bt = 4, inF = 40, outF = 30;
        var s = Spikes(new[] { T, Bt, inF }, 0.3f, 7, d);
        var w = Weights(new[] { outF, inF }, 8, d); w.RequiresGrad = true;
        var r = Weights(new[] { T, Bt, outF }, 9, d);

        (float[] y, float[] gw, long products) Run(bool on)
        {
            using var _ = SpikeGemm.Scope(on, emulateOnCpuDevice: true);
            long before = SpikeGemm.SplitProducts;
            var y = Tensor.Linear(s, w);
            y.Mul(r).Sum().Backward();
            var gw = w.Grad!.ToArray();
            w.Grad.Dispose(); w.Grad = null;
            return (y.ToArray(), gw, SpikeGemm.SplitProducts - before);
        }
        var split = Run(true);
        var plain = Run(false);
        Assert.Equal(6, split.products); // 3 forward + 3 for the weight gradient (g split, spikes exact)
        Assert.Equal(0, plain.products);

        var sh = s.ToArray(); var wh = w.ToArray(); var rh = r.ToArray();
        var (yExact, yScale) = Float64Product(sh, wh, T * Bt, outF, inF);
        double yErr = MaxRelError(split.y, yExact, yScale);
        Assert.True(yErr <= 1e-6, $"forward: {yErr:E2}");
        // grad W = rᵀ·s: (outF × rows)·(rows × inF), r playing the dense operand.
        var rT = Transpose(rh, T * Bt, outF); var sT = Transpose(sh, T * Bt, inF);
        var (gExact, gScale) = Float64Product(rT, sT, outF, inF, T * Bt);
        double gErr = MaxRelError(split.gw, gExact, gScale);
        Assert.True(gErr <= 1e-6, $"grad W: {gErr:E2}");
        Assert.True(MaxRelError(plain.gw, gExact, gScale) <= 1e-6);
    }

    private static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }

    public static IEnumerable<object[]> ProductCases() => new[]
    {
        // left exact, right exact, transA, transB
        new object[] { true, false, false, true }, new object[] { true, false, false, false },
        new object[] { true, false, true, false }, new object[] { true, false, true, true },
        new object[] { false, true, false, false }, new object[] { false, true, true, true },
        new object[] { false, true, false, true }, new object[] { true, true, false, true },
    };

    [Theory, MemberData(nameof(ProductCases))]
    public void EveryOperandLayoutMatchesTheCpuProduct(bool aExact, bool bExact, bool transA, bool transB)
    {
        using var scope = TensorScope.Begin();
        int m = 13, n = 11, k = 37;
        int[] aShape = transA ? new[] { k, m } : new[] { m, k }, bShape = transB ? new[] { n, k } : new[] { k, n };
        Tensor Operand(bool exact, int[] shape, int seed) =>
            exact ? Spikes(shape, 0.4f, seed, Device.IlgpuCpu) : Weights(shape, seed, Device.IlgpuCpu);
        var a = Operand(aExact, aShape, 11); var b = Operand(bExact, bShape, 12);
        long before = SpikeGemm.SplitProducts;
        float[] y;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true)) y = Tensor.Matmul(a, b, transA, transB).ToArray();
        Assert.Equal(aExact && bExact ? 1 : 3, SpikeGemm.SplitProducts - before);
        var cpu = Tensor.Matmul(a.To(Device.Cpu), b.To(Device.Cpu), transA, transB).ToArray();
        if (aExact && bExact) { Assert.Equal(cpu, y); return; } // small integer counts: exact either way
        // op(A) as m×k rows and op(B)ᵀ as n×k rows, the layout of Float64Product.
        var ah = a.ToArray(); var bh = b.ToArray();
        var opA = transA ? Transpose(ah, k, m) : ah;
        var opBt = transB ? bh : Transpose(bh, k, n);
        var (exact, scale) = Float64Product(opA, opBt, m, n, k);
        double err = MaxRelError(y, exact, scale);
        Assert.True(err <= 1e-6, $"split ta={transA} tb={transB}: {err:E2}");
    }

    [Fact]
    public void OnePartAtATimeGivesTheSameBitsAsAllAtOnce()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 2, 9, 33 }, 0.5f, 13, Device.IlgpuCpu); // 3-D: batch folded into the rows
        var w = Weights(new[] { 33, 17 }, 14, Device.IlgpuCpu);
        float[] Run(long maxBytes)
        {
            long keep = SpikeGemm.FusedSplitMaxBytes;
            SpikeGemm.FusedSplitMaxBytes = maxBytes;
            try
            {
                using var _ = SpikeGemm.Scope(true, emulateOnCpuDevice: true);
                long before = SpikeGemm.SplitProducts;
                var y = Tensor.Matmul(s, w).ToArray();
                Assert.Equal(3, SpikeGemm.SplitProducts - before);
                return y;
            }
            finally { SpikeGemm.FusedSplitMaxBytes = keep; }
        }
        Assert.Equal(Run(long.MaxValue), Run(0));
    }

    [Fact]
    public void LinearLifProjectionAccumulatesOntoTheBias()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        var rows = Spikes(new[] { 12, 20 }, 0.3f, 15, d);
        var w = Weights(new[] { 9, 20 }, 16, d);
        var bias = Weights(new[] { 9 }, 17, d);
        float[] split, plain;
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true)) split = LinearLif.Project(rows, w, bias).ToArray();
        Assert.Equal(3, SpikeGemm.SplitProducts - before);
        using (SpikeGemm.Scope(false)) plain = LinearLif.Project(rows, w, bias).ToArray();
        var (exact, scale) = Float64Product(rows.ToArray(), w.ToArray(), 12, 9, 20);
        var bh = bias.ToArray();
        for (int i = 0; i < exact.Length; i++) { exact[i] += bh[i % 9]; scale[i] += Math.Abs(bh[i % 9]); }
        double err = MaxRelError(split, exact, scale);
        Assert.True(err <= 1e-6, $"split projection: {err:E2}");
        Assert.True(MaxRelError(plain, exact, scale) <= 1e-6);
    }

    // ---- the switch and its fallbacks ----

    [Theory]
    [InlineData(null, false, false)]
    [InlineData("", true, true)]
    [InlineData("1", false, true)]
    [InlineData(" TRUE ", false, true)]
    [InlineData("on", false, true)]
    [InlineData("0", true, false)]
    [InlineData("False", true, false)]
    [InlineData("off", true, false)]
    public void SwitchParsesOnAndOff(string? value, bool unset, bool expected) =>
        Assert.Equal(expected, Precision.ParseSwitch(value, Precision.ExactSpikeGemmVariable, unset));

    [Theory]
    [InlineData("yes")]
    [InlineData("2")]
    public void SwitchRejectsOtherValues(string value) =>
        Expect.Throws<InvalidOperationException>(
            () => Precision.ParseSwitch(value, Precision.ExactSpikeGemmVariable, false),
            "SPIKESHARP_SPIKE_GEMM must be 1 or 0", $"'{value}'");

    [Fact]
    public void SwitchIsOnUnlessTheEnvironmentSaysOtherwise()
    {
        var env = Environment.GetEnvironmentVariable(Precision.ExactSpikeGemmVariable);
        bool before = Precision.ExactSpikeGemm;
        Assert.Equal(Precision.ParseSwitch(env, Precision.ExactSpikeGemmVariable, true), before);
        try
        {
            Precision.ExactSpikeGemm = !before;
            Assert.Equal(!before, Precision.ExactSpikeGemm);
        }
        finally { Precision.ExactSpikeGemm = before; }
    }

    private sealed class Capture : TraceListener
    {
        public readonly List<string> Lines = new();
        public override void Write(string? message) { }
        public override void WriteLine(string? message) { lock (Lines) Lines.Add(message ?? ""); }
        public override void TraceEvent(TraceEventCache? c, string source, TraceEventType type, int id, string? message)
        {
            lock (Lines) Lines.Add(message ?? "");
        }
    }

    [Theory]
    [InlineData("cpu", "cpu computes float32 products")]
    [InlineData("ilgpu-cpu", "ILGPU's CPU emulation, which has no cuBLAS")]
    public void UnavailableSplitFallsBackToFloat32AndSaysSoOnce(string dev, string reason)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 6, 10 }, 0.5f, 18, d);
        var w = Weights(new[] { 7, 10 }, 19, d);
        float[] plain;
        using (SpikeGemm.Scope(false)) plain = Tensor.Linear(s, w).ToArray();
        var capture = new Capture();
        Trace.Listeners.Add(capture);
        try
        {
            using var _ = SpikeGemm.Scope(true);
            long before = SpikeGemm.SplitProducts;
            var y1 = Tensor.Linear(s, w).ToArray();
            var y2 = Tensor.Linear(s, w).ToArray();
            Assert.Equal(plain, y1); // the float32 GEMM, bit for bit
            Assert.Equal(plain, y2);
            Assert.Equal(before, SpikeGemm.SplitProducts);
        }
        finally { Trace.Listeners.Remove(capture); }
        var note = Assert.Single(SpikeGemm.FallbackNotes, n => n.Contains(reason));
        Assert.True(capture.Lines.Count(l => l.Contains(note)) <= 1, "the reason was traced more than once");
    }

    [Fact]
    public void UnmarkedOperandsNeverTakeTheSplitPath()
    {
        using var scope = TensorScope.Begin();
        var x = Weights(new[] { 6, 10 }, 20, Device.IlgpuCpu); // a float input, even if it happens to hold 0/1
        var ones = Tensor.Ones(new[] { 6, 10 }, Device.IlgpuCpu);
        var w = Weights(new[] { 7, 10 }, 21, Device.IlgpuCpu);
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            Tensor.Linear(x, w).Dispose();
            Tensor.Linear(ones, w).Dispose();
        }
        Assert.Equal(before, SpikeGemm.SplitProducts);
    }

    [Fact]
    public void CpuResultsDoNotDependOnTheSwitch()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 4, 5, 16 }, 0.4f, 22, Device.Cpu);
        var w = Weights(new[] { 8, 16 }, 23, Device.Cpu); w.RequiresGrad = true;
        (float[], float[]) Run(bool on)
        {
            using var _ = SpikeGemm.Scope(on);
            var y = Tensor.Linear(s, w);
            y.Sum().Backward();
            var g = w.Grad!.ToArray(); w.Grad.Dispose(); w.Grad = null;
            return (y.ToArray(), g);
        }
        var (y1, g1) = Run(true); var (y0, g0) = Run(false);
        Assert.Equal(y0, y1);
        Assert.Equal(g0, g1);
    }

    // ---- the real path (needs a GPU with bfloat16 tensor cores; skipped elsewhere) ----

    [CudaFact]
    public void CublasSplitMatchesFloat64OnCuda()
    {
        var d = Device.Cuda(0);
        var be = (IlgpuBackend)BackendRegistry.Get(d);
        Assert.True(be.Bf16GemmUnavailable == null, $"bfloat16 GEMMs unavailable: {be.Bf16GemmUnavailable}");
        using var scope = TensorScope.Begin();
        int rows = 64, inF = 300, outF = 50;
        var s = Spikes(new[] { rows, inF }, 0.1f, 24, d);
        var w = Weights(new[] { outF, inF }, 25, d); w.RequiresGrad = true;
        var r = Weights(new[] { rows, outF }, 26, d);
        long before = SpikeGemm.SplitProducts;
        float[] y, gw;
        using (SpikeGemm.Scope(true))
        {
            var yt = Tensor.Linear(s, w);
            yt.Mul(r).Sum().Backward();
            y = yt.ToArray(); gw = w.Grad!.ToArray();
        }
        Assert.Equal(6, SpikeGemm.SplitProducts - before);
        var sh = s.ToArray(); var wh = w.ToArray(); var rh = r.ToArray();
        var (yExact, yScale) = Float64Product(sh, wh, rows, outF, inF);
        Assert.True(MaxRelError(y, yExact, yScale) <= 1e-6, $"forward: {MaxRelError(y, yExact, yScale):E2}");
        var (gExact, gScale) = Float64Product(Transpose(rh, rows, outF), Transpose(sh, rows, inF), outF, inF, rows);
        Assert.True(MaxRelError(gw, gExact, gScale) <= 1e-6, $"grad W: {MaxRelError(gw, gExact, gScale):E2}");
    }
}
