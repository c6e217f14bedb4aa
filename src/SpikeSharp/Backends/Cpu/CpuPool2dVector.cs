using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// The 2×2 stride-2 max pool of <see cref="CpuPool2d"/> eight outputs per instruction: the two input rows are split
/// into their even and odd columns (the window's four taps), then <see cref="PoolMath.MaxValue"/> and
/// <see cref="PoolMath.Beats"/> are applied lane by lane in tap order, so value and argmax equal the scalar loop's
/// bit for bit (NaN and ties included). Branch-free: on spike inputs the scalar comparisons mispredict often.
/// </summary>
internal static class CpuPool2dVector
{
    /// <summary>Whether the vector row runs on this machine.</summary>
    public static bool Enabled => Avx2.IsSupported;

    /// <summary>
    /// One output row of a 2×2 stride-2 unpadded max pool: y[ow] and arg[ow] (when not empty) from input rows r0 and
    /// r1 (at least 2·y.Length values each). Returns how many outputs it wrote from the start: all of them when
    /// there are at least 8 (the last block overlaps the one before and rewrites equal values), else none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // tier-0 vector code is many times slower
    public static int Max2x2Row(ReadOnlySpan<float> r0, ReadOnlySpan<float> r1, Span<float> y, Span<byte> arg)
    {
        int wo = y.Length;
        if (!Enabled || wo < 8 || r0.Length < 2 * wo || r1.Length < 2 * wo) return 0;
        ref float p0 = ref MemoryMarshal.GetReference(r0);
        ref float p1 = ref MemoryMarshal.GetReference(r1);
        ref float py = ref MemoryMarshal.GetReference(y);
        Span<int> taps = stackalloc int[8];
        var one = Vector256.Create(1); var two = Vector256.Create(2); var three = Vector256.Create(3);
        for (int ow = 0; ; ow += 8)
        {
            if (ow > wo - 8) ow = wo - 8;
            int iw = 2 * ow;
            var a0 = Vector256.LoadUnsafe(ref p0, (nuint)iw); var a1 = Vector256.LoadUnsafe(ref p0, (nuint)(iw + 8));
            var b0 = Vector256.LoadUnsafe(ref p1, (nuint)iw); var b1 = Vector256.LoadUnsafe(ref p1, (nuint)(iw + 8));
            // Taps 0..3 of the eight windows: (top, left), (top, right), (bottom, left), (bottom, right).
            Vector256<float> v0 = Even(a0, a1), v1 = Odd(a0, a1), v2 = Even(b0, b1), v3 = Odd(b0, b1);
            // MaxValue(−∞, v0) is v0; the argmax starts at tap 0 with value v0.
            Vector256<float> best = v0, first = v0;
            var at = Vector256<int>.Zero;
            Take(v1, one, ref first, ref at, ref best);
            Take(v2, two, ref first, ref at, ref best);
            Take(v3, three, ref first, ref at, ref best);
            best.StoreUnsafe(ref py, (nuint)ow);
            if (!arg.IsEmpty)
            {
                at.CopyTo(taps);
                for (int k = 0; k < 8; k++) arg[ow + k] = (byte)taps[k];
            }
            if (ow == wo - 8) return wo;
        }
    }

    // PoolMath.Beats and PoolMath.MaxValue lane by lane: v beats first when larger, or NaN over a number; the
    // running maximum keeps best only when best > v.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(Vector256<float> v, Vector256<int> tap, ref Vector256<float> first,
        ref Vector256<int> at, ref Vector256<float> best)
    {
        var vNaN = ~Vector256.Equals(v, v);
        var firstNaN = ~Vector256.Equals(first, first);
        var beats = Vector256.GreaterThan(v, first) | Vector256.AndNot(vNaN, firstNaN);
        first = Vector256.ConditionalSelect(beats, v, first);
        at = Vector256.ConditionalSelect(beats.AsInt32(), tap, at);
        best = Vector256.ConditionalSelect(Vector256.GreaterThan(best, v), best, v);
    }

    // Columns 0, 2, …, 14 of the 16 values a‖b (shuffle within 128-bit lanes, then order the 64-bit pairs).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Even(Vector256<float> a, Vector256<float> b) =>
        Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();

    // Columns 1, 3, …, 15 of a‖b.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Odd(Vector256<float> a, Vector256<float> b) =>
        Avx2.Permute4x64(Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
}
