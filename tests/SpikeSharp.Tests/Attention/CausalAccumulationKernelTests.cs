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
        var fwd = acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(CausalAccumulationKernels.Forward);
        fwd(acc.DefaultStream, cfg, bq.View, bk.View, bv.View, bs0.View, bo.View, bs.View, steps, n, 1);
        var bwd = acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(CausalAccumulationKernels.Backward);
        bwd(acc.DefaultStream, cfg, bq.View, bk.View, bv.View, bs0.View, bg.View, bgs.View, bgq.View, bgk.View, bgv.View, bg0.View, steps, n, 15);
        acc.Synchronize();

        Assert.True(CausalAccumulationTests.RelErr(bo.GetAsArray1D(), o.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bs.GetAsArray1D(), s.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgq.GetAsArray1D(), tq.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgk.GetAsArray1D(), tk.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bgv.GetAsArray1D(), tv.Grad!.ToArray()) < 1e-6);
        Assert.True(CausalAccumulationTests.RelErr(bg0.GetAsArray1D(), ts0.Grad!.ToArray()) < 1e-6);
    }
}
