using SpikeSharp.Autograd;

namespace SpikeSharp.Tests.Core;

/// <summary>The in-place ops: values, aliasing, and the refusals (another shape, device or dtype; an operand that
/// requires gradients while autograd records).</summary>
public class InPlaceTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void EachOpComputesItsPyTorchCounterpartAndReturnsItsTarget(string dev)
    {
        var d = Device.Parse(dev);
        using var x = Tensor.FromArray(new[] { 1f, -2f, 4f }, null, d);
        using var y = Tensor.FromArray(new[] { 0.5f, 3f, -1f }, null, d);
        using var z = Tensor.FromArray(new[] { 2f, 2f, 10f }, null, d);
        Assert.Same(x, x.AddInPlace(y));
        Assert.Equal(new[] { 1.5f, 1f, 3f }, x.ToArray());
        x.AddInPlace(y, -2f);
        Assert.Equal(new[] { 0.5f, -5f, 5f }, x.ToArray());
        x.MulInPlace(z);
        Assert.Equal(new[] { 1f, -10f, 50f }, x.ToArray());
        x.MulInPlace(0.5f);
        Assert.Equal(new[] { 0.5f, -5f, 25f }, x.ToArray());
        using (var s = Tensor.Scalar(-2f, d)) x.MulInPlace(s);
        Assert.Equal(new[] { -1f, 10f, -50f }, x.ToArray());
        x.LerpInPlace(z, 0.25f);
        Assert.Equal(new[] { -0.25f, 8f, -35f }, x.ToArray());
        x.AddcmulInPlace(y, z, 2f);
        Assert.Equal(new[] { 1.75f, 20f, -55f }, x.ToArray());
        x.AddInPlace(x);
        Assert.Equal(new[] { 3.5f, 40f, -110f }, x.ToArray());
        x.FillInPlace(7f);
        Assert.Equal(new[] { 7f, 7f, 7f }, x.ToArray());
        x.ZeroInPlace();
        Assert.Equal(new[] { 0f, 0f, 0f }, x.ToArray());
        using var one = Tensor.FromArray(new[] { 3f }, null, d);
        using (var s = Tensor.Scalar(2f, d)) one.MulInPlace(s); // one element times a scalar of shape []
        Assert.Equal(new[] { 6f }, one.ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void CopyFromMovesAndConvertsButKeepsTheShape(string dev)
    {
        var d = Device.Parse(dev);
        using var dst = Tensor.Zeros(new[] { 2, 2 }, d);
        using (var src = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, new[] { 2, 2 })) dst.CopyFrom(src);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, dst.ToArray());
        using (var h = Tensor.FromArray(new[] { 1f, 0.5f, -2f, 8f }, new[] { 2, 2 }, d).To(DType.Float16))
            dst.CopyFrom(h);
        Assert.Equal(new[] { 1f, 0.5f, -2f, 8f }, dst.ToArray());
        using var flat = Tensor.Zeros(new[] { 4 }, d);
        Expect.Throws<ArgumentException>(() => dst.CopyFrom(flat), "copy_from: the source has shape (4)",
            "this tensor (2, 2)");
    }

    [Theory, MemberData(nameof(Devices))]
    public void MismatchesAreRefusedWithTheirNames(string dev)
    {
        var d = Device.Parse(dev);
        using var x = Tensor.FromArray(new[] { 1f, 2f, 3f }, null, d);
        using var two = Tensor.Zeros(new[] { 2 }, d);
        Expect.Throws<ArgumentException>(() => x.AddInPlace(two), "add_in_place: the operand has shape (2)",
            "this tensor (3); in-place ops do not broadcast");
        using var ints = Tensor.Zeros(new[] { 3 }, d, DType.Int32);
        Expect.Throws<ArgumentException>(() => x.MulInPlace(ints), "mul_in_place: both tensors must be float32",
            "got float32 and int32");
        Expect.Throws<ArgumentException>(() => ints.MulInPlace(2f), "mul_in_place: the tensor must be float32");
        if (d != Device.Cpu)
        {
            using var host = Tensor.Zeros(new[] { 3 });
            Expect.Throws<ArgumentException>(() => x.LerpInPlace(host, 0.5f),
                "lerp_in_place: the operand is on cpu, this tensor on " + d);
        }
        var gone = Tensor.Zeros(new[] { 3 }, d);
        gone.Dispose();
        Expect.Throws<ObjectDisposedException>(() => x.AddInPlace(gone), "add_in_place", "has been disposed");
        Assert.Equal(new[] { 1f, 2f, 3f }, x.ToArray());
    }

    [Fact]
    public void ATensorThatRequiresGradIsRefusedOnlyWhileRecording()
    {
        using var w = Tensor.FromArray(new[] { 1f, 2f });
        w.RequiresGrad = true;
        w.Name = "fc.weight";
        using var g = Tensor.FromArray(new[] { 0.5f, 0.5f });
        Expect.Throws<InvalidOperationException>(() => w.AddInPlace(g),
            "add_in_place: tensor 'fc.weight' (2) requires gradients and autograd is recording", "Tape.NoGrad()");
        using var acc = Tensor.Zeros(new[] { 2 });
        Expect.Throws<InvalidOperationException>(() => acc.AddInPlace(w), "requires gradients");
        Expect.Throws<InvalidOperationException>(() => w.ZeroInPlace(), "fill_in_place");
        Assert.Equal(new[] { 1f, 2f }, w.ToArray());
        using (Tape.NoGrad()) w.AddInPlace(g, -2f);
        Assert.Equal(new[] { 0f, 1f }, w.ToArray());
        using (var value = w.Detach()) acc.AddInPlace(value); // a detached view is a plain value
        Assert.Equal(new[] { 0f, 1f }, acc.ToArray());
    }
}
