using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using SpikeSharp.Attention;

namespace SpikeSharp.Tests.Attention;

/// <summary>Runs the ILGPU kernels on ILGPU's CPU accelerator directly (independent of the ILGPU backend)
/// and compares them with the CPU backend, which is the specification.</summary>
public class CausalAccumulationKernelTests
{
    [Fact]
    public void KernelsMatchCpuBackend()
    {
        const int steps = 35, n = 70;
        var rnd = new Random(7);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var (q, k, v, s0, g, gs) = (R(steps * n), R(steps * n), R(steps * n), R(n), R(steps * n), R(n));

        using var scope = TensorScope.Begin();
        var tq = Tensor.FromArray(q, new[] { steps, n }); var tk = Tensor.FromArray(k, new[] { steps, n });
        var tv = Tensor.FromArray(v, new[] { steps, n }); var ts0 = Tensor.FromArray(s0);
        foreach (var t in new[] { tq, tk, tv, ts0 }) t.RequiresGrad = true;
        var (o, s) = CausalAccumulation.Forward(tq, tk, tv, ts0);
        o.Mul(Tensor.FromArray(g, new[] { steps, n })).Sum().Add(s.Mul(Tensor.FromArray(gs)).Sum()).Backward();

        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 2, 1)));
        using var acc = context.CreateCPUAccelerator(0);
        using var bq = acc.Allocate1D(q); using var bk = acc.Allocate1D(k); using var bv = acc.Allocate1D(v);
        using var bs0 = acc.Allocate1D(s0); using var bg = acc.Allocate1D(g); using var bgs = acc.Allocate1D(gs);
        using var bo = acc.Allocate1D<float>(steps * n); using var bs = acc.Allocate1D<float>(n);
        using var bgq = acc.Allocate1D<float>(steps * n); using var bgk = acc.Allocate1D<float>(steps * n);
        using var bgv = acc.Allocate1D<float>(steps * n); using var bg0 = acc.Allocate1D<float>(n);
        // Two groups of 32 threads for 70 elements: the grid-stride loop and the tail are exercised.
        var cfg = new KernelConfig(2, 32);
        using var bp = acc.Allocate1D<byte>(steps * n);
        var fwd = acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int, int, int>(CausalAccumulationKernels.Forward);
        fwd(acc.DefaultStream, cfg, bq.View, bk.View, bv.View, bs0.View, bo.View, bs.View, bp.View, steps, n, 1, 0);
        var bwd = acc.LoadKernel<FloatQkvSource, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
            int>(CausalAccumulationKernels.Backward);
        var src = new FloatQkvSource { Qs = bq.View, Ks = bk.View, Vs = bv.View };
        bwd(acc.DefaultStream, cfg, src, bs0.View, bg.View, bgs.View, bgq.View, bgk.View, bgv.View, bg0.View,
            steps, n, 15);
        acc.Synchronize();

        Assert.True(CausalAccumulationTests.RelErr(bo.GetAsArray1D(), o.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bs.GetAsArray1D(), s.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgq.GetAsArray1D(), tq.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgk.GetAsArray1D(), tk.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgv.GetAsArray1D(), tv.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bg0.GetAsArray1D(), ts0.Grad!.ToArray()) < 1e-6);
    }

    // Spikes for q, k and v (marked binary, as LIF outputs are): the forward pass keeps one byte per element and the
    // backward reads it; values and gradients equal the float path's exactly, on the CPU and the emulated device.
    [Theory, MemberData(nameof(Devices))]
    public void PackedSpikesGiveTheFloatPathsGradients(string dev)
    {
        var d = Device.Parse(dev);
        const int steps = 9, n = 37;
        var rnd = new Random(3);
        float[] Spikes() => Enumerable.Range(0, steps * n).Select(_ => rnd.Next(3) == 0 ? 1f : 0f).ToArray();
        var (q, k, v) = (Spikes(), Spikes(), Spikes());
        var g = Enumerable.Range(0, steps * n).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var gs = Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        float[][] Run(bool binary)
        {
            using var scope = TensorScope.Begin();
            var t = new[] { q, k, v }.Select(a => Tensor.FromArray(a, new[] { steps, n }, d)).ToArray();
            // Leaves that require gradients lose the mark: set it after (as a neuron layer's spikes carry it).
            foreach (var x in t) { x.RequiresGrad = true; x.IsBinary = binary; }
            using var prof = MemoryProfile.Start();
            var (o, s) = CausalAccumulation.Forward(t[0], t[1], t[2]);
            long saved = prof.Ops.Where(r => r.Op == "causal_accumulation:saved").Sum(r => r.LiveBytes);
            o.Mul(Tensor.FromArray(g, new[] { steps, n }, d)).Sum().Add(s.Mul(Tensor.FromArray(gs, null, d)).Sum())
                .Backward();
            return new[] { o.ToArray(), s.ToArray(), t[0].Grad!.ToArray(), t[1].Grad!.ToArray(),
                t[2].Grad!.ToArray(), new[] { (float)saved } };
        }
        var plain = Run(false);
        var packed = Run(true);
        for (int i = 0; i < 5; i++) Assert.Equal(plain[i], packed[i]);
        // Kept for the backward: the packed bytes (T·N) only, where the float path keeps nothing of its own.
        Assert.Equal(steps * n, packed[5][0]);
    }

    public static IEnumerable<object[]> Devices => TestDevices.Names;
}
