using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>The ILGPU pooling (<see cref="IPool2dKernels"/>): one launch per pass, kernels in
/// <see cref="IlgpuPool2dKernels"/>.</summary>
internal sealed class IlgpuPool2d(IlgpuBackend backend) : IPool2dKernels
{
    /// <inheritdoc/>
    public bool TryMaxForward(in Pool2dShape s, Buf x, Buf y, Buf? argmax)
    {
        if (s.Taps > 256 || TooLarge(s)) return false;
        Check(s, x, y);
        if (argmax is { } a) Check(s.OutputNumel, a, DType.UInt8, "argmax");
        if (s.OutputNumel == 0) return true;
        var v = Views(s, x, y, s.OutputNumel);
        if (argmax is { } am) { v.Arg = backend.View<byte>(am); v.HasArg = 1; }
        else v.Arg = v.X.Cast<byte>();
        var k = backend.Kernel("max_pool2d", l => l.LoadKernel<PoolViews>(IlgpuPool2dKernels.MaxForward));
        k(backend.Stream, backend.Launch1D(v.Total), v);
        return true;
    }

    /// <inheritdoc/>
    public bool TryMaxBackward(in Pool2dShape s, Buf dy, Buf argmax, Buf dx)
    {
        if (s.Taps > 256 || TooLarge(s)) return false;
        Check(s, dx, dy);
        Check(s.OutputNumel, argmax, DType.UInt8, "argmax");
        Backward(s, dy, dx, backend.View<byte>(argmax), avg: 0);
        return true;
    }

    /// <inheritdoc/>
    public bool TryAvgForward(in Pool2dShape s, Buf x, Buf y)
    {
        if (TooLarge(s)) return false;
        Check(s, x, y);
        if (s.OutputNumel == 0) return true;
        var v = Views(s, x, y, s.OutputNumel);
        v.Arg = v.X.Cast<byte>();
        var k = backend.Kernel("avg_pool2d", l => l.LoadKernel<PoolViews>(IlgpuPool2dKernels.AvgForward));
        k(backend.Stream, backend.Launch1D(v.Total), v);
        return true;
    }

    /// <inheritdoc/>
    public bool TryAvgBackward(in Pool2dShape s, Buf dy, Buf dx)
    {
        if (TooLarge(s)) return false;
        Check(s, dx, dy);
        Backward(s, dy, dx, default, avg: 1);
        return true;
    }

    private void Backward(in Pool2dShape s, Buf dy, Buf dx, ArrayView<byte> arg, int avg)
    {
        if (s.InputNumel == 0) return;
        // Views are taken of empty output gradients too: the kernel then writes zeros without reading them.
        var v = Views(s, dx, dy, s.InputNumel);
        if (!v.Y.IsValid) v.Y = v.X;
        v.Arg = arg.IsValid ? arg : v.X.Cast<byte>();
        var k = backend.Kernel("pool2d_backward", l => l.LoadKernel<PoolViews, int>(IlgpuPool2dKernels.Backward));
        k(backend.Stream, backend.Launch1D(v.Total), v, avg);
    }

    private PoolViews Views(in Pool2dShape s, Buf x, Buf y, int total) => new()
    {
        X = backend.View<float>(x), Y = backend.View<float>(y),
        H = s.H, W = s.W, Kh = s.Kh, Kw = s.Kw, Sh = s.StrideH, Sw = s.StrideW, Ph = s.PadH, Pw = s.PadW,
        Ho = s.OutH, Wo = s.OutW, Total = total, InvTaps = 1f / s.Taps,
        MagicH = PoolMath.Magic(s.StrideH), MagicW = PoolMath.Magic(s.StrideW),
    };

    // The backward kernel divides by the strides with PoolMath.Div, exact for padded extents below 2^16.
    private static bool TooLarge(in Pool2dShape s) =>
        s.H + 2 * s.PadH >= PoolMath.MaxExtent || s.W + 2 * s.PadW >= PoolMath.MaxExtent;

    private static void Check(in Pool2dShape s, Buf input, Buf output)
    {
        Check(s.InputNumel, input, DType.Float32, "input");
        Check(s.OutputNumel, output, DType.Float32, "output");
    }

    private static void Check(long expected, Buf b, DType dtype, string name)
    {
        if (b.Length != expected)
            throw new ArgumentException($"pool2d: {name} has {b.Length} elements, expected {expected}", name);
        if (b.DType != dtype)
            throw new ArgumentException($"pool2d: {name} must be {dtype.Name()}, got {b.DType.Name()}", name);
    }
}
