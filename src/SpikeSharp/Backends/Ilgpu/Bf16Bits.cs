using ILGPU;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// bfloat16 on raw bits (the upper half of a float32), usable inside kernels and on the host, so the split
/// kernels give the same bits on ILGPU's CPU emulation, on CUDA and in the host reference of the tests.
/// </summary>
/// <remarks>
/// <para>The exact split: any finite float32 w is w₁ + w₂ + w₃ with w₁ = bf16(w), w₂ = bf16(w − w₁),
/// w₃ = bf16(w − w₁ − w₂) (round to nearest even). Each subtraction is exact (the operands are within a
/// factor of two of each other, Sterbenz), w − w₁ has at most 16 significant bits and w − w₁ − w₂ at
/// most 8, so w₃ takes the rest without rounding: 3 × 8 significand bits cover float32's 24. A product of a
/// bfloat16 with an exactly representable value such as a spike (0 or 1) is exact, so Σᵢ s·wᵢ computed with
/// float32 accumulation equals s·w up to the order of the additions.</para>
/// <para>Limits: the remainders must be representable in bfloat16, whose smallest subnormal is 2⁻¹³³. The split is
/// exact for |w| ≥ 2⁻¹¹⁰ (about 7.7e-34) and zero; below that, bits finer than 2⁻¹³³ are rounded away
/// (absolute error ≤ 2⁻¹³⁴ ≈ 4.6e-41 per element; every float32 subnormal is below that range). A finite w
/// whose rounding would overflow to infinity (|w| ≥ 3.3961776e38) is truncated for w₁ instead, so the split stays
/// exact. Infinity and NaN give w₁ = w, w₂ = w₃ = +0, so products keep float32's infinity/NaN behaviour. −0
/// splits into −0, +0, +0.</para>
/// </remarks>
internal static class Bf16Bits
{
    /// <summary>The bfloat16 nearest to <paramref name="f"/> (ties to even), as bits; NaN stays a (quiet) NaN,
    /// finite values past the largest bfloat16 become infinity as in IEEE rounding.</summary>
    public static ushort FromFloat(float f)
    {
        uint x = Interop.FloatAsInt(f);
        if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((x >> 16) | 0x0040u);
        return (ushort)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
    }

    /// <summary>The float32 value of bfloat16 bits (exact).</summary>
    public static float ToFloat(ushort h) => Interop.IntAsFloat((uint)h << 16);

    /// <summary>Part <paramref name="part"/> (0, 1 or 2) of the exact three-way split of <paramref name="w"/>
    /// (see the class remarks), as bfloat16 bits.</summary>
    public static ushort SplitPart(float w, int part) => (ushort)(Split(w) >> (16 * part));

    /// <summary>
    /// The exact split w = w₁ + w₂ + w₃ (see the class remarks) as bfloat16 bits packed into one value:
    /// w₁ in bits 0–15, w₂ in 16–31, w₃ in 32–47 (a plain integer, so kernels need no out parameters).
    /// </summary>
    public static ulong Split(float w)
    {
        uint x = Interop.FloatAsInt(w);
        ushort h1 = FromFloat(w);
        // Infinity or NaN: the first part carries it, the others must not add inf − inf = NaN.
        if ((x & 0x7F800000u) == 0x7F800000u) return h1;
        // Rounding up past the largest bfloat16 gives infinity: truncate instead (the remainder keeps the sign
        // of w and still has at most 16 significant bits).
        if ((h1 & 0x7F80) == 0x7F80) h1 = (ushort)(x >> 16);
        float r1 = w - ToFloat(h1);
        ushort h2 = FromFloat(r1);
        float r2 = r1 - ToFloat(h2);
        ushort h3 = FromFloat(r2);
        return h1 | ((ulong)h2 << 16) | ((ulong)h3 << 32);
    }
}
