namespace SpikeSharp.Kernels;

/// <summary>
/// Counter-based random numbers: element i of a draw is a pure function of (seed, offset + i), so the
/// CPU and every GPU produce the same numbers for the same seed, in any launch shape.
/// </summary>
public static class Rng
{
    /// <summary>A 32-bit hash of (key, counter) with good avalanche (three multiply-xorshift rounds).</summary>
    public static uint Hash(uint keyLo, uint keyHi, uint counter)
    {
        uint h = counter * 0x9E3779B1u ^ keyLo;
        h ^= h >> 16; h *= 0x85EBCA6Bu;
        h ^= keyHi; h ^= h >> 13; h *= 0xC2B2AE35u;
        h ^= h >> 16; h *= 0x27D4EB2Fu; h ^= h >> 15;
        return h;
    }

    /// <summary>Uniform in [0, 1) from 24 random bits.</summary>
    public static float Uniform(uint keyLo, uint keyHi, uint counter) =>
        (Hash(keyLo, keyHi, counter) >> 8) * (1f / 16777216f);
}

/// <summary>y = uniform in [lo, hi).</summary>
public struct UniformOp : IIndexedOp
{
    public uint KeyLo, KeyHi, Offset; public float Lo, Hi;
    public readonly float Apply(int i, float x) => Lo + (Hi - Lo) * Rng.Uniform(KeyLo, KeyHi, Offset + (uint)i);
}

/// <summary>
/// y = standard normal · std + mean (Box–Muller on two counters per element): element i reads counters
/// Offset + 2i and Offset + 2i + 1, so a draw of n elements consumes [Offset, Offset + 2n).
/// </summary>
public struct NormalOp : IIndexedOp
{
    public uint KeyLo, KeyHi, Offset; public float Mean, Std;
    public readonly float Apply(int i, float x)
    {
        uint c = Offset + 2u * (uint)i;
        float u1 = Rng.Uniform(KeyLo, KeyHi, c) + (1f / 33554432f);
        float u2 = Rng.Uniform(KeyLo, KeyHi, c + 1u);
        return Mean + Std * MathF.Sqrt(-2f * MathF.Log(u1)) * MathF.Cos(6.28318530718f * u2);
    }
}

/// <summary>y = 1 with probability x (clamped to [0, 1]), else 0.</summary>
public struct BernoulliOp : IIndexedOp
{
    public uint KeyLo, KeyHi, Offset;
    public readonly float Apply(int i, float p) => Rng.Uniform(KeyLo, KeyHi, Offset + (uint)i) < p ? 1f : 0f;
}
