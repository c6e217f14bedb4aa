using SpikeSharp.Autograd;
using SpikeSharp.Kernels;
using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>Tests that read the process-wide <see cref="Tensor.LiveCount"/> must not run beside others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LiveCountCollection { public const string Name = "live-count"; }

/// <summary>One SGD step in a kernel: w ← w − lr · g.</summary>
internal struct SgdStepOp : IBinaryOp
{
    public float Lr;
    public readonly float Apply(float w, float g) => w - Lr * g;
}

[Collection(LiveCountCollection.Name)]
public class ScopeTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    /// <summary>Many steps: the CPU backend (and CUDA), not the emulation (see TestDevices).</summary>
    public static IEnumerable<object[]> TrainingDevices => TestDevices.TrainingNames;

    [Theory, MemberData(nameof(TrainingDevices))]
    public void TrainingStepsKeepLiveCountConstant(string dev)
    {
        var d = Device.Parse(dev);
        using var outer = TensorScope.Begin();
        var w = Tensor.Randn(new[] { 3, 4 }, new Generator(1), d, std: 0.1f).Persist(); w.RequiresGrad = true;
        var b = Tensor.Zeros(new[] { 3 }, d).Persist(); b.RequiresGrad = true;
        var x = Tensor.Randn(new[] { 8, 4 }, new Generator(2), d).Persist();
        // A learnable rule: the label is the largest of the first three features.
        var x3 = x.Narrow(1, 0, 3);
        var lab3 = x3.ArgMax(1).Persist();
        long baseline = -1;
        float first = 0, last = 0;
        const int steps = 1000;
        for (int step = 0; step < steps; step++)
        {
            using (TensorScope.Begin())
            {
                var h = Tensor.Linear(x, w, b).Relu() + Tensor.Linear(x, w, b);
                var loss = Tensor.CrossEntropy(h, lab3) + 0.01f * w.Square().Sum();
                loss.Backward();
                using (Tape.NoGrad())
                {
                    foreach (var p in new[] { w, b })
                    {
                        p.Backend.Map(new SgdStepOp { Lr = 0.1f }, p.Buf, p.Grad!.Buf, p.Buf);
                        p.Backend.Fill(p.Grad!.Buf, 0f);
                    }
                }
                if (step == 0) first = loss.Item();
                if (step == steps - 1) last = loss.Item();
            }
            if (step == 1) baseline = Tensor.LiveCount;   // after step 0 created the persistent .Grad tensors
            else if (step > 1) Assert.Equal(baseline, Tensor.LiveCount);
        }
        Assert.True(last < first, $"loss did not decrease: {first} → {last}");
        foreach (var t in new[] { w.Grad!, b.Grad!, w, b, x, lab3 }) t.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void ScopeFreesTemporariesButNotPersistentOrMovedOut(string dev)
    {
        var d = Device.Parse(dev);
        long before = Tensor.LiveCount;
        Tensor kept, moved, temp;
        using (var outer = TensorScope.Begin())
        {
            using (TensorScope.Begin())
            {
                kept = Tensor.Ones(new[] { 2 }, d).Persist();
                moved = Tensor.Ones(new[] { 2 }, d).MoveToOuterScope();
                temp = kept + moved;
            }
            Assert.True(temp.IsDisposed);
            Assert.False(kept.IsDisposed);
            Assert.False(moved.IsDisposed);
        }
        Assert.True(moved.IsDisposed);
        Assert.Equal(new float[] { 1, 1 }, kept.ToArray());
        kept.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }
}

public class AutogradBehaviourTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void GradientsAccumulateOverBackwardCalls(string dev)
    {
        var d = Device.Parse(dev);
        var x = Randn(d, 1, 2, 3); x.RequiresGrad = true;
        (x * x).Sum().Backward();                          // x used twice in one graph: 2x
        var once = x.Grad!.ToArray();
        Close(x.ToArray().Select(v => 2f * v).ToArray(), once);
        (x * x).Sum().Backward();
        Close(once.Select(v => 2 * v).ToArray(), x.Grad!.ToArray());
        var y = x.Exp().Sum();
        y.Backward(retainGraph: true);
        y.Backward();                                      // the retained graph can be walked again
        Close(x.ToArray().Zip(once, (v, g) => 2 * g + 2 * MathF.Exp(v)).ToArray(), x.Grad!.ToArray(), 1e-5);
    }

    [Theory, MemberData(nameof(Devices))]
    public void DetachAndNoGrad(string dev)
    {
        var d = Device.Parse(dev);
        var x = Randn(d, 1, 2, 3); x.RequiresGrad = true;
        var det = x.Detach();
        Assert.False(det.RequiresGrad);
        Assert.True(det.IsLeaf);
        Assert.Equal(x.ToArray(), det.ToArray());
        var z = (x * det).Sum();                            // gradient flows only through x
        z.Backward();
        Close(det.ToArray(), x.Grad!.ToArray());
        Assert.Null(det.Grad);
        Expect.Throws<InvalidOperationException>(() => (det * 2f).Sum().Backward(),
            "Backward", "does not require grad");

        using (Tape.NoGrad())
        {
            Assert.False(Tape.IsEnabled);
            using (Tape.NoGrad()) Assert.False((x * 2f).RequiresGrad);
            Assert.False(Tape.IsEnabled);                  // the inner scope does not re-enable
            var y = x.Exp();
            Assert.False(y.RequiresGrad);
            Assert.True(y.IsLeaf);
        }
        Assert.True(Tape.IsEnabled);
        var r = x.Exp();
        Assert.True(r.RequiresGrad);
        Assert.False(r.IsLeaf);
        Expect.Throws<InvalidOperationException>(() => r.RequiresGrad = false, "non-leaf", "Detach()");
    }

    [Theory, MemberData(nameof(Devices))]
    public void ToStringIsReadable(string dev)
    {
        var d = Device.Parse(dev);
        var x = F(d, new float[] { 1, 2.5f, -3, 0.125f, 1e-7f, 100000 }, 2, 3);
        var s = x.ToString();
        Assert.StartsWith($"Tensor(2, 3), float32, {d}", s);
        Assert.Contains("[1, 2.5, -3, 0.125, 1E-07, 1E+05]", s);
        x.RequiresGrad = true;
        Assert.Contains("requires_grad", x.ToString());
        Assert.Contains("grad_fn=mul", (x * x).ToString());
        Assert.EndsWith(", ...]", Tensor.Zeros(new[] { 20 }, d).ToString());
        Assert.Contains("int32", I(d, new[] { 1, 2 }).ToString());
        Assert.Contains("Tensor(), float32", Tensor.Scalar(2f, d).ToString());
    }
}
