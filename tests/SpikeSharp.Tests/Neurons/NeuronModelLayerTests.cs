using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Neurons;

/// <summary>The CubaLif and Li layers: streaming, parameter range under training, state dict names, bad input.</summary>
public class NeuronModelLayerTests
{
    [Fact]
    public void StreamingInChunksEqualsOneCall()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 10 * 2 * 3).Select(i => (float)Math.Sin(i) + 0.4f).ToArray(), new[] { 10, 2, 3 });
        using var whole = new CubaLif(features: 3);
        using var chunked = new CubaLif(features: 3);
        var a = whole.Forward(x).ToArray();
        var b = chunked.Forward(x.Narrow(0, 0, 4)).ToArray().Concat(chunked.Forward(x.Narrow(0, 4, 6)).ToArray()).ToArray();
        Assert.Equal(a, b);
        Assert.Equal(whole.State[1]!.ToArray(), chunked.State[1]!.ToArray());
    }

    [Fact]
    public void DecaysStayInsideTheUnitIntervalUnderAggressiveTraining()
    {
        using var cuba = new CubaLif(decay: 0.999f, synapseDecay: 0.001f);
        using var li = new Li(decay: 0.5f);
        var opt = new Adam(cuba.Parameters().Concat(li.Parameters()), lr: 5f);
        var x = Tensor.FromArray(Enumerable.Range(0, 8 * 4).Select(i => (i % 3) * 0.7f).ToArray(), new[] { 8, 4, 1 });
        for (int step = 0; step < 20; step++)
        {
            using var scope = TensorScope.Begin();
            cuba.ResetState(); li.ResetState();
            var loss = (li.Forward(cuba.Forward(x)) - 3f).Square().Mean();
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
        foreach (var v in cuba.ParameterValues()[..2].Concat(li.ParameterValues()).SelectMany(t => t.ToArray()))
            Assert.InRange(v, float.Epsilon, 1f);
    }

    [Fact]
    public void StateDictNamesLogitsAndFixedValues()
    {
        using var learn = new CubaLif(decay: 0.8f);
        Assert.Equal(new[] { "decay_logit", "synapse_decay_logit", "threshold" }, learn.StateDict().Keys.ToArray());
        Assert.Equal(0.8f, learn.ParameterValues()[0].Item(), 5);
        using var fixedLi = new Li(decay: 1f, learnable: false);
        Assert.Equal(new[] { "decay" }, fixedLi.StateDict().Keys.ToArray());
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CubaLif(decay: 1f));
        Assert.Equal("decay", e.ParamName);
        Assert.Contains("learnable decay must be in (0, 1)", e.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => new Li(decay: 1.5f, learnable: false));
        Assert.Contains("decay must be in (0, 1]", e2.Message);
        using var layer = new Li();
        layer.Forward(Tensor.Zeros(new[] { 2, 3, 4 }));
        var e3 = Assert.Throws<InvalidOperationException>(() => layer.Forward(Tensor.Zeros(new[] { 2, 5, 4 })));
        Assert.Contains("call ResetState() when the batch changes", e3.Message);
        layer.TrackFiringRate = true;
        layer.ResetState();
        layer.Forward(Tensor.Ones(new[] { 2, 5, 4 }));
        Assert.Equal(1.45f, layer.FiringRate!.Item(), 5); // mean of v = 1, 1.9 over two steps
    }
}
