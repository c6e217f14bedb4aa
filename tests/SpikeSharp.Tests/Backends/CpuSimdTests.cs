using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Kernels;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// The CPU backend's vectorised and row-wise fast paths against the element-wise definitions (the op structs' own
/// Apply/Combine, one index computation per element): bitwise where the operation order is the same.
/// </summary>
public class CpuSimdTests
{
    private static CpuBackend Be => CpuBackend.Instance;

    public static readonly TheoryData<int> Lengths = new() { 1, 7, 17, 1000, 100_003 };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AdamUpdatesMatchTheScalarOpsBitwise(int n)
    {
        var m = RandF(n, 1); var g = RandF(n, 2); var p = RandF(n, 3); var v = RandF(n, 4, 0f, 3f);
        void Check<TOp>(TOp op, float[] a, float[] b, float[] c) where TOp : struct, ITernaryOp
        {
            var ba = UpOffset(Be, a); var bb = Up(Be, b); var bc = UpOffset(Be, c, 5); var y = Empty(Be, DType.Float32, n);
            Be.Map(op, ba, bb, bc, y);
            var got = Down<float>(Be, y);
            for (int i = 0; i < n; i++)
                Assert.True(op.Apply(a[i], b[i], c[i]).Equals(got[i]), $"{typeof(TOp).Name}[{i}]: {got[i]} vs {op.Apply(a[i], b[i], c[i])}");
            foreach (var x in new[] { ba, bb, bc, y }) x.Storage.Release();
        }
        Check(new AdamFirstMomentOp { Beta1 = 0.9f, WeightDecay = 0.01f }, m, g, p);
        Check(new AdamSecondMomentOp { Beta2 = 0.999f, WeightDecay = 0.01f }, v, g, p);
        Check(new AdamStepOp { Lr = 1e-3f, Eps = 1e-8f, Correction1 = 0.1f, Correction2 = 0.001f, DecoupledDecay = 0.01f }, p, m, v);
    }

    [Fact]
    public void AdamUpdateInPlaceMatchesTheScalarOp()
    {
        // The optimiser writes the moment over its input (y aliases a).
        int n = 1037;
        var m = RandF(n, 1); var g = RandF(n, 2); var p = RandF(n, 3);
        var op = new AdamFirstMomentOp { Beta1 = 0.9f, WeightDecay = 0f };
        var bm = Up(Be, m); var bg = Up(Be, g); var bp = Up(Be, p);
        Be.Map(op, bm, bg, bp, bm);
        var got = Down<float>(Be, bm);
        for (int i = 0; i < n; i++) Assert.Equal(op.Apply(m[i], g[i], p[i]), got[i]);
    }

    public static readonly TheoryData<int, int, int, int> BroadcastCases = new()
    {
        // rows, cols, stride of a along cols, stride of b along cols (0: broadcast, 1: contiguous)
        { 33, 40, 1, 0 }, { 33, 40, 0, 1 }, { 5, 64, 1, 1 }, { 300, 9, 1, 0 }, { 4, 100, 2, 0 },
    };

    [Theory]
    [MemberData(nameof(BroadcastCases))]
    public void BroadcastRowsMatchTheElementwiseDefinition(int rows, int cols, int sa, int sb)
    {
        var ha = RandF(rows * cols * 2 + 3, 5); var hb = RandF(rows * cols * 2 + 3, 6, 0.5f, 2f);
        var a = Up(Be, ha); var b = Up(Be, hb);
        // a: row stride cols·max(sa,1)... ; b: broadcast rows when sb = 0 along cols, else its own row stride.
        var ia = StridedIndex.Create(new[] { rows, cols }, new[] { sa == 0 ? 1 : cols * sa, sa });
        var ib = StridedIndex.Create(new[] { rows, cols }, new[] { sb == 0 ? 1 : cols, sb });
        var y = Empty(Be, DType.Float32, rows * cols);
        void Check<TOp>(TOp op) where TOp : struct, IBinaryOp
        {
            Be.MapBroadcast(op, a, ia, b, ib, y);
            var got = Down<float>(Be, y);
            for (int i = 0; i < got.Length; i++)
                Assert.Equal(op.Apply(ha[ia.Offset(i)], hb[ib.Offset(i)]), got[i]);
        }
        Check(new AddOp()); Check(new SubOp()); Check(new MulOp()); Check(new DivOp()); Check(new MaxOp2());
    }

    [Fact]
    public void ContiguousDimsMergeIntoOneRow()
    {
        // (T, B, 1, 28, 28) expanded from (B, 1, 28, 28): the image is one run of 784, repeated over T.
        var ix = StridedIndex.Create(new[] { 4, 3, 1, 28, 28 }, new[] { 0, 784, 784, 28, 1 });
        Assert.Equal((3 * 784, 1), CpuBackend.Rows(ix));
        // A transpose breaks the run at the swapped dims.
        Assert.Equal((5, 7), CpuBackend.Rows(StridedIndex.Create(new[] { 7, 5 }, new[] { 1, 7 })));
        // Broadcast (stride 0) dims merge with each other.
        Assert.Equal((12, 0), CpuBackend.Rows(StridedIndex.Create(new[] { 2, 3, 4 }, new[] { 1, 0, 0 })));

        var h = RandF(3 * 784, 7);
        var x = Up(Be, h); var y = Empty(Be, DType.Float32, 4 * 3 * 784);
        Be.Gather(x, ix, y);
        var got = Down<float>(Be, y);
        for (int i = 0; i < got.Length; i++) Assert.Equal(h[ix.Offset(i)], got[i]);
    }

    public static readonly TheoryData<int, int, int> ReduceShapes = new()
    {
        { 1, 512, 512 }, { 3, 70, 130 }, { 40, 3, 9 }, { 2, 100_000, 2 }, { 1, 9, 1 }, { 129, 10, 1 }, { 1, 300_000, 1 },
    };

    [Theory]
    [MemberData(nameof(ReduceShapes))]
    public void ReductionsMatchTheElementwiseDefinition(int outer, int r, int inner)
    {
        var h = RandF(outer * r * inner, 8);
        var x = UpOffset(Be, h); var y = Empty(Be, DType.Float32, outer * inner);
        float[] Reference<TOp>(TOp op) where TOp : struct, IReduceOp
        {
            var want = new float[outer * inner];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    float acc = op.Identity();
                    for (int j = 0; j < r; j++) acc = op.Combine(acc, h[(o * r + j) * inner + i]);
                    want[o * inner + i] = acc;
                }
            return want;
        }
        Be.Reduce(new MaxOp(), x, y, outer, r, inner);
        Assert.Equal(Reference(new MaxOp()), Down<float>(Be, y));
        Be.Reduce(new MinOp(), x, y, outer, r, inner);
        Assert.Equal(Reference(new MinOp()), Down<float>(Be, y));
        Be.Reduce(new SumOp(), x, y, outer, r, inner);
        // Sums along a middle dim keep the definition's order (bitwise); along contiguous memory they are vectorised.
        if (inner > 1) Assert.Equal(Reference(new SumOp()), Down<float>(Be, y));
        else Close(Reference(new SumOp()), Down<float>(Be, y), 1e-5f * MathF.Sqrt(r), "sum");
    }
}
