using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>Gather/scatter, index ops, reductions and argmax of the ILGPU backend against the CPU backend.</summary>
[Collection(SerialBackendTests.Name)] // the error test must not have its flag read by a concurrent test
public class IlgpuIndexReduceTests
{
    public static IEnumerable<object[]> SizeData => Sizes.Select(n => new object[] { n });

    [Fact]
    public void GatherAndScatterMoveEveryDType()
    {
        // Transpose (7, 33) → (33, 7) as a gather, then scatter it back.
        int r = 7, c = 33, n = r * c;
        var ix = StridedIndex.Create(new[] { c, r }, new[] { 1, c });
        var f = RandF(n, 1);
        var data = new (DType, Array)[]
        {
            (DType.Float32, f), (DType.Int32, RandI(n, 2, -1000, 1000)),
            (DType.UInt8, RandI(n, 3, 0, 256).Select(v => (byte)v).ToArray()), (DType.Float16, f.Select(v => (Half)v).ToArray()),
        };
        foreach (var (t, arr) in data)
        {
            byte[] G(IBackend be)
            {
                var x = UpAny(be, arr, 2); var y = Empty(be, t, n);
                be.Gather(x, ix, y);
                var z = Empty(be, t, n + 5); be.Fill(z, 0f);
                be.Scatter(y, new Buf(z.Storage, 5, n), ix);
                return Bytes(be, y).Concat(Bytes(be, z)).ToArray();
            }
            Assert.Equal(G(Cpu), G(Gpu));
        }
    }

    [Fact]
    public void ScatterAddAccumulates()
    {
        var x = RandF(4 * 9, 4); var y0 = RandF(40, 5);
        var iy = StridedIndex.Create(new[] { 4, 9 }, new[] { 10, 1 });
        float[] F(IBackend be) { var y = Up(be, y0); be.ScatterAdd(Up(be, x), y, iy); return Down<float>(be, y); }
        Close(F(Cpu), F(Gpu), 0f);
    }

    [Fact]
    public void IndexSelectAddAndOneHotMatchCpu()
    {
        int outer = 3, r = 11, count = 37, inner = 5;
        var x = RandF(outer * r * inner, 6); var ids = RandI(count, 7, 0, r); // duplicates on purpose
        var g = RandF(outer * count * inner, 8);
        float[] Sel(IBackend be) { var y = Empty(be, DType.Float32, outer * count * inner); be.IndexSelect(Up(be, x), UpOffset(be, ids), y, outer, r, count, inner); return Down<float>(be, y); }
        Close(Sel(Cpu), Sel(Gpu), 0f, "index_select");
        float[] Add(IBackend be) { var y = Up(be, x); be.IndexAdd(Up(be, g), Up(be, ids), y, outer, r, count, inner); return Down<float>(be, y); }
        Close(Add(Cpu), Add(Gpu), 1e-5f, "index_add");
        float[] Hot(IBackend be) { var y = Empty(be, DType.Float32, count * r); be.OneHot(Up(be, ids), y, r); return Down<float>(be, y); }
        Close(Hot(Cpu), Hot(Gpu), 0f, "one_hot");
    }

    [Fact]
    public void OutOfRangeIndicesFailOnSyncNamingTheOp()
    {
        var gpu = Gpu;
        var bad = Up(gpu, new[] { 0, 1, 9, 2 });
        var x = Up(gpu, RandF(4 * 3, 9)); var y = Empty(gpu, DType.Float32, 4 * 3);
        gpu.IndexSelect(x, bad, y, 1, 4, 4, 3); // must not throw or synchronise here
        var e = Assert.Throws<IndexOutOfRangeException>(() => gpu.Synchronize());
        Assert.Contains("index_select", e.Message);
        Assert.Contains("9", e.Message);
        gpu.Synchronize(); // the flag is cleared after reporting

        gpu.IndexAdd(y, bad, x, 1, 4, 4, 3);
        e = Assert.Throws<IndexOutOfRangeException>(() => Down<float>(gpu, x));
        Assert.Contains("index_add", e.Message);

        var hot = Empty(gpu, DType.Float32, 4 * 5);
        gpu.OneHot(Up(gpu, new[] { 1, -1, 0, 4 }), hot, 5);
        e = Assert.Throws<IndexOutOfRangeException>(() => Down<float>(gpu, hot));
        Assert.Contains("one_hot", e.Message);
        Assert.Equal(new float[] { 0, 1, 0, 0, 0 }, Down<float>(gpu, new Buf(hot.Storage, 0, 5)));
    }

    public static IEnumerable<object[]> ReduceShapes => new[]
    {
        new object[] { 1, 1, 1 }, new object[] { 1, 4097, 1 }, new object[] { 1, 100003, 1 },
        new object[] { 33, 31, 1 }, new object[] { 5, 1000, 1 }, new object[] { 2, 33, 37 },
        new object[] { 1, 257, 3 }, new object[] { 3, 1, 31 }, new object[] { 1, 0, 4 },
        new object[] { 1, 3001, 40 }, new object[] { 2, 70000, 2 }, // split over r, then combined
    };

    [Theory, MemberData(nameof(ReduceShapes))]
    public void ReduceAndArgMaxMatchCpu(int outer, int r, int inner)
    {
        var x = RandF(outer * r * inner, outer * 1000 + r + inner);
        float[] Red<TOp>(IBackend be, TOp op) where TOp : struct, IReduceOp
        { var y = Empty(be, DType.Float32, outer * inner); be.Reduce(op, UpOffset(be, x), y, outer, r, inner); return Down<float>(be, y); }
        Close(Red(Cpu, new SumOp()), Red(Gpu, new SumOp()), 1e-4f, "sum");
        Close(Red(Cpu, new MaxOp()), Red(Gpu, new MaxOp()), 0f, "max");
        Close(Red(Cpu, new MinOp()), Red(Gpu, new MinOp()), 0f, "min");
        if (r > 0)
        {
            int[] Arg(IBackend be) { var y = Empty(be, DType.Int32, outer * inner); be.ArgMax(Up(be, x), y, outer, r, inner); return Down<int>(be, y); }
            Assert.Equal(Arg(Cpu), Arg(Gpu));
        }
    }

    [Fact]
    public void FullSumIsDeterministic()
    {
        var x = Up(Gpu, RandF(50001, 11));
        var y = Empty(Gpu, DType.Float32, 1);
        Gpu.Reduce(new SumOp(), x, y, 1, 50001, 1);
        float first = Down<float>(Gpu, y)[0];
        for (int i = 0; i < 3; i++) { Gpu.Reduce(new SumOp(), x, y, 1, 50001, 1); Assert.Equal(first, Down<float>(Gpu, y)[0]); }
    }

    [Fact]
    public void ArgMaxPrefersFirstMaximumAndNaN()
    {
        var x = new[] { 1f, 3f, 3f, 2f, /* row 2 */ 1f, float.NaN, 5f, float.NaN };
        int[] A(IBackend be) { var y = Empty(be, DType.Int32, 2); be.ArgMax(Up(be, x), y, 2, 4, 1); return Down<int>(be, y); }
        Assert.Equal(A(Cpu), A(Gpu));
        Assert.Equal(new[] { 1, 1 }, A(Gpu));
    }

    private static Buf UpAny(IBackend be, Array arr, int offset) => arr switch
    {
        float[] a => UpOffset(be, a, offset), int[] a => UpOffset(be, a, offset),
        byte[] a => UpOffset(be, a, offset), Half[] a => UpOffset(be, a, offset),
        _ => throw new ArgumentException("array type"),
    };

    private static byte[] Bytes(IBackend be, Buf b) => b.DType switch
    {
        DType.Float32 => Down<float>(be, b).SelectMany(BitConverter.GetBytes).ToArray(),
        DType.Int32 => Down<int>(be, b).SelectMany(BitConverter.GetBytes).ToArray(),
        DType.Float16 => Down<Half>(be, b).SelectMany(BitConverter.GetBytes).ToArray(),
        _ => Down<byte>(be, b),
    };
}

/// <summary>Using a backend from a thread other than the one that created it.</summary>
public class IlgpuThreadingTests
{
    [Fact]
    public async Task WorkerThreadsCanUploadAndRunKernels()
    {
        var gpu = Gpu;
        var x = RandF(100, 1);
        var result = await Task.Run(() =>
        {
            var b = Up(gpu, x);
            gpu.Map(new AffineOp(2f, 1f), b, b);
            return Down<float>(gpu, b);
        });
        Assert.Equal(x.Select(v => 2f * v + 1f).ToArray(), result);
    }
}
