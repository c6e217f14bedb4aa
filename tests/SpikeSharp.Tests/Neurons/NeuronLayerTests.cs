using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;

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
        var layers = new SpikingLayer[]
        {
            new Lif(device: d) { StoreTraces = true }, new If(device: d), new Plif(6, device: d), new Alif(device: d),
        };
        foreach (var layer in layers)
        {
            layer.TrackFiringRate = true;
            var whole = layer.Forward(x).ToArray();
            layer.ResetState();
            var a = layer.Forward(x.Narrow(0, 0, 5));
            var b = layer.Forward(x.Narrow(0, 5, 7));
            Assert.Equal(whole, Tensor.Cat(new[] { a, b }, 0).ToArray());
            Assert.Equal(new[] { 2, 3, 2 }, layer.State!.Shape);
            float rate = b.ToArray().Average();
            Assert.Equal(rate, layer.FiringRate!.Item(), 5);
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
        using var lif = new Lif(device: Device.Cpu);
        lif.Forward(Tensor.Ones(new[] { 3, 2, 4 }, Device.Cpu));
        var before = lif.State!.ToArray();
        var bad = Tensor.Full(new[] { 3, 2, 4 }, float.PositiveInfinity, DType.Float32, Device.Cpu);
        var ex = Assert.Throws<ArgumentException>(() => lif.Forward(bad));
        Assert.Equal("x", ex.ParamName);
        Assert.StartsWith("lif: x holds NaN or Inf values", ex.Message);
        Assert.Equal(before, lif.State!.ToArray());
        using var plif = new Plif(5, device: Device.Cpu);
        Assert.Contains("features", Assert.Throws<ArgumentException>(() => plif.Forward(Tensor.Ones(new[] { 3, 2, 4 }, Device.Cpu))).Message);
    }

    private static IEnumerable<(string Name, Func<bool, bool, Module> Make, Tensor X)> EveryLayer(Device d)
    {
        var x = Tensor.Randn(new[] { 6, 2, 4 }, new Generator(9), d, 0.6f, 0.8f);
        yield return ("Lif", (l, a) => new Lif(learnable: l, trainAlpha: a, device: d), x);
        yield return ("If", (l, a) => new If(learnable: l, trainAlpha: a, device: d), x);
        yield return ("Plif", (l, a) => new Plif(4, learnable: l, trainAlpha: a, device: d), x);
        yield return ("Alif", (l, a) => new Alif(learnable: l, trainAlpha: a, device: d), x);
        yield return ("LinearLif", (l, a) => new LinearLif(4, 4, threshold: 0.3f, learnable: l, trainAlpha: a,
            gen: new Generator(2), device: d), x);
    }

    [Fact]
    public void EveryLayerTakesLearnableAndTrainAlpha()
    {
        using var scope = TensorScope.Begin();
        foreach (var (name, make, x) in EveryLayer(Device.Cpu))
        {
            using var fixedOnes = make(false, false);
            // Fixed neuron parameters are buffers: only LinearLif's weight and bias remain trained.
            var trained = fixedOnes.NamedParameters().Select(p => p.Name).ToArray();
            Assert.Equal(name == "LinearLif" ? new[] { "weight", "bias" } : Array.Empty<string>(), trained);
            Assert.NotEmpty(fixedOnes.NamedBuffers());

            using var withAlpha = make(true, true);
            Assert.Contains("alpha", withAlpha.NamedParameters().Select(p => p.Name));
            withAlpha.Forward(x).Sum().Backward();
            var alpha = withAlpha.NamedParameters().Single(p => p.Name == "alpha").Param;
            Assert.True(alpha.Grad != null && alpha.Grad.Item() != 0f, $"{name}: α got no gradient");
        }
    }

    [Fact]
    public void FiringRateIsComputedOnlyWhenTracked()
    {
        using var scope = TensorScope.Begin();
        foreach (var (name, make, x) in EveryLayer(Device.Cpu))
        {
            using var m = make(true, false);
            var n = (INeuronLayer)m;
            Assert.False(n.TrackFiringRate);
            m.Forward(x);
            Assert.Null(n.FiringRate); // the hot path computes no rate
            n.TrackFiringRate = true;
            m.ResetState();
            var s = m.Forward(x);
            Assert.Equal(s.ToArray().Average(), n.FiringRate!.Item(), 5);
            n.TrackFiringRate = false;
            m.ResetState();
            m.Forward(x);
            Assert.True(n.FiringRate == null, $"{name}: an untracked call left a rate");
        }
    }

    [Fact]
    public void BatchShapeChangeWithoutResetThrowsOnEveryLayer()
    {
        using var scope = TensorScope.Begin();
        foreach (var (name, make, x) in EveryLayer(Device.Cpu))
        {
            using var m = make(true, false);
            m.Forward(x);
            var other = Tensor.Randn(new[] { 6, 3, 4 }, new Generator(1), Device.Cpu);
            var ex = Assert.Throws<InvalidOperationException>(() => m.Forward(other));
            Assert.Contains("call ResetState() when the batch changes", ex.Message);
            Assert.Contains("(2, 4)", ex.Message);
            m.ResetState();
            Assert.Equal(other.Shape, m.Forward(other).Shape);
        }
    }
}
