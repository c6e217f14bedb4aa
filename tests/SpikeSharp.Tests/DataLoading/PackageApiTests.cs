using SpikeSharp.Data;
using SpikeSharp.IO;

namespace SpikeSharp.Tests.DataLoading;

/// <summary>
/// The core members that SpikeSharp.Data and SpikeSharp.Training use now that they see only the public API, and the
/// encoders rewritten on public ops (bit-for-bit what the fused latency kernel computed).
/// </summary>
public class PackageApiTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // The former kernel's formula, the reference.
    private static int SpikeStep(float x, int steps)
    {
        if (!(x > 0.01f)) return -1;
        float c = x > 1f ? 1f : x;
        return (int)MathF.Floor((1f - c) * (steps - 1f) + 0.5f);
    }

    [Theory, MemberData(nameof(Devices))]
    public void LatencyMatchesTheFormulaAtTiesAndEdges(string dev)
    {
        var d = Device.Parse(dev);
        const int steps = 9;
        // Values whose (1 − x)(T − 1) + 0.5 is a whole number (ties), around the 0.01 floor, above 1, NaN.
        var xs = new List<float> { float.NaN, -1f, 0f, 0.01f, 0.0100001f, 0.02f, 1f, 1.5f, 1e9f };
        for (int k = 0; k <= 16; k++) xs.Add(1f - (k + 0.5f) / (steps - 1f) / 2f);
        for (int k = 0; k < 40; k++) xs.Add(k / 39f);
        using var scope = TensorScope.Begin();
        var s = Encoders.Latency(Tensor.FromArray(xs.ToArray(), new[] { xs.Count }, d), steps).ToArray();
        for (int i = 0; i < xs.Count; i++)
            for (int t = 0; t < steps; t++)
                Assert.True((t == SpikeStep(xs[i], steps) ? 1f : 0f) == s[t * xs.Count + i],
                    $"x = {xs[i]:R}, t = {t}: got {s[t * xs.Count + i]}, a spike at {SpikeStep(xs[i], steps)}");
    }

    [Fact]
    public void EncodersNameTheTensorThatIsNotFloat()
    {
        using var ids = Tensor.FromArray(new[] { 1, 2 }, new[] { 2 }, Device.Cpu);
        foreach (var kind in Enum.GetValues<EncodingKind>())
        {
            var e = Expect.Throws<ArgumentException>(() => Encoders.Encode(ids, 3, kind),
                "encode: expected a float32 tensor, got int32 (2); convert with To(DType.Float32)");
            Assert.Equal("x", e.ParamName);
        }
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => Encoders.Direct(null!, 2)).ParamName);
    }

    [Fact]
    public void DirectIsACopyOutsideTheGraph()
    {
        using var x = Tensor.FromArray(new[] { -0f, 2f }, new[] { 2 }, Device.Cpu);
        x.RequiresGrad = true;
        using var y = Encoders.Direct(x, 2);
        Assert.Equal(new[] { 2, 2 }, y.Shape);
        Assert.False(y.RequiresGrad);
        Assert.True(float.IsNegative(y.ToArray()[2]), "x · 1 keeps the sign of zero");
    }

    [Fact]
    public void UntrackLeavesTheTensorToItsOwner()
    {
        Tensor kept;
        using (var outer = TensorScope.Begin())
        using (var inner = TensorScope.Begin())
        {
            kept = Tensor.Zeros(new[] { 2 }, Device.Cpu);
            Assert.Equal(1, inner.Count);
            TensorScope.Untrack(kept);
            Assert.Equal(0, inner.Count);
            Assert.Equal(0, outer.Count);
        }
        Assert.False(kept.IsDisposed);
        Assert.False(kept.IsPersistent);
        kept.Dispose();
        Assert.Equal("t", Assert.Throws<ArgumentNullException>(() => TensorScope.Untrack(null!)).ParamName);
    }

    [Fact]
    public void DisposedHintEndsTheMessageOfAUseAfterDisposal()
    {
        var t = Tensor.Zeros(new[] { 3 }, Device.Cpu);
        Assert.Null(t.DisposedHint);
        t.DisposedHint = "its owner freed it";
        t.Dispose();
        Expect.Throws<ObjectDisposedException>(() => t.ToArray(),
            "(3) has been disposed and cannot be used: its owner freed it");
    }

    [Fact]
    public void AtomicFileStepAndFlushCheckTheirArguments()
    {
        Assert.Equal("description", Assert.Throws<ArgumentException>(() => AtomicFile.Step("")).ParamName);
        Assert.Equal("dir", Assert.Throws<ArgumentException>(() => AtomicFile.FlushDirectory("")).ParamName);
        var seen = new List<string>();
        AtomicFile.StepHook = seen.Add;
        try { AtomicFile.Step("rename a to b"); }
        finally { AtomicFile.StepHook = null; }
        AtomicFile.Step("not seen: no hook");
        Assert.Equal(new[] { "rename a to b" }, seen);
        AtomicFile.FlushDirectory(Path.GetTempPath()); // an existing directory: flushed, no error
        AtomicFile.FlushDirectory(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))); // passed over
    }
}
