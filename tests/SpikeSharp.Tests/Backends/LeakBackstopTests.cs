using System.Runtime.CompilerServices;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>The finalizer backstop: storage of a tensor nobody disposed goes back to its allocator.</summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)] // counts process-wide leaks: no concurrent tests
public class LeakBackstopTests
{
    private static void FullCollection()
    {
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
    }

    // Not inlined, so no reference to the tensors survives in the caller's frame.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LeakTensors(Device d, int count)
    {
        for (int i = 0; i < count; i++) Tensor.Ones(new[] { 100 }, d);
    }

    [Fact]
    public void ForgottenCpuTensorsAreCountedAndReclaimed()
    {
        FullCollection();
        long before = Storage.ReclaimedLeaks;
        LeakTensors(Device.Cpu, 5);
        FullCollection();
        Assert.Equal(before + 5, Storage.ReclaimedLeaks);
    }

    [Fact]
    public void DisposedAndScopedTensorsAreNotCountedAsLeaks()
    {
        FullCollection();
        long before = Storage.ReclaimedLeaks;
        Make();
        FullCollection();
        Assert.Equal(before, Storage.ReclaimedLeaks);

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void Make()
        {
            Tensor.Ones(new[] { 10 }, Device.Cpu).Dispose();
            using var scope = TensorScope.Begin();
            var a = Tensor.Ones(new[] { 10 }, Device.Cpu);
            var view = a.Reshape(2, 5);     // a second share of the same storage
            _ = view + a.Reshape(2, 5);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LeakStorage(IlgpuBackend backend, IlgpuAllocator allocator) =>
        _ = new IlgpuStorage(backend, allocator, DType.Float32, 1000);

    [Fact]
    public void ForgottenGpuStorageReturnsToItsAllocatorOnTheOwningThread()
    {
        var backend = (IlgpuBackend)BackendRegistry.Get(Device.IlgpuCpu);
        var allocator = new IlgpuAllocator(backend.Accelerator, () => { }); // private: exact byte counts
        long bucket = IlgpuAllocator.BlockSize(4000);
        LeakStorage(backend, allocator);
        Assert.Equal(bucket, allocator.AllocatedBytes);
        FullCollection();
        // The finalizer only queued the block: no lock, no driver call on the finalizer thread.
        Assert.Equal(1, allocator.PendingOrphans);
        Assert.Equal(bucket, allocator.AllocatedBytes);

        // The next allocation on this thread takes it back and reuses it; the block is intact (ILGPU's own
        // finalizer never ran on it, since the allocator holds every block it rents out).
        var again = new IlgpuStorage(backend, allocator, DType.Float32, 1000);
        Assert.Equal(0, allocator.PendingOrphans);
        Assert.Equal(bucket, allocator.AllocatedBytes);
        Assert.Equal(1, allocator.Segments); // reused, not a second segment
        Assert.Equal(2L << 20, allocator.ReservedBytes); // the small pool's segment
        var buf = new Buf(again, 0, 1000);
        var data = Enumerable.Range(0, 1000).Select(i => (float)i).ToArray();
        backend.Upload<float>(data, buf);
        var back = new float[1000];
        backend.Download<float>(buf, back);
        Assert.Equal(data, back);
        again.Release();
        Assert.Equal(0, allocator.AllocatedBytes);
        allocator.EmptyCache();
        Assert.Equal(0, allocator.ReservedBytes);
    }

    [Fact]
    public void ReturningABlockTwiceIsRefused()
    {
        var backend = (IlgpuBackend)BackendRegistry.Get(Device.IlgpuCpu);
        var allocator = new IlgpuAllocator(backend.Accelerator, () => { });
        var block = allocator.Rent(64);
        allocator.Return(block);
        Expect.Throws<InvalidOperationException>(() => allocator.Return(block), "not rented from this allocator",
            "returned twice");
        allocator.EmptyCache();
    }
}
