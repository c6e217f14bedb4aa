using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>The caching allocator's policy on fake device memory (sizes, pools, splitting, merging, best fit, the
/// out-of-memory retry) and the ILGPU allocator on the emulated device.</summary>
public class CachingAllocatorTests
{
    private const long MiB = 1L << 20;

    private sealed class FakeSegment(long bytes)
    {
        public long Bytes { get; } = bytes;
        public bool Freed { get; set; }
    }

    // A device of `capacity` bytes that counts its driver calls.
    private sealed class FakeDevice(long capacity)
    {
        public readonly List<FakeSegment> Live = new();
        public int Allocations, Frees;
        public long Used => Live.Sum(s => s.Bytes);

        public CachingBlockAllocator<FakeSegment> Allocator() => new(Allocate, Free);

        private FakeSegment Allocate(long bytes)
        {
            if (Used + bytes > capacity) throw new OutOfMemoryException($"fake device: {bytes} bytes do not fit");
            Allocations++;
            var s = new FakeSegment(bytes);
            Live.Add(s);
            return s;
        }

        private void Free(FakeSegment s)
        {
            Assert.False(s.Freed, "a segment freed twice");
            s.Freed = true;
            Live.Remove(s);
            Frees++;
        }
    }

    [Fact]
    public void RequestsRoundTo512AndPickTheirPoolsSegment()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var tiny = a.Rent(1);
        Assert.Equal(512, tiny.Size);
        Assert.Equal(2 * MiB, tiny.Segment.Bytes); // small pool
        var mid = a.Rent(MiB + 1);
        Assert.Equal(MiB + 512, mid.Size);
        Assert.Equal(20 * MiB, mid.Segment.Bytes); // large pool, shared segment
        var fits = a.Rent(12 * MiB + 1); // the 20 MiB segment's free tail serves it
        Assert.Same(mid.Segment, fits.Segment);
        var big = a.Rent(12 * MiB + 1);
        Assert.Equal(14 * MiB, big.Segment.Bytes); // its own segment, rounded to 2 MiB
        Assert.Equal(12 * MiB + 512, big.Size); // the 2 MiB tail is split off for later requests
        Assert.Equal(3, a.Segments);
        Assert.Equal(36 * MiB, a.ReservedBytes);
        Assert.Equal(512 + MiB + 512 + 2 * (12 * MiB + 512), a.AllocatedBytes);
        Assert.Equal(a.ReservedBytes - a.AllocatedBytes, a.CachedBytes);
    }

    [Fact]
    public void FreedBlocksMergeAndServeOtherSizesWithoutTheDriver()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var x = a.Rent(3 * MiB);
        var y = a.Rent(5 * MiB);
        Assert.Same(x.Segment, y.Segment); // split from one 20 MiB segment
        Assert.Equal(3 * MiB, y.Offset);
        a.Return(x);
        a.Return(y);
        Assert.Equal(0, a.AllocatedBytes);
        Assert.Equal(20 * MiB, a.CachedBytes);
        var z = a.Rent(15 * MiB); // the merged 20 MiB block, split again
        Assert.Same(x.Segment, z.Segment);
        Assert.Equal(0, z.Offset);
        Assert.Equal(1, dev.Allocations);
        a.Return(z);
        Assert.Equal(20 * MiB, a.EmptyCache());
        Assert.Equal(0, a.ReservedBytes);
        Assert.Equal(1, dev.Frees);
    }

    [Fact]
    public void AFreedMiddleBlockMergesWithBothNeighbours()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var b = new[] { a.Rent(1000), a.Rent(2000), a.Rent(3000), a.Rent(4000) };
        Assert.All(b, x => Assert.Same(b[0].Segment, x.Segment));
        Assert.Equal(new long[] { 0, 1024, 3072, 6144 }, b.Select(x => x.Offset));
        a.Return(b[0]);
        a.Return(b[2]);
        Assert.Equal(0, a.EmptyCache()); // the segment is still partly in use
        a.Return(b[1]); // joins b[0] and b[2], then b[3] leaves the last free neighbour
        a.Return(b[3]);
        Assert.Equal(2 * MiB, a.EmptyCache()); // one free block spans the segment again
        Assert.Equal(1, dev.Frees);
    }

    [Fact]
    public void TheSmallestFreeBlockThatFitsIsChosen()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var four = a.Rent(4 * MiB);
        var keep1 = a.Rent(2 * MiB);
        var two = a.Rent(2 * MiB);
        var keep2 = a.Rent(2 * MiB);
        a.Return(four);
        a.Return(two); // free: 4 MiB at 0, 2 MiB at 6 MiB, 10 MiB tail at 10 MiB
        var pick = a.Rent(MiB + MiB / 2);
        Assert.Equal(6 * MiB, pick.Offset);
        Assert.Equal(2 * MiB, pick.Size); // 0.5 MiB would remain: large blocks are not split that finely
        var next = a.Rent(3 * MiB);
        Assert.Equal(0, next.Offset);
        Assert.Equal(4 * MiB, next.Size);
        Assert.Equal(1, dev.Allocations);
        foreach (var blk in new[] { keep1, keep2, pick, next }) a.Return(blk);
    }

    [Fact]
    public void OutOfMemoryFreesTheCacheRetriesOnceAndLeavesTheAllocatorUsable()
    {
        var dev = new FakeDevice(30 * MiB);
        var a = dev.Allocator();
        a.Return(a.Rent(3 * MiB)); // a cached 20 MiB segment
        var big = a.Rent(25 * MiB); // 26 MiB fits only once the cache went back to the driver
        Assert.Equal(26 * MiB, a.ReservedBytes);
        Assert.Equal(1, dev.Frees);
        var e = Assert.Throws<OutOfMemoryException>(() => a.Rent(10 * MiB));
        Assert.Contains("fake device", e.Message);
        Assert.Equal(26 * MiB, a.AllocatedBytes); // unchanged by the failure (1 MiB left is not split off)
        Assert.Equal(1, a.RentedBlocks);
        a.Return(big);
        var again = a.Rent(10 * MiB); // served from the cache
        Assert.Same(big.Segment, again.Segment);
        a.Return(again);
    }

    [Fact]
    public void ReturningABlockTwiceOrAForeignOneIsRefused()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var x = a.Rent(100);
        a.Return(x);
        Expect.Throws<InvalidOperationException>(() => a.Return(x), "not rented from this allocator", "returned twice");
        var other = dev.Allocator().Rent(100);
        Expect.Throws<InvalidOperationException>(() => a.Return(other), "not rented from this allocator");
        Assert.Equal(0, a.AllocatedBytes);
    }

    [Fact]
    public void PeaksFollowTheHighWaterMarksUntilReset()
    {
        var a = new FakeDevice(1L << 40).Allocator();
        var x = a.Rent(5 * MiB);
        var y = a.Rent(MiB);
        a.Return(x);
        Assert.Equal(6 * MiB, a.PeakBytes);
        Assert.Equal(22 * MiB, a.PeakReservedBytes);
        a.ResetPeak();
        Assert.Equal(MiB, a.PeakBytes);
        a.Return(y);
        a.EmptyCache();
        Assert.Equal(22 * MiB, a.PeakReservedBytes);
        Assert.Equal(0, a.ReservedBytes);
    }

    [Fact]
    public void RandomTrafficKeepsTheBookkeepingExact()
    {
        var dev = new FakeDevice(1L << 40);
        var a = dev.Allocator();
        var r = new Random(7);
        var live = new List<CachingBlockAllocator<FakeSegment>.Block>();
        for (int i = 0; i < 4000; i++)
        {
            if (live.Count > 0 && r.NextDouble() < 0.45)
            {
                int k = r.Next(live.Count);
                a.Return(live[k]);
                live.RemoveAt(k);
            }
            else
            {
                long bytes = r.NextDouble() < 0.7 ? r.Next(1, 300_000) : r.Next(1, 24 << 20);
                var b = a.Rent(bytes);
                Assert.True(b.Size >= bytes && b.Offset % 512 == 0 && b.Offset + b.Size <= b.Segment.Bytes);
                live.Add(b);
            }
            if (i % 500 == 0) a.EmptyCache();
            Assert.Equal(live.Sum(b => b.Size), a.AllocatedBytes);
            Assert.Equal(dev.Used, a.ReservedBytes);
        }
        // No two live blocks overlap.
        foreach (var seg in live.GroupBy(b => b.Segment))
        {
            var sorted = seg.OrderBy(b => b.Offset).ToList();
            for (int j = 1; j < sorted.Count; j++)
                Assert.True(sorted[j - 1].Offset + sorted[j - 1].Size <= sorted[j].Offset, "overlapping blocks");
        }
        foreach (var b in live) a.Return(b);
        a.EmptyCache();
        Assert.Equal(0, a.ReservedBytes);
        Assert.Empty(dev.Live);
        Assert.Equal(dev.Allocations, dev.Frees);
    }

    [Fact]
    public void IlgpuBlocksOfOneSegmentHoldTheirOwnData()
    {
        var backend = (IlgpuBackend)BackendRegistry.Get(Device.IlgpuCpu);
        var allocator = new IlgpuAllocator(backend.Accelerator, () => { });
        var storages = Enumerable.Range(1, 5)
            .Select(i => new IlgpuStorage(backend, allocator, DType.Float32, 100 * i)).ToList();
        Assert.Equal(1, allocator.Segments);
        for (int i = 0; i < storages.Count; i++)
            backend.Upload<float>(Enumerable.Repeat((float)i, storages[i].Length).ToArray(),
                new Buf(storages[i], 0, storages[i].Length));
        storages[1].Release();
        storages[3].Release();
        // A different size lands in a freed place and leaves the neighbours intact.
        var reused = new IlgpuStorage(backend, allocator, DType.Int32, 150);
        backend.Upload<int>(Enumerable.Repeat(-1, 150).ToArray(), new Buf(reused, 0, 150));
        foreach (int i in new[] { 0, 2, 4 })
        {
            var back = new float[storages[i].Length];
            backend.Download<float>(new Buf(storages[i], 0, back.Length), back);
            Assert.All(back, v => Assert.Equal(i, v));
        }
        Assert.Equal(1, allocator.Segments);
        reused.Release();
        foreach (int i in new[] { 0, 2, 4 }) storages[i].Release();
        Assert.Equal(0, allocator.AllocatedBytes);
        allocator.EmptyCache();
        Assert.Equal(0, allocator.ReservedBytes);
    }

    [Fact]
    public void AnIlgpuRequestThatCannotFitNamesTheOpAndStaysUsable()
    {
        var backend = (IlgpuBackend)BackendRegistry.Get(Device.IlgpuCpu);
        var allocator = new IlgpuAllocator(backend.Accelerator, () => { });
        var held = allocator.Rent(1000);
        OutOfMemoryException e;
        using (MemoryProfile.Label("conv2d.backward"))
            e = Assert.Throws<OutOfMemoryException>(() => allocator.Rent(1L << 60));
        Assert.Contains("out of device memory in conv2d.backward", e.Message);
        Assert.Contains($"asked for {1L << 60} bytes", e.Message);
        Assert.Contains("live tensors hold 0.0 MiB", e.Message);
        Assert.Contains("smaller batch", e.Message);
        Assert.Contains("--precision", e.Message);
        Assert.Equal(1024, allocator.AllocatedBytes);
        allocator.Return(held);
        allocator.Return(allocator.Rent(5000)); // still usable
        allocator.EmptyCache();
        Assert.Equal(0, allocator.ReservedBytes);
    }
}
