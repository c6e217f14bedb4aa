using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>The tiled GEMM, the caching allocator, float16 bit conversions and the device catalog.</summary>
public class IlgpuGemmMemoryTests
{
    public static IEnumerable<object[]> GemmCases()
    {
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
            {
                yield return new object[] { ta, tb, 1, 1, 1, 1, 1f, 0f };
                yield return new object[] { ta, tb, 65, 33, 17, 1, 1f, 0f };
                yield return new object[] { ta, tb, 7, 70, 31, 3, 0.5f, 2f };
            }
    }

    [Theory, MemberData(nameof(GemmCases))]
    public void GemmMatchesCpu(bool ta, bool tb, int m, int n, int k, int batch, float alpha, float beta)
    {
        var a = RandF(batch * m * k, m + 1); var b = RandF(batch * k * n, n + 2); var c = RandF(batch * m * n, k + 3);
        float[] G(IBackend be) { var cc = UpOffset(be, c); be.Gemm(ta, tb, m, n, k, alpha, Up(be, a), Up(be, b), beta, cc, batch, m * k, k * n, m * n); return Down<float>(be, cc); }
        Close(G(Cpu), G(Gpu), 1e-4f, $"gemm ta={ta} tb={tb}");
    }

    [Fact]
    public void GemmSharedOperandAndGarbageCWithBetaZero()
    {
        int m = 9, n = 40, k = 35, batch = 3;
        var a = RandF(batch * m * k, 1); var w = RandF(k * n, 2);
        float[] G(IBackend be)
        {
            var cc = Empty(be, DType.Float32, batch * m * n); be.Fill(cc, float.NaN);
            be.Gemm(false, true, m, n, k, 1f, Up(be, a), Up(be, w), 0f, cc, batch, m * k, 0, m * n);
            return Down<float>(be, cc);
        }
        var g = G(Gpu);
        Assert.DoesNotContain(g, float.IsNaN);
        Close(G(Cpu), g, 1e-4f);
    }

    [Fact]
    public void GemmRejectsShortBuffers()
    {
        var a = Empty(Gpu, DType.Float32, 5);
        var ex = Assert.Throws<ArgumentException>(() => Gpu.Gemm(false, false, 2, 2, 3, 1f, a, a, 0f, a));
        Assert.Contains("gemm", ex.Message);
    }

    [Fact]
    public void AllocatorReusesFreedBlocks()
    {
        var be = (IlgpuBackend)Gpu;
        var allocator = new IlgpuAllocator(be.Accelerator, () => { }); // private: exact byte counts
        var s1 = new IlgpuStorage(be, allocator, DType.Float32, 3000);
        var keep = new IlgpuStorage(be, allocator, DType.Float32, 10); // s1 does not merge with the segment's tail
        var block = s1.Block;
        Assert.Equal(12288, block.LengthInBytes); // 12000 bytes rounded up to 512
        s1.Release();
        Assert.Equal(2L << 20, allocator.CachedBytes + allocator.AllocatedBytes);
        var s2 = new IlgpuStorage(be, allocator, DType.Int32, 2900); // 11600 bytes: the same place, best fit
        Assert.Same(block.Handle.Segment, s2.Block.Handle.Segment);
        Assert.Equal(block.Handle.Offset, s2.Block.Handle.Offset);
        Assert.Equal(1, allocator.Segments);
        Assert.Equal(12288 + 512, allocator.PeakBytes);
        s2.Release();
        keep.Release();
        allocator.EmptyCache();
        Assert.Equal(0, allocator.ReservedBytes);
        Assert.Equal(512, IlgpuAllocator.BlockSize(1));
        Assert.Equal((1 << 19) + 512, IlgpuAllocator.BlockSize((1 << 19) + 1));
    }

    [Fact]
    public void AllocatorIsSafeFromOtherThreads()
    {
        var be = (IlgpuBackend)Gpu;
        var storages = Enumerable.Range(0, 64).Select(i => be.Allocate(DType.Float32, 100 + i)).ToArray();
        Parallel.ForEach(storages, s => s.Release());
        Assert.All(storages, s => Assert.True(s.IsReleased));
    }

    [Fact]
    public void HalfBitsMatchSystemHalf()
    {
        for (int h = 0; h < 65536; h++)
        {
            var sh = BitConverter.UInt16BitsToHalf((ushort)h);
            float f = HalfBits.ToFloat((ushort)h);
            if (Half.IsNaN(sh)) Assert.True(float.IsNaN(f)); else Assert.Equal((float)sh, f);
        }
        var r = new Random(5);
        var specials = new[] { 0f, -0f, 65504f, 65519.99f, 65520f, 1e-8f, 2.98e-8f, 5.96e-8f, 6.1e-5f, 6.0e-5f, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity, 1.00048828125f, 1.00146484375f };
        foreach (var f in specials.Concat(Enumerable.Range(0, 20000).Select(_ => (float)((r.NextDouble() - 0.5) * Math.Pow(2, r.Next(-30, 18))))))
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)f), HalfBits.FromFloat(f));
        Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(HalfBits.FromFloat(float.NaN))));
    }

    [Fact]
    public void CatalogListsTheEmulatedDeviceWithoutAGpu()
    {
        var list = DeviceCatalog.Devices;
        Assert.Contains(list, d => d.Device == Device.IlgpuCpu && d.WarpSize == 32);
        Assert.Equal(list.Count(d => d.Device.Type == DeviceType.Cuda), DeviceCatalog.CudaDeviceCount);
        var libs = DeviceCatalog.NativeLibraries;
        Assert.Contains(libs, l => l.Name == "cuBLAS");
    }

    [Fact]
    public void MissingCudaDeviceFailsClearly()
    {
        if (DeviceCatalog.CudaDeviceCount > 5) return;
        var ex = Assert.Throws<ArgumentException>(() => IlgpuBackend.Create(Device.Cuda(5)));
        Assert.Contains("cuda:5", ex.Message);
    }
}
