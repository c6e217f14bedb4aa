using System.Diagnostics;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Neurons;
using SpikeSharp.Nn.Transformer;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// Exact spike GEMMs (Ops/SpikeGemm.cs): the bfloat16 split on the host and in the kernels, the split product
/// against float64, the whole path on the emulated device (its bfloat16 GEMM is a plain kernel there), and the
/// switch with its fallbacks. The cuBLAS product itself needs a GPU (<see cref="CudaFactAttribute"/> tests and the
/// bench's <c>on</c> suite).
/// </summary>
public partial class SpikeGemmTests
{
    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    private static uint B(float f) => BitConverter.SingleToUInt32Bits(f);

    // bfloat16 rounding written independently of Bf16Bits: the nearer of the two neighbours in float64, ties to
    // the even one; past the largest bfloat16 the upper neighbour is 2^128 (infinity).
    private static ushort ReferenceBf16(float f)
    {
        if (float.IsNaN(f)) return (ushort)((B(f) >> 16) | 0x40);
        uint lo = B(f) & 0xFFFF0000u;
        if ((lo & 0x7FFFFFFFu) == 0x7F800000u) return (ushort)(lo >> 16); // infinity
        double v = f, t = F(lo);
        double u = (lo & 0x7FFFFFFFu) == 0x7F7F0000u ? Math.CopySign(Math.Pow(2, 128), v) : F(lo + 0x10000u);
        double dt = Math.Abs(v - t), du = Math.Abs(u - v);
        uint pick = dt < du ? lo : du < dt ? lo + 0x10000u : ((lo >> 16) & 1) == 0 ? lo : lo + 0x10000u;
        return (ushort)(pick >> 16);
    }

    private static float ToF(ushort h) => F((uint)h << 16);

    private static (ushort, ushort, ushort) Parts(float w)
    {
        ulong s = Bf16Bits.Split(w);
        return ((ushort)s, (ushort)(s >> 16), (ushort)(s >> 32));
    }

    // Finite values over the whole exponent range, both signs, full random mantissas; plus the edges.
    private static float[] SplitValues(int count, int seed)
    {
        var r = new Random(seed);
        var list = new List<float>
        {
            0f, -0f, 1f, -1f, 0.1f, -1e-7f, 3.14159274f, 65504f, 1e30f, -1e-30f, float.MaxValue, -float.MaxValue,
            F(0x7F7F8000u), F(0x7F7F7FFFu), F(0xFF7F8000u), F(0x7F7FFFFFu), F(0x00800000u), F(0x80800000u),
            F(0x0A800000u), F(0x0A7FFFFFu), F(0x3F80FFFFu), F(0x3F808000u), F(0x3F818000u), F(0xBF7FFFFFu),
        };
        for (int i = 0; i < count; i++)
        {
            uint exp = (uint)r.Next(1, 255), mant = (uint)r.Next(0, 1 << 23), sign = (uint)r.Next(2) << 31;
            list.Add(F(sign | (exp << 23) | mant));
        }
        return list.ToArray();
    }

    private static readonly float MinExact = MathF.Pow(2, -110);

    [Fact]
    public void FromFloatRoundsToNearestEvenLikeTheReference()
    {
        var values = SplitValues(20000, 1).Concat(new[]
        {
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, F(0x7F800001u), F(0xFFC00001u), float.Epsilon,
            F(0x00010000u), F(0x00018000u), F(0x00008000u), F(0x80008001u),
        }).ToArray();
        foreach (var v in values)
            Assert.True(Bf16Bits.FromFloat(v) == ReferenceBf16(v),
                $"bf16({v:R} = 0x{B(v):X8}): got 0x{Bf16Bits.FromFloat(v):X4}, expected 0x{ReferenceBf16(v):X4}");
        // NaN with only low payload bits stays NaN (naive rounding would carry it into infinity).
        Assert.True(float.IsNaN(ToF(Bf16Bits.FromFloat(F(0x7F800001u)))));
        Assert.Equal(float.PositiveInfinity, ToF(Bf16Bits.FromFloat(F(0x7F7F8000u))));
    }

    [Fact]
    public void SplitIsExactForNormalValuesDownTo2PowMinus110()
    {
        foreach (var w in SplitValues(200000, 2))
        {
            if (MathF.Abs(w) < MinExact && w != 0f) continue;
            var (h1, h2, h3) = Parts(w);
            Assert.True(float.IsFinite(ToF(h1)) && float.IsFinite(ToF(h2)) && float.IsFinite(ToF(h3)),
                $"{w:R}: a part is not finite");
            double sum = (double)ToF(h1) + ToF(h2) + ToF(h3); // exact: 25 bits at most
            Assert.True(sum == w, $"split of {w:R} (0x{B(w):X8}) sums to {sum:R}");
            // The order the GEMMs use (smallest first) gives w back in float32 too.
            float small = ToF(h3) + ToF(h2);
            Assert.True(B(small + ToF(h1)) == B(w) || w == 0f, $"(w3 + w2) + w1 of {w:R} = {small + ToF(h1):R}");
            // Each part is a rounding of what is left, so the parts shrink by about 2^8 (2^7 after a truncation).
            if (h2 != 0) Assert.True(MathF.Abs(ToF(h2)) <= MathF.Abs(w) * MathF.Pow(2, -7), $"{w:R}: w2 too large");
        }
    }

    [Fact]
    public void SplitBelow2PowMinus110LosesAtMost2PowMinus134()
    {
        var r = new Random(3);
        double bound = Math.Pow(2, -134);
        var values = Enumerable.Range(0, 50000)
            .Select(_ => F((uint)r.Next(2) << 31 | (uint)r.Next(0, 17) << 23 | (uint)r.Next(0, 1 << 23)))
            .Append(float.Epsilon).Append(-float.Epsilon).Append(F(0x007FFFFFu)).Append(F(0x0800_0001u)).ToArray();
        bool someInexact = false;
        foreach (var w in values)
        {
            var (h1, h2, h3) = Parts(w);
            double err = Math.Abs((double)ToF(h1) + ToF(h2) + ToF(h3) - w);
            Assert.True(err <= bound, $"split of {w:R} (0x{B(w):X8}) is off by {err:E3} > 2^-134");
            someInexact |= err > 0;
        }
        Assert.True(someInexact, "expected the documented loss below 2^-110 to show up");
        // (1 + 2^-23)·2^-111: the last bit is 2^-134, half the smallest bfloat16 subnormal, rounded to even (to 0).
        var (a, b, c) = Parts(F(0x0800_0001u));
        Assert.Equal(Math.Pow(2, -134), Math.Abs((double)ToF(a) + ToF(b) + ToF(c) - F(0x0800_0001u)));
        // One step up, (1 + 2^-23)·2^-110, is still exact: its last bit is the smallest bfloat16 subnormal.
        (a, b, c) = Parts(F(0x0880_0001u));
        Assert.Equal((double)F(0x0880_0001u), (double)ToF(a) + ToF(b) + ToF(c));
    }

    [Fact]
    public void SplitKeepsInfinityAndNaNInTheFirstPart()
    {
        foreach (var w in new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN })
        {
            var (h1, h2, h3) = Parts(w);
            Assert.Equal(w, ToF(h1)); // NaN equals NaN for Assert.Equal
            Assert.Equal((ushort)0, h2);
            Assert.Equal((ushort)0, h3);
        }
        // Values that would round past the largest bfloat16 are truncated for w1: still finite and exact.
        foreach (var w in new[] { float.MaxValue, F(0x7F7F8000u), -F(0x7F7FC000u) })
        {
            var (h1, h2, h3) = Parts(w);
            Assert.True(float.IsFinite(ToF(h1)));
            Assert.Equal((double)w, (double)ToF(h1) + ToF(h2) + ToF(h3));
        }
    }

    private static float[] KernelValues() => SplitValues(3000, 4).Concat(new[]
    {
        float.PositiveInfinity, float.NegativeInfinity, float.NaN, F(0x7F800001u), float.Epsilon, -float.Epsilon,
        F(0x007FFFFFu), F(0x0800_0001u), F(0x0880_0001u), F(0x00012345u),
    }).ToArray();

    [Fact]
    public void SplitKernelOnIlgpuCpuEqualsTheHostBitForBit()
    {
        var be = (IlgpuBackend)Gpu;
        var w = KernelValues();
        int n = w.Length;
        var src = UpOffset(be, w);
        var expected = new ushort[3 * n];
        for (int i = 0; i < n; i++)
        {
            var (a, b, c) = Parts(w[i]);
            expected[i] = a; expected[n + i] = b; expected[2 * n + i] = c;
        }
        var all = Empty(be, DType.Float16, 3 * n);
        be.SplitBf16(src, all, 0, 3);
        Assert.Equal(expected, Down<ushort>(be, all));
        for (int p = 0; p < 3; p++)
        {
            var one = Empty(be, DType.Float16, n);
            be.SplitBf16(src, one, p, 1);
            Assert.Equal(expected.AsSpan(p * n, n).ToArray(), Down<ushort>(be, one));
        }
        var lastTwo = Empty(be, DType.Float16, 2 * n);
        be.SplitBf16(src, lastTwo, 1, 2);
        Assert.Equal(expected.AsSpan(n, 2 * n).ToArray(), Down<ushort>(be, lastTwo));

        int stride = n + 5; // padded part stride: the gaps stay untouched
        var padded = Empty(be, DType.Float16, 2 * stride + n);
        be.Fill(padded, 0f);
        be.SplitBf16(src, padded, 0, 3, stride);
        var got = Down<ushort>(be, padded);
        for (int p = 0; p < 3; p++)
            Assert.Equal(expected.AsSpan(p * n, n).ToArray(), got.AsSpan(p * stride, n).ToArray());
        Assert.All(got.AsSpan(n, 5).ToArray().Concat(got.AsSpan(stride + n, 5).ToArray()),
            v => Assert.Equal((ushort)0, v));

        var conv = Empty(be, DType.Float16, n);
        be.ToBf16(src, conv);
        Assert.Equal(w.Select(Bf16Bits.FromFloat).ToArray(), Down<ushort>(be, conv));
    }

    [Fact]
    public void SplitKernelRejectsBadArguments()
    {
        var be = (IlgpuBackend)Gpu;
        var src = Up(be, new float[4]);
        Expect.Throws<ArgumentOutOfRangeException>(() => be.SplitBf16(src, Empty(be, DType.Float16, 8), 2, 2),
            "split_bf16", "[2, 4)");
        Expect.Throws<ArgumentException>(() => be.SplitBf16(src, Empty(be, DType.Float16, 7), 0, 2),
            "split_bf16", "8 vs 7");
        Expect.Throws<ArgumentException>(() => be.SplitBf16(src, Empty(be, DType.Float32, 4), 0, 1),
            "split_bf16", "float32 → float32");
        Expect.Throws<ArgumentException>(() => be.ToBf16(src, Empty(be, DType.Float16, 3)), "to_bf16", "4 vs 3");
        Expect.Throws<ArgumentOutOfRangeException>(() => be.SplitBf16(src, Empty(be, DType.Float16, 10), 0, 3, 3),
            "split_bf16", "part stride 3 is below the length 4");
    }

    // ---- the split product against float64 (host emulation of the GPU path) ----
}
