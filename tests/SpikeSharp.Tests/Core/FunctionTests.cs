using SpikeSharp.Autograd;
using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>The custom Function API: a hand-written forward/backward recorded as one tape node.</summary>
public class FunctionTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    /// <summary>y = tanh(a·x + b) with its own backward; also returns argmax of y (int32) and a mask marked non-differentiable.</summary>
    private sealed class AffineTanh : Function
    {
        public int BackwardCalls;
        public override string Name => "affine_tanh";

        public override Tensor[] Forward(FunctionContext ctx, Tensor[] inputs)
        {
            var (x, a, b) = (inputs[0], inputs[1], inputs[2]);
            Assert.False(Tape.IsEnabled); // inner ops are not recorded
            var y = (x * a + b).Tanh();
            var mask = y.Gt(0f);
            ctx.MarkNonDifferentiable(mask);
            ctx.SaveForBackward(x, a, y);
            ctx.Set("n", x.Numel);
            return new[] { y, y.ArgMax(), mask };
        }

        public override Tensor?[] Backward(FunctionContext ctx, Tensor?[] g)
        {
            BackwardCalls++;
            Assert.Null(g[1]); Assert.Null(g[2]);
            var (x, a, y) = (ctx.SavedTensors[0], ctx.SavedTensors[1], ctx.SavedTensors[2]);
            Assert.Equal(x.Numel, ctx.Get<int>("n"));
            var gz = g[0]! * (1f - y * y);
            return new[]
            {
                ctx.NeedsInputGrad[0] ? gz * a : null,
                ctx.NeedsInputGrad[1] ? (gz * x).Sum(0) : null,
                ctx.NeedsInputGrad[2] ? gz.Sum(0) : null,
            };
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void CustomFunctionMatchesFiniteDifferences(string dev)
    {
        var d = Device.Parse(dev);
        var fn = new AffineTanh();
        GradCheck.Check(x => fn.Apply(x[0], x[1], x[2])[0], new[] { Randn(d, 1, 4, 3), Randn(d, 2, 3), Randn(d, 3, 3) });
        Assert.True(fn.BackwardCalls >= 1);
    }

    [Theory, MemberData(nameof(Devices))]
    public void CustomFunctionMatchesAutogradOfTheComposition(string dev)
    {
        var d = Device.Parse(dev);
        var x = Randn(d, 1, 4, 3); x.RequiresGrad = true;
        var a = Randn(d, 2, 3);                           // no gradient wanted
        var b = Randn(d, 3, 3); b.RequiresGrad = true;
        var outs = new AffineTanh().Apply(x, a, b);
        Assert.Equal(3, outs.Length);
        Assert.True(outs[0].RequiresGrad);
        Assert.Contains("grad_fn=affine_tanh", outs[0].ToString());
        Assert.False(outs[1].RequiresGrad);               // int32: never differentiable
        Assert.False(outs[2].RequiresGrad);               // marked non-differentiable
        (outs[0] * outs[0]).Sum().Backward();
        var gx = x.Grad!.ToArray(); var gb = b.Grad!.ToArray();
        Assert.Null(a.Grad);

        var x2 = x.Detach(); x2.RequiresGrad = true; var b2 = b.Detach(); b2.RequiresGrad = true;
        var y2 = (x2 * a + b2).Tanh();
        (y2 * y2).Sum().Backward();
        Close(x2.Grad!.ToArray(), gx, 1e-5);
        Close(b2.Grad!.ToArray(), gb, 1e-5);
    }

    [Theory, MemberData(nameof(Devices))]
    public void NotRecordedWithoutGradOrUnderNoGrad(string dev)
    {
        var d = Device.Parse(dev);
        var fn = new AffineTanh();
        using var x = Randn(d, 1, 2, 3); using var a = Randn(d, 2, 3); using var b = Randn(d, 3, 3);
        Assert.False(fn.Apply(x, a, b)[0].RequiresGrad);
        x.RequiresGrad = true;
        using (Tape.NoGrad()) Assert.False(fn.Apply(x, a, b)[0].RequiresGrad);
        Assert.True(fn.Apply(x, a, b)[0].RequiresGrad);
    }

    private sealed class Identity : Function
    {
        public override Tensor[] Forward(FunctionContext ctx, Tensor[] x) => new[] { x[0] };
        public override Tensor?[] Backward(FunctionContext ctx, Tensor?[] g) => g;
    }

    private sealed class WrongArity : Function
    {
        public override Tensor[] Forward(FunctionContext ctx, Tensor[] x) => new[] { x[0] + x[1] };
        public override Tensor?[] Backward(FunctionContext ctx, Tensor?[] g) => new[] { g[0] };
    }

    private sealed class SavesTemp : Function
    {
        public Tensor? Temp;
        public override Tensor[] Forward(FunctionContext ctx, Tensor[] x)
        {
            Temp = x[0] * 2f;
            ctx.SaveForBackward(Temp);
            return new[] { x[0].Exp() };
        }
        public override Tensor?[] Backward(FunctionContext ctx, Tensor?[] g) => new[] { g[0]! * ctx.SavedTensors[0] };
    }

    [Theory, MemberData(nameof(Devices))]
    public void MisuseGivesClearErrors(string dev)
    {
        var d = Device.Parse(dev);
        var x = Randn(d, 1, 2, 3); x.RequiresGrad = true;
        var y = Randn(d, 2, 2, 3); y.RequiresGrad = true;
        Assert.Contains("Identity", Assert.Throws<InvalidOperationException>(() => new Identity().Apply(x)).Message);
        Assert.Null(x.GradFn);

        var z = new WrongArity().ApplyOne(x, y);
        Assert.Contains("1 gradient(s) for 2 input(s)", Assert.Throws<InvalidOperationException>(() => z.Sum().Backward()).Message);
        Assert.Null(x.Grad); Assert.Null(y.Grad);

        var fn = new SavesTemp();
        var w = fn.ApplyOne(x);
        fn.Temp!.Dispose();
        Assert.Contains("saved tensor 0", Assert.Throws<InvalidOperationException>(() => w.Sum().Backward()).Message);
        Assert.Null(x.Grad);

        var nullInput = Expect.Throws<ArgumentNullException>(() => new Identity().Apply(x, null!),
            "Identity: input 1 is null");
        Assert.Equal("inputs", nullInput.ParamName);
        Expect.Throws<InvalidOperationException>(() => new AffineTanh().ApplyOne(x, Randn(d, 3, 3), Randn(d, 4, 3)),
            "affine_tanh: ApplyOne expects one output, Forward returned 3; use Apply");
    }
}
