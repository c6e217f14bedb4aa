using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

public class NeuronLayerTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void LayersStreamTrainAndReportRates(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { 12, 2, 3, 2 }, new Generator(4), d, 0.5f, 0.8f);
        var layers = new global::SpikeSharp.Nn.SpikingLayer[]
        {
            new global::SpikeSharp.Nn.Lif(device: d) { StoreTraces = true }, new global::SpikeSharp.Nn.If(device: d), new global::SpikeSharp.Nn.Plif(6, device: d), new global::SpikeSharp.Nn.Alif(device: d),
        };
        foreach (var layer in layers)
        {
            var whole = layer.Forward(x).ToArray();
            layer.ResetState();
            var a = layer.Forward(x.Narrow(0, 0, 5));
            var b = layer.Forward(x.Narrow(0, 5, 7));
            Assert.Equal(whole, Tensor.Cat(new[] { a, b }, 0).ToArray());
            Assert.Equal(new[] { 2, 3, 2 }, layer.State!.Shape);
            float rate = b.ToArray().Average();
            Assert.Equal(rate, layer.FiringRate, 5);
            b.Sum().Backward();
            foreach (var (name, p) in layer.NamedParameters())
                Assert.True(p.Grad != null, $"{layer.GetType().Name}.{name} got no gradient");
        }
        Assert.Equal(new[] { 7, 2, 3, 2 }, layers[0].Trace!.Shape);
        Assert.Null(layers[1].Trace);
        foreach (var l in layers) l.Dispose();
    }

    [Fact]
    public void FailedCallLeavesStateUntouched()
    {
        using var scope = TensorScope.Begin();
        using var lif = new global::SpikeSharp.Nn.Lif(device: Device.Cpu);
        lif.Forward(Tensor.Ones(new[] { 3, 2, 4 }, Device.Cpu));
        var before = lif.State!.ToArray();
        var bad = Tensor.Full(new[] { 3, 2, 4 }, float.PositiveInfinity, DType.Float32, Device.Cpu);
        Assert.Throws<ArgumentException>(() => lif.Forward(bad));
        Assert.Equal(before, lif.State!.ToArray());
        using var plif = new global::SpikeSharp.Nn.Plif(5, device: Device.Cpu);
        Assert.Contains("features", Assert.Throws<ArgumentException>(() => plif.Forward(Tensor.Ones(new[] { 3, 2, 4 }, Device.Cpu))).Message);
    }
}
