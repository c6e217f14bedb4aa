using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Core;

// Memory of a training step: what the backward pass frees, what the forward pass frees early, and that the
// gradients and retainGraph still behave. Profiles count only storages made on the test's own thread, so these
// tests are not disturbed by others running in parallel.
public class MemoryTests
{
    // T = 4, B = 8, 1×16×16 inputs: conv(16)+BN+LIF+pool, conv(16)+BN+LIF+pool, linear 256→10, LIF.
    private const int T = 4, B = 8, S = 16, C = 16;

    // Bytes of one float32 activation of the first block, (T·B, C, S, S): the unit the bounds are stated in.
    private const long Unit = 4L * T * B * C * S * S;

    private static Sequential SmallConvNet(Device d)
    {
        var g = new Generator(3);
        return new Sequential(
            new MultiStep(new Conv2d(1, C, 3, padding: 1, bias: false, gen: g, device: d),
                new BatchNorm2d(C, device: d)),
            new Lif(device: d),
            new MultiStep(new MaxPool2d((2, 2)), new Conv2d(C, C, 3, padding: 1, bias: false, gen: g, device: d),
                new BatchNorm2d(C, device: d)),
            new Lif(device: d),
            new MultiStep(new MaxPool2d((2, 2)), new Flatten(1), new Linear(C * 4 * 4, 10, gen: g, device: d)),
            new Lif(device: d));
    }

    private sealed record StepMemory(long AfterForward, long AfterBackward, long Peak, long GradBytes, string Profile,
        string ForwardProfile);

    private static StepMemory ProfileStep(Sequential net, Tensor x, Tensor labels, Optimizer opt)
    {
        using var prof = MemoryProfile.Start();
        long afterForward, afterBackward;
        string forward;
        using (TensorScope.Begin())
        {
            net.ResetState();
            var loss = Functional.RateMse(net.Forward(x), labels);
            afterForward = prof.LiveBytes;
            forward = prof.Format(12);
            opt.ZeroGrad(setToNone: true);
            loss.Backward();
            afterBackward = prof.LiveBytes;
            opt.Step();
        }
        // Gradients and the membranes the LIF layers keep for the next call.
        long grads = net.Parameters().Sum(p => 4L * p.Grad!.Numel)
            + net.NamedModules().Select(m => m.Module).OfType<SpikingLayer>().Sum(l => 4L * l.State!.Numel);
        return new StepMemory(afterForward, afterBackward, prof.PeakBytes, grads, prof.Format(12), forward);
    }

    [Fact]
    public void ConvNetTrainingStepPeakStaysWithinBound()
    {
        var d = Device.Cpu;
        using var net = SmallConvNet(d);
        var opt = new Adam(net.NamedParameters());
        using var x = Tensor.Rand(new[] { T, B, 1, S, S }, new Generator(5), d).Persist();
        using var labels = Tensor.FromArray(Enumerable.Range(0, B).Select(i => i % 10).ToArray(), device: d).Persist();
        ProfileStep(net, x, labels, opt); // the first step also creates Adam's state
        var m = ProfileStep(net, x, labels, opt);

        // What the backward pass needs of the first block: BN's x̂ (1 unit), the LIF input it recomputes from
        // (1 unit), pooling's argmax (¼) and the spike bits (⅛); of the second block a quarter of that, and its
        // conv input (¼): 3.5 units.
        Assert.True(m.AfterForward <= 4 * Unit,
            $"live after forward {m.AfterForward} B > 4 units of {Unit} B\n{m.ForwardProfile}");
        // The peak adds the second conv's im2col columns (9 × its ¼-unit input) to that: 6.5 units. (When every
        // tensor of the step lived until the scope's end: 15.1 units after forward, a peak of 37.7 units, and
        // 19.8 MB left after backward for 20 kB of gradients.)
        Assert.True(m.Peak <= 7 * Unit, $"step peak {m.Peak} B > 7 units of {Unit} B\n{m.Profile}");
        // After the backward pass only the parameters' gradients, the kept membranes and the small tensors the
        // step still holds (the network's output, 1.3 kB, and the loss) are left.
        Assert.True(m.AfterBackward <= m.GradBytes + 4096,
            $"live after backward {m.AfterBackward} B, parameter gradients and state {m.GradBytes} B\n{m.Profile}");
    }

    [Fact]
    public void BackwardFreesEachGradientOnceConsumed()
    {
        // A chain of 24 ops whose backward rules keep nothing: the forward outputs stay (the caller holds them), but
        // the backward pass must not hold more than a couple of gradients at a time (it held all 48: 48 units).
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { 256, 1024 }, new Generator(1), Device.Cpu);
        x.RequiresGrad = true;
        long unit = 4L * x.Numel;
        var h = x;
        for (int i = 0; i < 24; i++) h = h.Affine(1.01f, 0.5f).Add(h);
        var loss = h.Sum();
        using var prof = MemoryProfile.Start();
        loss.Backward();
        Assert.True(prof.PeakBytes <= 3 * unit + 1024,
            $"backward peak {prof.PeakBytes} B > 3 × {unit} B\n{prof.Format()}");
        Assert.InRange(prof.LiveBytes, unit, unit + 1024); // x.Grad, adopted without a copy (and the scalar seed)
        var expected = Math.Pow(2.01, 24);
        Assert.Equal(expected, x.Grad!.ToArray()[0], expected * 1e-4);
        x.Grad.Dispose();
    }

    [Fact]
    public void SavedTensorsLiveUntilTheirBackwardRanThenGo()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(new[] { 0.5f, -1f, 2f });
        x.RequiresGrad = true;
        var e = x.Exp();          // exp's backward reads its output
        var a = x.Affine(2f, 1f); // affine's backward reads nothing
        var y = e.Mul(a);
        e.Release();
        a.Release();
        Assert.False(e.IsDisposed);     // pinned by exp's and mul's backward
        Assert.False(a.IsDisposed);     // pinned by mul's backward (the gradient of e is g·a)
        var d = y.Sum();
        d.Backward();
        Assert.True(e.IsDisposed);
        Assert.True(a.IsDisposed);
        // d/dx (eˣ (2x + 1)) = eˣ (2x + 3)
        var xs = new[] { 0.5f, -1f, 2f };
        var g = x.Grad!.ToArray();
        for (int i = 0; i < 3; i++) Assert.Equal(MathF.Exp(xs[i]) * (2 * xs[i] + 3), g[i], 4);
        x.Grad.Dispose();
    }

    [Fact]
    public void ReleasedTensorNobodySavedIsFreedAtOnce()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new[] { 4 });
        x.RequiresGrad = true;
        var h = x.Affine(3f, 0f);
        var y = h.Tanh(); // tanh keeps its output, not its input
        h.Release();
        Assert.True(h.IsDisposed);
        Expect.Throws<ObjectDisposedException>(() => h.ToArray(), "has been disposed", "released as an intermediate");
        y.Sum().Backward();
        Assert.Equal(3f * (1 - MathF.Tanh(3f) * MathF.Tanh(3f)), x.Grad!.ToArray()[0], 5);
        x.Grad.Dispose();
    }

    [Fact]
    public void RetainGraphAllowsASecondBackwardThroughAConvNet()
    {
        var d = Device.Cpu;
        using var net = SmallConvNet(d);
        using var scope = TensorScope.Begin();
        var x = Tensor.Rand(new[] { T, B, 1, S, S }, new Generator(5), d);
        var labels = Tensor.FromArray(Enumerable.Range(0, B).Select(i => i % 10).ToArray(), device: d);
        var loss = Functional.RateMse(net.Forward(x), labels);
        loss.Backward(retainGraph: true);
        var first = net.Parameters().Select(p => p.Grad!.ToArray()).ToList();
        loss.Backward();
        var second = net.Parameters().Select(p => p.Grad!.ToArray()).ToList();
        for (int i = 0; i < first.Count; i++)
            for (int j = 0; j < first[i].Length; j++)
                Assert.Equal(2 * first[i][j], second[i][j], Math.Abs(first[i][j]) * 1e-5 + 1e-7);
        Assert.Contains(first, g => g.Any(v => v != 0f));
        Expect.Throws<InvalidOperationException>(() => loss.Backward(), "already freed", "retainGraph: true");
    }

    [Fact]
    public void BackwardNeverFreesOrChangesTheCallersGradient()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(new[] { 1f, 2f });
        x.RequiresGrad = true;
        var y = x.AddScalar(1f).Add(x.MulScalar(1f));
        var seed = Tensor.FromArray(new[] { 0.5f, 0.25f });
        y.Backward(seed);
        Assert.False(seed.IsDisposed);
        Assert.Equal(new[] { 0.5f, 0.25f }, seed.ToArray());
        Assert.Equal(new[] { 1f, 0.5f }, x.Grad!.ToArray());
        Assert.NotSame(seed, x.Grad);
        x.Grad.Dispose();
    }

    [Fact]
    public void ProfileAttributesBytesToOpsAndTheirBackward()
    {
        // The generic im2col path, whose columns are tensors (the CPU conv family's per-thread scratch is not).
        bool generic = Tensor.GenericConvOnly;
        Tensor.GenericConvOnly = true;
        using var restore = new Restore(() => Tensor.GenericConvOnly = generic);
        using var scope = TensorScope.Begin();
        using var prof = MemoryProfile.Start();
        var x = Tensor.Randn(new[] { 2, 3, 8, 8 }, new Generator(1), Device.Cpu);
        x.RequiresGrad = true;
        var w = Tensor.Randn(new[] { 4, 3, 3, 3 }, new Generator(2), Device.Cpu);
        w.RequiresGrad = true;
        var y = Tensor.Conv2d(x, w, padding: (1, 1));
        y.Sum().Backward();
        var ops = prof.Ops.ToDictionary(o => o.Op);
        // conv2d made its output and temporaries (columns, GEMM result); of those only the output is still alive.
        Assert.Equal(4L * 2 * 4 * 8 * 8, ops["conv2d"].LiveBytes);
        Assert.True(ops["conv2d"].AllocatedBytes > ops["conv2d"].LiveBytes);
        Assert.True(ops.ContainsKey("conv2d.backward"), string.Join(", ", ops.Keys));
        Assert.Equal(prof.AllocatedBytes, prof.Ops.Sum(o => o.AllocatedBytes));
        Assert.Equal(prof.LiveBytes, prof.Ops.Sum(o => o.LiveBytes));
        Assert.Equal(prof.PeakBytes, prof.Ops.Sum(o => o.LiveAtPeakBytes));
        Assert.Contains("conv2d", prof.Format());
        x.Grad!.Dispose(); w.Grad!.Dispose();
    }

    [Fact]
    public void ProfileCountsOnlyItsOwnThreadAndStopsWhenDisposed()
    {
        using var scope = TensorScope.Begin();
        var prof = MemoryProfile.Start();
        var a = Tensor.Zeros(new[] { 1000 });
        var other = new Thread(() => { using var s = TensorScope.Begin(); Tensor.Zeros(new[] { 5000 }); });
        other.Start();
        Assert.True(other.Join(10000));
        Assert.Equal(4000, prof.LiveBytes);
        prof.Dispose();
        Assert.Null(MemoryProfile.Current);
        Tensor.Zeros(new[] { 100 });
        Assert.Equal(4000, prof.AllocatedBytes);
        a.Dispose();
        Assert.Equal(0, prof.LiveBytes);
        Assert.Equal(4000, prof.PeakBytes);
    }

    // Runs an action when disposed (restores a switch a test changed).
    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
