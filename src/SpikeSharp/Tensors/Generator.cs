using SpikeSharp.Kernels;

namespace SpikeSharp;

/// <summary>
/// A seeded source of random tensors. Draws are counter-based (see <see cref="Rng"/>): the same seed gives
/// the same numbers on every device. Each draw consumes a fresh range of counters (one per element for
/// uniform and Bernoulli draws, two for normal draws), so no two draws of one generator share a counter.
/// </summary>
public sealed class Generator
{
    // Counters form 2^32-long blocks; block b hashes with its own key, so one draw (at most 2^32 counters)
    // stays in one block and the 64-bit offset never repeats a (key, counter) pair.
    private const ulong BlockSize = 1UL << 32;
    private ulong _seed;
    private ulong _offset;

    /// <summary>Creates a generator with a seed.</summary>
    public Generator(ulong seed) => _seed = seed;

    /// <summary>The process default (seed 0 unless <see cref="ManualSeed"/> is called).</summary>
    public static Generator Default { get; } = new(0);

    /// <summary>Current seed.</summary>
    public ulong Seed => _seed;

    /// <summary>
    /// Counters consumed since the seed was set. Together with <see cref="Seed"/> it is the whole state of the
    /// generator: save both to checkpoint a run's random stream, set both to resume it.
    /// </summary>
    public ulong Offset
    {
        get { lock (this) return _offset; }
        set { lock (this) _offset = value; }
    }

    /// <summary>Restarts the stream from a seed.</summary>
    public void ManualSeed(ulong seed)
    {
        lock (this) { _seed = seed; _offset = 0; }
    }

    /// <summary>Reserves <paramref name="count"/> consecutive counters: the key of their block and the first.</summary>
    internal (uint lo, uint hi, uint off) Take(long count)
    {
        if (count < 0 || (ulong)count > BlockSize)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"random draw: counters must be in [0, 2^32], got {count}");
        lock (this)
        {
            ulong block = _offset / BlockSize, first = _offset % BlockSize;
            if (first + (ulong)count > BlockSize) { block++; first = 0; }
            _offset = block * BlockSize + first + (ulong)count;
            ulong key = BlockKey(_seed, block);
            return ((uint)key, (uint)(key >> 32), (uint)first);
        }
    }

    // Block 0 uses the seed itself; later blocks a SplitMix64 mix of (seed, block).
    private static ulong BlockKey(ulong seed, ulong block)
    {
        if (block == 0) return seed;
        ulong z = seed + block * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
