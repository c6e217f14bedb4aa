using SpikeSharp.Backends.Cpu;
using SpikeSharp.Kernels;

namespace SpikeSharp.Tests.Backends;

/// <summary>The CPU backend's row-wise gather/scatter-add paths (inner dim ≥ 8) against per-element index arithmetic.</summary>
public class CpuStridedRowTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void GatherAndScatterAddRowsMatchElementwiseIndexing(int innerStride)
    {
        var be = CpuBackend.Instance;
        int d0 = 3, d1 = 5, d2 = 9; // inner run 9 ≥ 8
        var idx = StridedIndex.Create(new[] { d0, d1, d2 }, new[] { 200, 23, innerStride });
        var rnd = new Random(3);
        var src = Enumerable.Range(0, 800).Select(_ => (float)rnd.NextDouble()).ToArray();
        var x = be.Allocate(DType.Float32, src.Length); be.Upload<float>(src, new(x, 0, src.Length));
        int n = d0 * d1 * d2;
        var y = be.Allocate(DType.Float32, n);
        be.Gather(new(x, 0, src.Length), idx, new(y, 0, n));
        var got = new float[n]; be.Download<float>(new(y, 0, n), got);
        for (int i = 0; i < n; i++) Assert.Equal(src[idx.Offset(i)], got[i]);

        var acc = new float[800];
        var z = be.Allocate(DType.Float32, 800); be.Upload<float>(acc, new(z, 0, 800));
        be.ScatterAdd(new(y, 0, n), new(z, 0, 800), idx);
        be.ScatterAdd(new(y, 0, n), new(z, 0, 800), idx);
        var back = new float[800]; be.Download<float>(new(z, 0, 800), back);
        for (int i = 0; i < n; i++) acc[idx.Offset(i)] += 2 * got[i];
        Assert.Equal(acc, back);
    }
}
