using SpikeSharp.Kernels;

namespace SpikeSharp;

/// <summary>
/// A seeded source of random tensors. Draws are counter-based (see <see cref="Rng"/>): the same seed gives
/// the same numbers on every device; each draw advances the counter by the number of elements.
/// </summary>
public sealed class Generator
{
    private ulong _seed;
    private uint _offset;

    /// <summary>Creates a generator with a seed.</summary>
    public Generator(ulong seed) => _seed = seed;

    /// <summary>The process default (seed 0 unless <see cref="ManualSeed"/> is called).</summary>
    public static Generator Default { get; } = new(0);

    /// <summary>Current seed.</summary>
    public ulong Seed => _seed;

    /// <summary>Elements drawn since the seed was set (for checkpointing a run's random state).</summary>
    public uint Offset { get => _offset; set => _offset = value; }

    /// <summary>Restarts the stream from a seed.</summary>
    public void ManualSeed(ulong seed) { _seed = seed; _offset = 0; }

    internal (uint lo, uint hi, uint off) Take(int count)
    {
        lock (this)
        {
            uint off = _offset;
            if ((ulong)off + (uint)count > uint.MaxValue)
            {
                // Counter space exhausted: move to a derived key so streams never repeat.
                _seed = _seed * 6364136223846793005UL + 1442695040888963407UL;
                off = 0;
            }
            _offset = off + (uint)count;
            return ((uint)_seed, (uint)(_seed >> 32), off);
        }
    }
}
