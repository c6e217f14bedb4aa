using ILGPU;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// float32 ↔ float16 conversions on raw bits, usable inside kernels. Rounds to nearest even like
/// System.Half and the GPU's cvt.rn, also on ILGPU's CPU accelerator (whose ILGPU.Half conversion
/// truncates), so float16 storage gives the same bits on every backend.
/// </summary>
public static class HalfBits
{
    /// <summary>The float16 bit pattern nearest to <paramref name="f"/> (ties to even; NaN stays NaN).</summary>
    public static ushort FromFloat(float f)
    {
        uint x = Interop.FloatAsInt(f);
        uint sign = (x >> 16) & 0x8000u;
        uint ax = x & 0x7FFFFFFFu;
        if (ax >= 0x7F800000u)
            return (ushort)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u | ((ax >> 13) & 0x3FFu) : 0u));
        if (ax >= 0x477FF000u) return (ushort)(sign | 0x7C00u); // rounds past 65504
        if (ax < 0x38800000u)
        {
            // Subnormal result: value = m·2^(e−150), in units of 2^−24 that is m >> (126 − e).
            int e = (int)(ax >> 23);
            if (e < 102) return (ushort)sign;
            uint m = (ax & 0x7FFFFFu) | 0x800000u;
            int s = 126 - e;
            uint r = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1);
            if (rem > half || (rem == half && (r & 1u) != 0u)) r++;
            return (ushort)(sign | r);
        }
        uint h = (ax - 0x38000000u) >> 13, low = ax & 0x1FFFu;
        if (low > 0x1000u || (low == 0x1000u && (h & 1u) != 0u)) h++;
        return (ushort)(sign | h);
    }

    /// <summary>The float32 value of float16 bits (exact).</summary>
    public static float ToFloat(ushort h)
    {
        uint sign = (uint)(h & 0x8000) << 16;
        uint e = (uint)(h >> 10) & 0x1Fu, m = (uint)h & 0x3FFu;
        if (e == 0x1Fu) return Interop.IntAsFloat(sign | 0x7F800000u | (m << 13));
        if (e != 0) return Interop.IntAsFloat(sign | ((e + 112u) << 23) | (m << 13));
        // Subnormal or zero: m·2^−24, exact in float32.
        float v = m * (1f / 16777216f);
        return sign != 0 ? -v : v;
    }
}
