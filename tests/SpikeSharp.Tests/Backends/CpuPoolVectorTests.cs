using SpikeSharp.Backends.Cpu;
using SpikeSharp.Kernels;
using SpikeSharp.Tests.Nn;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// The CPU 2×2 stride-2 max pool's vector rows (<see cref="CpuPool2dVector"/>) against the scalar rules of
/// <see cref="PoolMath"/> bit for bit (NaN, ±∞, signed zeros and ties included), and the whole op against the generic
/// path on planes wide enough for the vector rows.
/// </summary>
public class CpuPoolVectorTests
{
    // The scalar loop of CpuPool2d for one output: taps in order, MaxValue for the value, Beats for the argmax.
    private static (float, byte) Scalar(float t0, float t1, float t2, float t3)
    {
        float first = t0, best = PoolMath.MaxValue(float.NegativeInfinity, t0);
        int at = 0;
        float[] rest = { t1, t2, t3 };
        for (int t = 1; t <= 3; t++)
        {
            float v = rest[t - 1];
            if (PoolMath.Beats(v, first)) { first = v; at = t; }
            best = PoolMath.MaxValue(best, v);
        }
        return (best, (byte)at);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(14)] // the first pool of the Fashion-MNIST CSNNs: two blocks overlapping by two outputs
    [InlineData(19)]
    [InlineData(64)]
    public void VectorRowMatchesTheScalarRulesBitForBit(int wo)
    {
        float[] special = { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1f, 1f, -1f };
        var rnd = new Random(wo);
        for (int round = 0; round < 50; round++)
        {
            // Extra input columns past 2·wo (an odd width drops its last column) must not be read into y.
            int w = 2 * wo + (round & 1);
            var r0 = new float[w]; var r1 = new float[w];
            foreach (var r in new[] { r0, r1 })
                for (int i = 0; i < w; i++)
                    r[i] = round % 3 == 0 ? rnd.Next(2) : rnd.Next(4) == 0 ? special[rnd.Next(special.Length)]
                        : (float)Math.Round(rnd.NextDouble() * 4 - 2, 1);
            var y = new float[wo]; var arg = new byte[wo];
            int done = CpuPool2dVector.Max2x2Row(r0, r1, y, arg);
            if (!CpuPool2dVector.Enabled) { Assert.Equal(0, done); return; }
            Assert.Equal(wo, done);
            for (int o = 0; o < wo; o++)
            {
                var (best, at) = Scalar(r0[2 * o], r0[2 * o + 1], r1[2 * o], r1[2 * o + 1]);
                Assert.True(BitConverter.SingleToInt32Bits(best) == BitConverter.SingleToInt32Bits(y[o]),
                    $"wo={wo} round {round} y[{o}] = {y[o]}, scalar {best}");
                Assert.True(at == arg[o], $"wo={wo} round {round} arg[{o}] = {arg[o]}, scalar {at}");
            }
            // Without an argmax buffer the values are the same.
            var y2 = new float[wo];
            CpuPool2dVector.Max2x2Row(r0, r1, y2, Span<byte>.Empty);
            Assert.Equal(y, y2);
        }
    }

    [Fact]
    public void VectorRowLeavesNarrowRowsToTheScalarLoop()
    {
        var r = new float[14];
        Assert.Equal(0, CpuPool2dVector.Max2x2Row(r, r, new float[7], new byte[7]));
        // Rows too short for the outputs asked for are refused, not read past.
        Assert.Equal(0, CpuPool2dVector.Max2x2Row(new float[15], new float[16], new float[8], new byte[8]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaxPoolOfWidePlanesMatchesTheGenericPath(bool spikes)
    {
        foreach (var shape in new[] { new[] { 2, 3, 28, 28 }, new[] { 1, 2, 6, 35 } })
        {
            var want = NormPoolKernelTests.RunPool(Device.Cpu, true, shape, (2, 2), null, null, spikes, generic: true);
            var got = NormPoolKernelTests.RunPool(Device.Cpu, true, shape, (2, 2), null, null, spikes, generic: false);
            Assert.Equal(want.y, got.y);
            Assert.Equal(want.gx, got.gx); // the gradient lands on the same tap
        }
    }
}
