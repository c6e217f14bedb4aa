using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

/// <summary>On GPU backends, bad neuron inputs are flagged on the device and reported at the next host read.</summary>
[Collection(SpikeSharp.Tests.Backends.SerialBackendTests.Name)]
public class DeviceFlagTests
{
    [Fact]
    public void NaNInputIsReportedAtTheNextHostRead()
    {
        var d = Device.IlgpuCpu;
        if (!TestDevices.All.Contains(d)) return;
        var data = Enumerable.Range(0, 37 * 40).Select(i => (float)Math.Sin(i)).ToArray();
        data[123] = float.NaN;
        using var x = Tensor.FromArray(data, new[] { 37, 40 }, d);
        using var decay = Tensor.Full(new[] { 1 }, 0.9f, DType.Float32, d);
        using var th = Tensor.Full(new[] { 1 }, 1f, DType.Float32, d);
        var r = SpikingFunctions.Lif(x, null, decay, th);
        var ex = Assert.Throws<InvalidOperationException>(() => r.Spikes.ToArray());
        Assert.Contains("NaN", ex.Message);
        // The flag is cleared once reported: a clean call afterwards reads normally.
        data[123] = 0f;
        using var x2 = Tensor.FromArray(data, new[] { 37, 40 }, d);
        Assert.Equal(37 * 40, SpikingFunctions.Lif(x2, null, decay, th).Spikes.ToArray().Length);
    }
}
