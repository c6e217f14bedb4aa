using System.Runtime.CompilerServices;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// The CPU backend's caching allocator: bucket sizes, reuse, the finalizer path, the cache bound, and a warm training
/// step that takes every array from the pool. Counts are process-wide, so these run apart from other tests.
/// </summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)]
public class CpuPoolTests
{
    [Theory]
    [InlineData(0, 16)]
    [InlineData(1, 16)]
    [InlineData(16, 16)]
    [InlineData(17, 20)]
    [InlineData(100, 112)]
    [InlineData(1000, 1024)]
    [InlineData(1025, 1280)]
    [InlineData(401_408, 458_752)] // 784 × 512
    public void RequestsRoundUpToAQuarterOctave(int length, int bucket)
    {
        Assert.Equal(bucket, HostPool.BucketLength(length));
        Assert.True(bucket <= Math.Max(16, length * 1.25 + 1), "at most 25 % slack");
    }

    [Fact]
    public void HugeRequestsAreNotRoundedPastTheLargestArray() =>
        Assert.Equal(Array.MaxLength - 1, HostPool.BucketLength(Array.MaxLength - 1));

    [Fact]
    public void ReleasedMemoryServesTheNextRequestOfItsBucket()
    {
        var be = CpuBackend.Instance;
        var s1 = (CpuStorage)be.Allocate(DType.Float32, 1000);
        var array = s1.Data;
        Assert.True(array.Length >= 1000);
        s1.Release();
        Assert.Empty(s1.Data);
        long fresh = HostPool.FreshArrays;
        var s2 = (CpuStorage)be.Allocate(DType.Float32, 990); // same bucket (1024)
        Assert.Same(array, s2.Data);
        Assert.Equal(fresh, HostPool.FreshArrays);
        var s3 = (CpuStorage)be.Allocate(DType.Int32, 1000); // another element type: never shares arrays
        Assert.IsType<int[]>(s3.Data);
        s2.Release(); s3.Release();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LeakStorage(int length) => _ = CpuBackend.Instance.Allocate(DType.Float32, length);

    [Fact]
    public void StorageReturnedByTheFinalizerRejoinsThePoolAtTheNextAllocation()
    {
        const int length = 77_777; // a bucket no other test uses
        GC.Collect(); GC.WaitForPendingFinalizers();
        CpuBackend.Instance.EmptyCache(); // also drains earlier orphans
        LeakStorage(length);
        GC.Collect(); GC.WaitForPendingFinalizers();
        Assert.True(HostPool.PendingOrphans > 0, "the finalizer queued the array");
        long fresh = HostPool.FreshArrays;
        var s = CpuBackend.Instance.Allocate(DType.Float32, length); // drains the queue first, then reuses the array
        Assert.Equal(0, HostPool.PendingOrphans);
        Assert.Equal(fresh, HostPool.FreshArrays);
        Assert.Equal(0, HostPool.CachedBytes); // the orphan went to the list and straight back out
        s.Release();
    }

    [Fact]
    public void TheCacheStaysWithinItsBoundAndEmptyCacheDropsIt()
    {
        var be = CpuBackend.Instance;
        long savedCap = HostPool.MaxCachedBytes;
        try
        {
            be.EmptyCache();
            HostPool.MaxCachedBytes = 1 << 20;
            var storages = Enumerable.Range(0, 8).Select(_ => be.Allocate(DType.Float32, 100_000)).ToList(); // 8 × 400 KB
            foreach (var s in storages) s.Release();
            Assert.InRange(be.CachedBytes, 1, 1 << 20);
            be.EmptyCache();
            Assert.Equal(0, be.CachedBytes);
        }
        finally { HostPool.MaxCachedBytes = savedCap; }
    }

    [Fact]
    public void AWarmTrainingStepTakesEveryArrayFromThePool()
    {
        var d = Device.Cpu;
        var gen = new Generator(1);
        using var net = new Sequential(
            new MultiStep(new Flatten(1), new Linear(64, 48, gen: gen, device: d)),
            new Lif(device: d),
            new MultiStep(new Linear(48, 10, gen: gen, device: d)));
        using var opt = new Adam(net.NamedParameters(), lr: 1e-3f);
        var hx = BackendHarness.RandF(16 * 64, 3, 0f, 1f);
        var hy = Enumerable.Range(0, 16).Select(i => i % 10).ToArray();
        void Step()
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(hx, new[] { 16, 1, 8, 8 }, d);
            var y = Tensor.FromArray(hy, null, d);
            net.ResetState();
            var logits = net.Forward(SpikeSharp.Data.Encoders.Direct(x, 4)).Mean(0);
            var loss = Tensor.CrossEntropy(logits, y);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
        for (int i = 0; i < 3; i++) Step();
        long fresh = HostPool.FreshArrays, live = be().AllocatedBytes;
        for (int i = 0; i < 10; i++) Step();
        Assert.Equal(fresh, HostPool.FreshArrays);
        Assert.Equal(live, be().AllocatedBytes); // nothing held on between steps either
        static CpuBackend be() => CpuBackend.Instance;
    }
}
