using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using SpikeSharp.Nn;

namespace SpikeSharp.Tests.Core;

// The op time profile and the launch counter: labels and counts of a tiny training step, boundaries, and the counter
// moving only while a scope is open. Both are per thread, so tests running in parallel do not disturb the counts.
public class OpProfileTests
{
    private static void ConvStep(Conv2d conv, Tensor x)
    {
        using var scope = TensorScope.Begin();
        conv.Forward(x).Sum().Backward();
        foreach (var p in conv.Parameters()) { p.Grad?.Dispose(); p.Grad = null; }
    }

    [Fact]
    public void TwoConvStepsYieldOneRowPerOpWithCountTwo()
    {
        var d = Device.Cpu;
        using var conv = new Conv2d(1, 2, 3, padding: 1, bias: false, gen: new Generator(1), device: d);
        using var x = Tensor.Rand(new[] { 2, 1, 6, 6 }, new Generator(2), d).Persist();
        ConvStep(conv, x); // first run outside the profile
        using var prof = OpProfile.Start(d);
        ConvStep(conv, x);
        ConvStep(conv, x);
        prof.Dispose();

        var ops = prof.Ops.ToDictionary(o => o.Op);
        // conv2d's labelled scope and its tape record are one run; sum's backward is a node of its own.
        Assert.Equal(new[] { "(other)", "conv2d", "conv2d.backward", "sum", "sum.backward" },
            ops.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, ops["conv2d"].Count);
        Assert.Equal(2, ops["conv2d.backward"].Count);
        Assert.Equal(2, ops["sum"].Count);
        Assert.Equal(2, ops["sum.backward"].Count);
        Assert.Equal(1, ops[OpProfile.Other].Count);
        Assert.True(prof.Synchronizes);
        foreach (var o in prof.Ops)
        {
            Assert.True(o.HostMs >= 0 && o.DeviceMs >= o.HostMs, $"{o.Op}: host {o.HostMs} ms, device {o.DeviceMs} ms");
        }
        Assert.True(ops["conv2d"].DeviceMs > 0 && ops["conv2d.backward"].DeviceMs > 0);
        // The CPU backend runs every primitive as a parallel loop: the conv's work issued launches.
        Assert.True(ops["conv2d"].Launches > 0 && ops["conv2d.backward"].Launches > 0);
        Assert.Equal(prof.Launches, prof.Ops.Sum(o => o.Launches));
        Assert.Equal(prof.TotalDeviceMs, prof.Ops.Sum(o => o.DeviceMs), 6);
        // Most device time first.
        var times = prof.Ops.Select(o => o.DeviceMs).ToArray();
        Assert.Equal(times.OrderByDescending(t => t), times);
        var lines = prof.Format(top: 2).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length); // totals, header, two ops
        Assert.StartsWith(prof.Ops[0].Op + " ", lines[2]);
    }

    [Fact]
    public void MarkGivesUnrecordedWorkItsOwnRowAndDisposeEndsTheProfile()
    {
        using var prof = OpProfile.Start();
        Thread.Sleep(30);
        OpProfile.Mark("host work");
        prof.Dispose();
        OpProfile.Mark("after"); // no profile active: nothing recorded anywhere
        var row = Assert.Single(prof.Ops, o => o.Op == "host work");
        Assert.Equal(1, row.Count);
        Assert.True(row.HostMs >= 25, $"host {row.HostMs} ms");
        Assert.False(prof.Synchronizes);
        Assert.DoesNotContain(prof.Ops, o => o.Op == "after");
        Assert.Null(OpProfile.Current);
    }

    [Fact]
    public void SecondProfileOnTheSameThreadIsRefused()
    {
        using var prof = OpProfile.Start();
        var e = Assert.Throws<InvalidOperationException>(() => OpProfile.Start());
        Assert.Equal("OpProfile.Start: a profile is already active on this thread; dispose it first (profiles do not "
            + "nest)", e.Message);
        Assert.Same(prof, OpProfile.Current);
    }

    [Fact]
    public void LaunchCounterCountsEachKernelAndCopyOnlyWhileOpen()
    {
        var be = BackendRegistry.Get(Device.IlgpuCpu);
        using var a = Tensor.Ones(new[] { 64 }, Device.IlgpuCpu).Persist();
        using var y = Tensor.Zeros(new[] { 64 }, Device.IlgpuCpu).Persist();
        be.Map(new AddOp(), a.Buf, a.Buf, y.Buf); // before: not counted
        var c = LaunchCounter.Start();
        be.Map(new AddOp(), a.Buf, a.Buf, y.Buf);
        be.Map(new AddOp(), y.Buf, a.Buf, y.Buf);
        be.Copy(y.Buf, a.Buf);
        Assert.Equal(3, c.Launches);
        c.Dispose();
        Assert.False(LaunchCounter.IsCounting);
        be.Map(new AddOp(), a.Buf, a.Buf, y.Buf);
        Assert.Equal(3, c.Launches);
        // y = 1 + 1, y += 1, a = y; then y = a + a: the launches ran.
        Assert.Equal(3f, a.ToArray<float>()[0]);
        Assert.Equal(6f, y.ToArray<float>()[0]);
    }

    [Fact]
    public void LaunchCounterCountsCpuLoopsPerThread()
    {
        var be = BackendRegistry.Get(Device.Cpu);
        using var a = Tensor.Ones(new[] { 1 << 16 }, Device.Cpu).Persist();
        using var y = Tensor.Zeros(new[] { 1 << 16 }, Device.Cpu).Persist();
        using var c = LaunchCounter.Start();
        be.Map(new AddOp(), a.Buf, a.Buf, y.Buf);
        long one = c.Launches;
        // Another thread's work is not this scope's.
        var other = new Thread(() => be.Map(new AddOp(), a.Buf, a.Buf, y.Buf));
        other.Start();
        other.Join();
        be.Map(new AddOp(), a.Buf, a.Buf, y.Buf);
        Assert.Equal(1, one);
        Assert.Equal(2, c.Launches);
    }
}
