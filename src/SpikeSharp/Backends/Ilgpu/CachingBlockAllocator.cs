namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// The policy of the caching device allocator, apart from any device so it can be tested with fake memory.
/// Segments are obtained from the driver and cut into blocks; a freed block is merged with free neighbours of its
/// segment and handed out again, whole or split, to any later request it fits (best fit: the smallest free block
/// that is large enough, then the lowest address). This is the scheme of PyTorch's CUDA caching allocator:
/// sizes round up to 512 bytes; requests up to 1 MiB come from a small pool of 2 MiB segments, larger ones from a
/// large pool whose segments are 20 MiB for requests under 10 MiB and the request rounded up to 2 MiB otherwise;
/// a large-pool block is split only when more than 1 MiB would remain, so small leftovers do not fragment it.
/// Not thread-safe: <see cref="IlgpuAllocator"/> locks around it.
/// </summary>
/// <typeparam name="TSegment">The driver's allocation (an ILGPU buffer, or a fake in tests).</typeparam>
public sealed class CachingBlockAllocator<TSegment> where TSegment : class
{
    /// <summary>Sizes are multiples of this (and so are offsets: every block is 512-byte aligned).</summary>
    public const long MinBlock = 512;
    /// <summary>Largest request served from the small pool.</summary>
    public const long SmallRequest = 1L << 20;
    /// <summary>Segment size of the small pool.</summary>
    public const long SmallSegment = 2L << 20;
    /// <summary>Segment size of the large pool for requests below <see cref="MinLargeAlloc"/>.</summary>
    public const long LargeSegment = 20L << 20;
    /// <summary>Requests from this size up get a segment of their own size rounded up to <see cref="RoundLarge"/>.
    /// </summary>
    public const long MinLargeAlloc = 10L << 20;
    /// <summary>Rounding of segments of large requests.</summary>
    public const long RoundLarge = 2L << 20;

    private readonly Func<long, TSegment> _allocate;
    private readonly Action<TSegment> _free;
    private readonly SortedSet<Block> _smallFree = new(BySize.Instance);
    private readonly SortedSet<Block> _largeFree = new(BySize.Instance);
    private readonly HashSet<Block> _rented = new(ReferenceEqualityComparer.Instance);
    private long _nextSegmentId;

    /// <summary>Creates the policy over a driver.</summary>
    /// <param name="allocate">Obtains a segment of the given bytes; throws <see cref="OutOfMemoryException"/> (or
    /// the driver's error, which the caller maps) when the device has no room.</param>
    /// <param name="free">Returns a segment to the driver.</param>
    public CachingBlockAllocator(Func<long, TSegment> allocate, Action<TSegment> free)
    {
        _allocate = allocate;
        _free = free;
    }

    /// <summary>Bytes of the blocks handed out (rounded sizes).</summary>
    public long AllocatedBytes { get; private set; }
    /// <summary>Bytes of free blocks inside segments, ready for reuse.</summary>
    public long CachedBytes => ReservedBytes - AllocatedBytes;
    /// <summary>Bytes of segments obtained from the driver.</summary>
    public long ReservedBytes { get; private set; }
    /// <summary>Highest <see cref="AllocatedBytes"/> since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakBytes { get; private set; }
    /// <summary>Highest <see cref="ReservedBytes"/> since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakReservedBytes { get; private set; }
    /// <summary>Segments held.</summary>
    public int Segments { get; private set; }
    /// <summary>Blocks handed out.</summary>
    public int RentedBlocks => _rented.Count;

    /// <summary>Restarts the peaks from the current values.</summary>
    public void ResetPeak()
    {
        PeakBytes = AllocatedBytes;
        PeakReservedBytes = ReservedBytes;
    }

    /// <summary>The block size a request of <paramref name="bytes"/> takes (a multiple of 512, at least 512).
    /// </summary>
    public static long RoundSize(long bytes) =>
        bytes <= MinBlock ? MinBlock : (bytes + MinBlock - 1) / MinBlock * MinBlock;

    /// <summary>The segment a request that no cached block fits makes the allocator obtain.</summary>
    public static long SegmentSize(long rounded) =>
        rounded <= SmallRequest ? SmallSegment
        : rounded < MinLargeAlloc ? LargeSegment
        : (rounded + RoundLarge - 1) / RoundLarge * RoundLarge;

    /// <summary>A block of at least <paramref name="bytes"/> bytes: a cached one when one fits, else from a new
    /// segment. When the driver fails, the cache is returned to it and the allocation tried once more; if that fails
    /// too the driver's exception propagates and the allocator is unchanged (still usable).</summary>
    public Block Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long size = RoundSize(bytes);
        bool small = size <= SmallRequest;
        var pool = small ? _smallFree : _largeFree;
        var block = BestFit(pool, size);
        if (block == null)
        {
            long segment = SegmentSize(size);
            TSegment mem;
            try { mem = _allocate(segment); }
            catch (Exception)
            {
                EmptyCache();
                mem = _allocate(segment);
            }
            block = new Block(mem, _nextSegmentId++, 0, segment, small);
            ReservedBytes += segment;
            Segments++;
            if (ReservedBytes > PeakReservedBytes) PeakReservedBytes = ReservedBytes;
        }
        else pool.Remove(block);
        Split(block, size, pool);
        block.IsFree = false;
        _rented.Add(block);
        AllocatedBytes += block.Size;
        if (AllocatedBytes > PeakBytes) PeakBytes = AllocatedBytes;
        return block;
    }

    /// <summary>Takes a block back and merges it with the free blocks beside it in its segment.</summary>
    /// <exception cref="InvalidOperationException">The block is not out from this allocator.</exception>
    public void Return(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (!_rented.Remove(block))
            throw new InvalidOperationException(
                "IlgpuAllocator.Return: the block was not rented from this allocator or was returned twice");
        AllocatedBytes -= block.Size;
        block.IsFree = true;
        var pool = block.Small ? _smallFree : _largeFree;
        if (block.Prev is { IsFree: true } prev)
        {
            pool.Remove(prev);
            prev.Size += block.Size;
            prev.Next = block.Next;
            if (block.Next != null) block.Next.Prev = prev;
            block = prev;
        }
        if (block.Next is { IsFree: true } next)
        {
            pool.Remove(next);
            block.Size += next.Size;
            block.Next = next.Next;
            if (next.Next != null) next.Next.Prev = block;
        }
        pool.Add(block);
    }

    /// <summary>Returns every wholly free segment to the driver; returns the bytes released.</summary>
    public long EmptyCache()
    {
        long released = 0;
        foreach (var pool in new[] { _smallFree, _largeFree })
        {
            var whole = pool.Where(b => b.Prev == null && b.Next == null).ToList();
            foreach (var b in whole)
            {
                pool.Remove(b);
                _free(b.Segment);
                ReservedBytes -= b.Size;
                Segments--;
                released += b.Size;
            }
        }
        return released;
    }

    private static Block? BestFit(SortedSet<Block> pool, long size)
    {
        if (pool.Count == 0 || pool.Max!.Size < size) return null;
        return pool.GetViewBetween(Block.Probe(size), pool.Max).Min;
    }

    // Cuts the tail off a block when enough would remain: any remainder in the small pool, more than 1 MiB in the
    // large pool (a smaller tail would only serve small requests, which the small pool serves).
    private static void Split(Block block, long size, SortedSet<Block> pool)
    {
        long rest = block.Size - size;
        if (block.Small ? rest < MinBlock : rest <= SmallRequest) return;
        var tail = new Block(block.Segment, block.SegmentId, block.Offset + size, rest, block.Small)
        {
            Prev = block, Next = block.Next, IsFree = true,
        };
        if (block.Next != null) block.Next.Prev = tail;
        block.Next = tail;
        block.Size = size;
        pool.Add(tail);
    }

    /// <summary>A byte range [<see cref="Offset"/>, <see cref="Offset"/> + <see cref="Size"/>) of a segment.
    /// </summary>
    public sealed class Block
    {
        internal Block(TSegment? segment, long segmentId, long offset, long size, bool small)
        {
            Segment = segment!;
            SegmentId = segmentId;
            Offset = offset;
            Size = size;
            Small = small;
        }

        internal static Block Probe(long size) => new(null, -1, -1, size, false);

        /// <summary>The driver allocation the block lies in.</summary>
        public TSegment Segment { get; }
        /// <summary>Start in the segment, bytes (a multiple of 512).</summary>
        public long Offset { get; }
        /// <summary>Bytes (a multiple of 512).</summary>
        public long Size { get; internal set; }
        /// <summary>Whether the block is in the cache.</summary>
        public bool IsFree { get; internal set; }
        internal long SegmentId { get; }
        internal bool Small { get; }
        internal Block? Prev { get; set; }
        internal Block? Next { get; set; }
    }

    // Size, then segment, then offset: the first block at or above a probe (segment −1) is the best fit.
    private sealed class BySize : IComparer<Block>
    {
        public static readonly BySize Instance = new();

        public int Compare(Block? a, Block? b)
        {
            int c = a!.Size.CompareTo(b!.Size);
            if (c != 0) return c;
            c = a.SegmentId.CompareTo(b.SegmentId);
            return c != 0 ? c : a.Offset.CompareTo(b.Offset);
        }
    }
}
