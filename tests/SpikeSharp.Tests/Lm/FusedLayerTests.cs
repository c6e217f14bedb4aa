using SpikeSharp.Attention;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Lm;

/// <summary>The fused layers against the same math composed from primitive ops, differentiated by the tape.</summary>
public class FusedLayerTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    internal static T Child<T>(Module m, string name) where T : Module => (T)m.NamedChildren().First(c => c.Name == name).Module;

    // Linear (matmul + broadcast add) then the LIF function.
    internal static Tensor LinearLifRef(LinearLif l, Tensor x) =>
        SpikingFunctions.Lif(Tensor.Linear(x, l.Weight, l.Bias), null, l.Decay(), l.Threshold, l.Options).Spikes;

    internal static Tensor AttentionRef(SpikingSelfAttention a, Tensor x)
    {
        int t = x.Size(0);
        var q = LinearLifRef(a.Query, x); var k = LinearLifRef(a.Key, x); var v = LinearLifRef(a.Value, x);
        var one = q.Shape; one[0] = 1;
        Tensor s = Tensor.Zeros(one, x.Device);
        var outs = new List<Tensor>();
        for (int i = 0; i < t; i++)
        {
            s = s.Add(k.Narrow(0, i, 1).Mul(v.Narrow(0, i, 1)));
            outs.Add(q.Narrow(0, i, 1).Mul(s));
        }
        return Tensor.Linear(Tensor.Cat(outs, 0), a.Projection.Weight, a.Projection.Bias);
    }

    internal static Tensor BlockRef(SpikingTransformerBlock b, Tensor x)
    {
        var ln1 = Child<LayerNorm>(b, "ln1"); var ln2 = Child<LayerNorm>(b, "ln2"); var fc2 = Child<Linear>(b, "fc2");
        var p = b.NamedParameters().ToDictionary(e => e.Name, e => e.Param);
        x = x.Add(AttentionRef(b.Attention, ln1.Forward(x).Mul(p["attn_scale"])));
        var h = LinearLifRef(b.Hidden1, ln2.Forward(x).Mul(p["mlp_scale"]));
        return x.Add(Tensor.Linear(h, fc2.Weight, fc2.Bias));
    }

    private static void CompareGradients(Module m, Tensor x, Func<Tensor, Tensor> fused, Func<Tensor, Tensor> reference, int seed)
    {
        using var scope = TensorScope.Begin();
        x.RequiresGrad = true;
        var spiking = m.NamedModules().Select(e => e.Module).OfType<LinearLif>().ToList();
        foreach (var l in spiking) l.TrackFiringRate = true;
        var yf = fused(x);
        foreach (var l in spiking)
        {
            // The comparison means something only if the neurons both fire and stay silent.
            float rate = l.FiringRate!.Item();
            Assert.True(rate > 0.01f && rate < 0.99f, $"firing rate {rate} of a {l.InFeatures}→{l.OutFeatures} layer");
            l.TrackFiringRate = false;
        }
        var w = GradCheck.Rand(x.Device, seed, yf.Shape);
        yf.Mul(w).Sum().Backward();
        var fusedGrads = m.NamedParameters().ToDictionary(p => p.Name, p => p.Param.Grad!.ToArray());
        var fusedGx = x.Grad!.ToArray();
        m.ZeroGrad(setToNone: true); x.Grad = null;
        m.ResetState();

        var yr = reference(x);
        Assert.True(Attention.CausalAccumulationTests.RelErr(yf.ToArray(), yr.ToArray()) < 1e-5, "forward output");
        yr.Mul(w).Sum().Backward();
        Assert.True(Attention.CausalAccumulationTests.RelErr(fusedGx, x.Grad!.ToArray()) < 1e-5, "grad x");
        foreach (var (name, p) in m.NamedParameters())
        {
            var err = Attention.CausalAccumulationTests.RelErr(fusedGrads[name], p.Grad!.ToArray());
            Assert.True(err < 1e-5, $"grad {name}: rel err {err:E2}");
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void LinearLifMatchesLinearThenLif(string dev)
    {
        var d = Device.Parse(dev);
        using var l = new LinearLif(6, 10, threshold: 0.3f, gen: new Generator(3), device: d);
        var x = GradCheck.Rand(d, 11, 37, 3, 6);
        CompareGradients(l, x, l.Forward, xx => LinearLifRef(l, xx), 12);
    }

    [Theory, MemberData(nameof(Devices))]
    public void AttentionMatchesUnfused(string dev)
    {
        var d = Device.Parse(dev);
        using var a = new SpikingSelfAttention(8, 2, gen: new Generator(4), device: d);
        foreach (var l in new[] { a.Query, a.Key, a.Value }) l.Threshold.Backend.Fill(l.Threshold.Buf, 0.2f);
        var x = GradCheck.Rand(d, 21, 35, 2, 8);
        CompareGradients(a, x, a.Forward, xx => AttentionRef(a, xx), 22);
    }

    [Theory, MemberData(nameof(Devices))]
    public void BlockMatchesUnfused(string dev)
    {
        var d = Device.Parse(dev);
        using var b = new SpikingTransformerBlock(8, 2, mlpRatio: 2, gen: new Generator(5), device: d);
        var x = GradCheck.Rand(d, 31, 33, 2, 8);
        CompareGradients(b, x, b.Forward, xx => BlockRef(b, xx), 32);
    }

    [Fact]
    public void LinearLifKeepsMembraneAcrossCalls()
    {
        using var scope = TensorScope.Begin();
        using var l = new LinearLif(4, 5, threshold: 0.4f, gen: new Generator(6));
        var x = GradCheck.Rand(Device.Cpu, 41, 12, 2, 4);
        var full = l.Forward(x).ToArray();
        l.ResetState();
        var parts = Tensor.Cat(new[] { l.Forward(x.Narrow(0, 0, 5)), l.Forward(x.Narrow(0, 5, 7)) }, 0).ToArray();
        Assert.Equal(full, parts);
        Assert.Throws<InvalidOperationException>(() => l.Forward(GradCheck.Rand(Device.Cpu, 42, 3, 3, 4)));
    }
}
