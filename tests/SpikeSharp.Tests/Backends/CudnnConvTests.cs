using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>A fact that needs cuDNN on a CUDA device: reported as skipped, with the reason, elsewhere.</summary>
public sealed class CudnnFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when there is no CUDA device or no usable cuDNN.</summary>
    public CudnnFactAttribute()
    {
        if (DeviceCatalog.CudaDeviceCount == 0)
            Skip = "no CUDA device on this machine: the cuDNN convolution tests do not run";
        else if (!CudnnInfo.Loaded)
            Skip = $"cuDNN is not available on this CUDA machine ({CudnnInfo.LoadError}): the cuDNN convolution "
                + "tests do not run";
    }
}

/// <summary>
/// The cuDNN convolution family (Backends/Ilgpu/CudnnConvKernels.cs): not registered on the emulated device (conv
/// there still matches the CPU backend), refused for a non-CUDA backend, and on a GPU with cuDNN equal to the generic
/// im2col path on odd shapes, forward and backward, with float32 math and with TF32.
/// </summary>
public class CudnnConvTests
{
    /// <summary>Odd shapes: (N, C, H, W), (O, Kh, Kw), stride, padding.</summary>
    public static readonly (int N, int C, int H, int W, int O, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw)[] Odd =
    {
        (3, 5, 17, 11, 7, 3, 5, 2, 1, 1, 2), // stride 2, non-square input and kernel, unequal padding
        (1, 1, 28, 28, 16, 3, 3, 1, 1, 0, 0), // C = 1, N = 1
        (4, 16, 9, 13, 32, 1, 1, 2, 2, 0, 0), // 1×1, stride 2
        (2, 8, 15, 15, 256, 5, 5, 2, 2, 2, 2), // large O, padding 2
        (5, 3, 7, 20, 4, 7, 3, 2, 3, 0, 1), // kernel as tall as the input
    };

    private static (float[] Y, float[] Gx, float[] Gw) Run(Device d, (int N, int C, int H, int W, int O, int Kh,
        int Kw, int Sh, int Sw, int Ph, int Pw) c, bool generic)
    {
        bool before = Tensor.GenericConvOnly;
        Tensor.GenericConvOnly = generic;
        try
        {
            using var scope = TensorScope.Begin();
            var gen = new Generator(5);
            var x = Tensor.Randn(new[] { c.N, c.C, c.H, c.W }, gen, d);
            var w = Tensor.Randn(new[] { c.O, c.C, c.Kh, c.Kw }, gen, d, std: 0.3f);
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            var y = Tensor.Conv2d(x, w, stride: (c.Sh, c.Sw), padding: (c.Ph, c.Pw));
            var r = Tensor.Randn(y.Shape, gen, d);
            y.Mul(r).Sum().Backward();
            var res = (y.ToArray(), x.Grad!.ToArray(), w.Grad!.ToArray());
            x.Grad.Dispose(); w.Grad.Dispose();
            return res;
        }
        finally
        {
            Tensor.GenericConvOnly = before;
        }
    }

    // max |a − b| / max |b|: the error at the scale of the result.
    private static double RelError(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double scale = 0, err = 0;
        for (int i = 0; i < b.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(b[i]));
            err = Math.Max(err, Math.Abs((double)a[i] - b[i]));
        }
        Assert.True(scale > 0, "the reference is all zeros: the inputs do not exercise the convolution");
        return err / scale;
    }

    [Fact]
    public void TheEmulatedDeviceHasNoCudnnAndItsConvMatchesTheCpu()
    {
        var be = BackendRegistry.Get(Device.IlgpuCpu);
        // No cuDNN there (another conv family may be, e.g. an implicit GEMM; conv must then still match the CPU).
        Assert.False(be.Family<IConv2dKernels>() is CudnnConvKernels);
        Assert.Null(CudnnConvKernels.Of(be));
        Assert.Equal("ilgpu-cpu is not a CUDA device", CudnnInfo.UnavailableOn(Device.IlgpuCpu));
        Assert.Equal("cpu is not a CUDA device", CudnnInfo.UnavailableOn(Device.Cpu));
        // The first two odd shapes: small enough for the emulation.
        foreach (var c in Odd.Take(2))
        {
            var cpu = Run(Device.Cpu, c, generic: false);
            var emu = Run(Device.IlgpuCpu, c, generic: false);
            Assert.True(RelError(emu.Y, cpu.Y) < 1e-5, $"{c}: forward {RelError(emu.Y, cpu.Y):E2}");
            Assert.True(RelError(emu.Gx, cpu.Gx) < 1e-5, $"{c}: grad x {RelError(emu.Gx, cpu.Gx):E2}");
            Assert.True(RelError(emu.Gw, cpu.Gw) < 1e-5, $"{c}: grad w {RelError(emu.Gw, cpu.Gw):E2}");
        }
    }

    [Fact]
    public void TheFamilyRefusesABackendThatIsNotCuda()
    {
        var be = (IlgpuBackend)BackendRegistry.Get(Device.IlgpuCpu);
        var e = Assert.Throws<ArgumentException>(() => new CudnnConvKernels(be, new Cudnn.Api()));
        Assert.Equal("backend", e.ParamName);
        Assert.StartsWith("cuDNN convolutions need a CUDA device, got ilgpu-cpu", e.Message);
    }

    // ---- the real path (needs cuDNN on a GPU; skipped elsewhere) ----

    [CudnnFact]
    public void CudnnMatchesTheGenericPathOnOddShapesForwardAndBackward()
    {
        var d = Device.Cuda(0);
        var k = CudnnConvKernels.Of(BackendRegistry.Get(d));
        Assert.True(k != null, "cuDNN loaded but the cuda:0 backend has no cuDNN convolution family");
        Assert.True(k!.Unavailable == null, $"cuDNN handle: {k.Unavailable}");
        bool tf32Before = Precision.ConvolutionTf32;
        try
        {
            foreach (var c in Odd)
            {
                var reference = Run(d, c, generic: true);
                foreach (bool tf32 in new[] { false, true })
                {
                    Precision.ConvolutionTf32 = tf32;
                    var got = Run(d, c, generic: false);
                    var shape = new Conv2dShape(c.N, c.C, c.H, c.W, c.O, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw);
                    foreach (var dir in Enum.GetValues<CudnnConvDirection>())
                        Assert.True(k.AlgorithmInUse(shape, dir) != null, $"{c} tf32={tf32}: cuDNN did not run {dir}");
                    // Float32 math differs from the generic path only in the order of the additions; TF32 rounds
                    // the products' inputs to a 10-bit mantissa.
                    double bound = tf32 ? 1e-2 : 5e-5;
                    string what = $"{c} tf32={tf32}";
                    double ey = RelError(got.Y, reference.Y), ex = RelError(got.Gx, reference.Gx),
                        ew = RelError(got.Gw, reference.Gw);
                    Assert.True(ey < bound, $"{what}: forward {ey:E2}");
                    Assert.True(ex < bound, $"{what}: grad x {ex:E2}");
                    Assert.True(ew < bound, $"{what}: grad w {ew:E2}");
                }
            }
        }
        finally
        {
            Precision.ConvolutionTf32 = tf32Before;
        }
    }

    [CudnnFact]
    public void CudnnRejectsBuffersThatDisagreeWithTheShape()
    {
        var d = Device.Cuda(0);
        var k = CudnnConvKernels.Of(BackendRegistry.Get(d))!;
        using var scope = TensorScope.Begin();
        var shape = new Conv2dShape(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1);
        var x = Tensor.Zeros(new[] { 2, 3, 8, 8 }, d);
        var w = Tensor.Zeros(new[] { 4, 3, 3, 3 }, d);
        var y = Tensor.Zeros(new[] { 2, 4, 8, 7 }, d); // one column short
        var e = Assert.Throws<ArgumentException>(() => k.TryForward(shape, x.Buf, w.Buf, y.Buf));
        Assert.Equal("y", e.ParamName);
        Assert.StartsWith("conv2d: y has 448 elements, x (2, 3, 8, 8), w (4, 3, 3, 3), stride (1, 1), padding (1, 1) "
            + "needs 512", e.Message);
    }
}
