using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Neurons;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// The split path beyond a single 2-D product (Ops/SpikeGemm.cs, Ops/Matmul.cs), on the emulated device (its
/// bfloat16 GEMM is a plain kernel): a spike operand kept for the backward as its bfloat16 copy (the float32 one
/// freed), both gradients through the split, batched products, the two-part split under TF32; every result against
/// the CPU's float32 product.
/// </summary>
public class SpikeGemmBackwardTests
{
    private static readonly Device E = Device.IlgpuCpu;

    private static Tensor Spikes(int[] shape, float rate, int seed, Device d)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Rand(shape, new Generator((ulong)seed), d);
        var s = SpikingFunctions.Lif(x, null, Tensor.Scalar(0.01f, d), Tensor.Scalar(1f - rate, d)).Spikes;
        Assert.True(s.IsBinary);
        return s.MoveToOuterScope();
    }

    private static Tensor Dense(int[] shape, int seed, Device d) =>
        Tensor.Rand(shape, new Generator((ulong)seed), d, -1f, 1f);

    // |got − cpu| ≤ tol · Σ|terms| elementwise, Σ|terms| being the same product of the absolute values.
    private static void Close(Tensor got, Tensor cpu, Tensor scale, double tol, string what)
    {
        var g = got.ToArray(); var c = cpu.ToArray(); var s = scale.ToArray();
        Assert.Equal(c.Length, g.Length);
        for (int i = 0; i < g.Length; i++)
            Assert.True(Math.Abs(g[i] - c[i]) <= tol * s[i] + 1e-30,
                $"{what}[{i}]: {g[i]:R} vs CPU {c[i]:R} (scale {s[i]:R})");
    }

    private static Tensor Cpu(Tensor t, bool grad = false)
    {
        var c = t.To(Device.Cpu).Detach();
        c.RequiresGrad = grad;
        return c;
    }

    [Fact]
    public void ASpikeInputIsKeptAsBf16AndItsFloat32TensorFreed()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 12, 20 }, 0.3f, 1, E);
        var sCpu = Cpu(s);
        var w = Dense(new[] { 9, 20 }, 2, E); w.RequiresGrad = true;
        var r = Dense(new[] { 12, 9 }, 3, E);
        long before = SpikeGemm.SplitProducts;
        float[] y, gw;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            using var prof = MemoryProfile.Start();
            var yt = Tensor.Linear(s, w);
            // The backward holds a 2-byte copy, not the float32 spikes: releasing them frees them now.
            Assert.Equal(12L * 20 * 2, prof.Ops.Single(o => o.Op == "matmul:saved").LiveBytes);
            s.Release();
            Assert.True(s.IsDisposed);
            yt.Mul(r).Sum().Backward();
            Assert.Equal(0L, prof.Ops.Single(o => o.Op == "matmul:saved").LiveBytes); // unpinned after the backward
            y = yt.ToArray(); gw = w.Grad!.ToArray();
        }
        Assert.Equal(6, SpikeGemm.SplitProducts - before); // 3 forward, 3 for grad W from the kept copy

        var wCpu = Cpu(w, grad: true);
        var yCpu = Tensor.Linear(sCpu, wCpu);
        yCpu.Mul(Cpu(r)).Sum().Backward();
        Close(Tensor.FromArray(y, yCpu.Shape), yCpu, Tensor.Linear(sCpu, wCpu.Detach().Abs()), 2e-6, "y");
        var gScale = Tensor.Matmul(Cpu(r).Abs(), sCpu, transA: true);
        Close(Tensor.FromArray(gw, wCpu.Shape), wCpu.Grad!, gScale, 2e-6, "grad W");
    }

    [Fact]
    public void WithoutTheSplitTheFloat32SpikesStayForTheBackward()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 6, 10 }, 0.5f, 4, E);
        var w = Dense(new[] { 7, 10 }, 5, E); w.RequiresGrad = true;
        using (SpikeGemm.Scope(false))
        {
            var y = Tensor.Linear(s, w);
            s.Release();
            Assert.False(s.IsDisposed); // pinned: grad W reads it
            y.Sum().Backward();
            Assert.True(s.IsDisposed);
        }
    }

    [Fact]
    public void AKeptCopyIsWidenedWhenTheBackwardCannotSplit()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 3, 4, 16 }, 0.4f, 6, E); // 3-D: the batch folds into the rows
        var w = Dense(new[] { 8, 16 }, 7, E); w.RequiresGrad = true;
        float[] Run(bool splitForward)
        {
            Tensor y;
            using (SpikeGemm.Scope(splitForward, emulateOnCpuDevice: true)) y = Tensor.Linear(s, w);
            using (SpikeGemm.Scope(false)) y.Sum().Backward(); // the float32 GEMM, from the widened copy
            var g = w.Grad!.ToArray();
            w.Grad.Dispose(); w.Grad = null;
            return g;
        }
        // The copy holds the spikes exactly, so the float32 GEMM gets the same operands bit for bit.
        Assert.Equal(Run(false), Run(true));
    }

    public static IEnumerable<object[]> Layouts() =>
        from exactLeft in new[] { true, false }
        from transA in new[] { false, true }
        from transB in new[] { false, true }
        select new object[] { exactLeft, transA, transB };

    [Theory, MemberData(nameof(Layouts))]
    public void BothGradientsOfASpikeProductMatchTheCpu(bool exactLeft, bool transA, bool transB)
    {
        using var scope = TensorScope.Begin();
        int m = 7, n = 6, k = 19;
        int[] aShape = transA ? new[] { k, m } : new[] { m, k }, bShape = transB ? new[] { n, k } : new[] { k, n };
        var a = exactLeft ? Spikes(aShape, 0.4f, 8, E) : Dense(aShape, 8, E);
        var b = exactLeft ? Dense(bShape, 9, E) : Spikes(bShape, 0.4f, 9, E);
        var dense = exactLeft ? b : a;
        dense.RequiresGrad = true; // the spike operand is data: only its partner is trained
        var r = Dense(new[] { m, n }, 10, E);
        long before = SpikeGemm.SplitProducts;
        Tensor y;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            y = Tensor.Matmul(a, b, transA, transB);
            y.Mul(r).Sum().Backward();
        }
        Assert.Equal(6, SpikeGemm.SplitProducts - before);

        var ac = Cpu(a, !exactLeft); var bc = Cpu(b, exactLeft);
        var yc = Tensor.Matmul(ac, bc, transA, transB);
        yc.Mul(Cpu(r)).Sum().Backward();
        Close(y, yc, Tensor.Matmul(ac.Detach().Abs(), bc.Detach().Abs(), transA, transB), 2e-6, "y");
        // |grad| ≤ the same gradient computed from |r| and the absolute operands.
        var ad = Cpu(a.Abs(), !exactLeft); var bd = Cpu(b.Abs(), exactLeft);
        Tensor.Matmul(ad, bd, transA, transB).Mul(Cpu(r).Abs()).Sum().Backward();
        var (got, cpu, scale) = exactLeft ? (b.Grad!, bc.Grad!, bd.Grad!) : (a.Grad!, ac.Grad!, ad.Grad!);
        Close(got, cpu, scale, 2e-6, "grad of the trained operand");
        dense.Grad!.Dispose();
    }

    public static IEnumerable<object[]> Batches() => new[]
    {
        // a exact, b 3-D, transA, transB
        new object[] { true, true, false, false }, new object[] { true, true, true, true },
        new object[] { false, true, false, true }, new object[] { true, false, true, false },
        new object[] { false, false, true, true },
    };

    [Theory, MemberData(nameof(Batches))]
    public void BatchedProductsSplitEveryEntry(bool exactLeft, bool b3, bool transA, bool transB)
    {
        using var scope = TensorScope.Begin();
        int batch = 3, m = 5, n = 4, k = 11;
        int[] aShape = transA ? new[] { batch, k, m } : new[] { batch, m, k };
        int[] bInner = transB ? new[] { n, k } : new[] { k, n };
        int[] bShape = b3 ? new[] { batch }.Concat(bInner).ToArray() : bInner;
        var a = exactLeft ? Spikes(aShape, 0.5f, 11, E) : Dense(aShape, 11, E);
        var b = exactLeft ? Dense(bShape, 12, E) : Spikes(bShape, 0.5f, 12, E);
        (exactLeft ? b : a).RequiresGrad = true;
        var r = Dense(new[] { batch, m, n }, 13, E);
        long before = SpikeGemm.SplitProducts;
        Tensor y;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            y = Tensor.Matmul(a, b, transA, transB);
            Assert.Equal(3 * batch, SpikeGemm.SplitProducts - before); // three parts for every entry
            y.Mul(r).Sum().Backward();
        }
        var ac = Cpu(a, !exactLeft); var bc = Cpu(b, exactLeft);
        var yc = Tensor.Matmul(ac, bc, transA, transB);
        yc.Mul(Cpu(r)).Sum().Backward();
        Close(y, yc, Tensor.Matmul(ac.Detach().Abs(), bc.Detach().Abs(), transA, transB), 2e-6, "y");
        var ad = Cpu(a.Abs(), !exactLeft); var bd = Cpu(b.Abs(), exactLeft);
        Tensor.Matmul(ad, bd, transA, transB).Mul(Cpu(r).Abs()).Sum().Backward();
        var (got, cpu, scale) = exactLeft ? (b.Grad!, bc.Grad!, bd.Grad!) : (a.Grad!, ac.Grad!, ad.Grad!);
        Close(got, cpu, scale, 2e-6, "grad");
        (exactLeft ? b : a).Grad!.Dispose();
    }

    [Fact]
    public void UnderTf32TheDenseOperandKeepsTwoParts()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 10, 64 }, 0.5f, 14, E);
        var w = Tensor.FromArray(Enumerable.Range(0, 5 * 64).Select(i => 1f + i * 1.37e-5f).ToArray(),
            new[] { 5, 64 }, E); // mantissas with bits beyond 16: the third part is not zero
        Tensor y2, y3;
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            using (Precision.Use(PrecisionMode.Tf32)) y2 = Tensor.Linear(s, w);
            Assert.Equal(2, SpikeGemm.SplitProducts - before);
            using (Precision.Use(PrecisionMode.Fp32)) y3 = Tensor.Linear(s, w);
            Assert.Equal(5, SpikeGemm.SplitProducts - before);
        }
        var sc = Cpu(s); var wc = Cpu(w);
        var yc = Tensor.Linear(sc, wc);
        var scale = Tensor.Linear(sc, wc.Abs());
        Close(y3, yc, scale, 2e-6, "three parts");
        // Dropping the third part loses at most 2⁻¹⁶ of each weight: far inside TF32's 2⁻¹¹.
        Close(y2, yc, scale, 2e-5, "two parts");
        Assert.NotEqual(y3.ToArray(), y2.ToArray());
    }

    [Fact]
    public void LinearLifKeepsSpikeRowsAsBf16ForItsWeightGradient()
    {
        using var scope = TensorScope.Begin();
        var rows = Spikes(new[] { 12, 20 }, 0.3f, 15, E);
        var rowsCpu = Cpu(rows);
        var w = Dense(new[] { 9, 20 }, 16, E); w.RequiresGrad = true;
        var bias = Dense(new[] { 9 }, 17, E); bias.RequiresGrad = true;
        var r = Dense(new[] { 12, 9 }, 18, E);
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true))
        {
            var y = LinearLif.Project(rows, w, bias);
            rows.Release();
            Assert.True(rows.IsDisposed); // the backward holds the bfloat16 copy only
            y.Mul(r).Sum().Backward();
        }
        Assert.Equal(6, SpikeGemm.SplitProducts - before);
        var wc = Cpu(w, grad: true);
        LinearLif.Project(rowsCpu, wc, Cpu(bias)).Mul(Cpu(r)).Sum().Backward();
        Close(w.Grad!, wc.Grad!, Tensor.Matmul(Cpu(r).Abs(), rowsCpu, transA: true), 2e-6, "grad W");
    }

    [Fact]
    public void TheAttentionProjectionTakesTheSplitPath()
    {
        using var scope = TensorScope.Begin();
        using var attn = new SpikingSelfAttention(8, 2, gen: new Generator(19), device: E);
        var x = Dense(new[] { 6, 2, 8 }, 20, E).MulScalar(3f);
        Tensor split, plain;
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true, emulateOnCpuDevice: true)) split = attn.Forward(x);
        // q, k and v project a float input (no spike operand); the output projection reads whole counts.
        Assert.Equal(3, SpikeGemm.SplitProducts - before);
        attn.ResetState();
        using (SpikeGemm.Scope(false)) plain = attn.Forward(x);
        var sp = split.ToArray(); var pl = plain.ToArray();
        for (int i = 0; i < sp.Length; i++) Assert.True(Math.Abs(sp[i] - pl[i]) <= 1e-5 * (1 + Math.Abs(pl[i])));
    }

    // The same paths through cublasGemmEx (needs a GPU with bfloat16 tensor cores; skipped elsewhere).
    [CudaFact]
    public void KeptCopiesAndBatchedProductsOnCudaMatchTheCpu()
    {
        var d = Device.Cuda(0);
        var be = (IlgpuBackend)SpikeSharp.Backends.BackendRegistry.Get(d);
        Assert.True(be.Bf16GemmUnavailable == null, $"bfloat16 GEMMs unavailable: {be.Bf16GemmUnavailable}");
        using var scope = TensorScope.Begin();
        var s = Spikes(new[] { 4, 16, 96 }, 0.2f, 21, d);
        var sCpu = Cpu(s);
        var w = Dense(new[] { 40, 96 }, 22, d); w.RequiresGrad = true;
        long before = SpikeGemm.SplitProducts;
        using (SpikeGemm.Scope(true))
        {
            var y = Tensor.Linear(s, w);
            s.Release();
            Assert.True(s.IsDisposed);
            y.Sum().Backward();
        }
        Assert.Equal(6, SpikeGemm.SplitProducts - before);
        var wc = Cpu(w, grad: true);
        Tensor.Linear(sCpu, wc).Sum().Backward();
        Close(w.Grad!, wc.Grad!, wc.Grad!.Abs(), 1e-6, "grad W"); // a column sum of spikes: small whole numbers

        var a = Spikes(new[] { 3, 9, 33 }, 0.3f, 23, d);
        var b = Dense(new[] { 3, 17, 33 }, 24, d);
        Tensor yb;
        using (SpikeGemm.Scope(true)) yb = Tensor.Matmul(a, b, false, true);
        var ac = Cpu(a); var bc = Cpu(b);
        Close(yb, Tensor.Matmul(ac, bc, false, true), Tensor.Matmul(ac, bc.Abs(), false, true), 2e-6, "batched");
    }
}
