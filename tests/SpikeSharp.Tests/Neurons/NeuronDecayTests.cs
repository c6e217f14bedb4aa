using SpikeSharp.IO;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Neurons;

/// <summary>Learnable decays are logits (λ = sigmoid(w)): they cannot leave [0, 1], their gradient is chained through
/// the sigmoid, and checkpoints that stored λ itself still load.</summary>
public class NeuronDecayTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    private static float Sigmoid(float w) => 1f / (1f + MathF.Exp(-w));

    // Every learnable decay of every layer, read back as values.
    private static IEnumerable<(string Name, Func<Tensor> Values)> Decays(Module m) =>
        m.NamedModules().SelectMany(e => e.Module switch
        {
            Lif l => new[] { (e.Name + " decay", (Func<Tensor>)l.Decay) },
            Plif p => new[] { (e.Name + " decay", (Func<Tensor>)p.Decay) },
            Alif a => new[] { (e.Name + " decay", (Func<Tensor>)a.Decay), (e.Name + " decayA", a.DecayA) },
            LinearLif f => new[] { (e.Name + " decay", (Func<Tensor>)f.Decay) },
            _ => Array.Empty<(string, Func<Tensor>)>(),
        });

    [Fact]
    public void AdamCannotPushALearnableDecayOutOfRange()
    {
        // The issue's reproduction: from 0.999 one Adam step at lr 0.05 took a directly learnt decay to 1.049 and the
        // next forward threw "decay[0] = … is outside (0, 1]". The loss rewards spikes, so every decay is pushed up.
        using var scope = TensorScope.Begin();
        var d = Device.Cpu;
        var net = new Sequential(new Lif(decay: 0.999f, device: d), new Plif(4, decay: 0.999f, device: d),
            new Alif(decay: 0.999f, decayA: 0.999f, device: d),
            new LinearLif(4, 4, decay: 0.999f, gen: new Generator(1), device: d));
        var opt = new Adam(net.NamedParameters(), lr: 0.05f);
        var x = Tensor.Randn(new[] { 16, 3, 4 }, new Generator(2), d, 0.3f, 0.6f);
        for (int step = 0; step < 40; step++)
        {
            using var s = TensorScope.Begin();
            net.ResetState();
            var loss = net.Forward(x).Sum().Neg();
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
        foreach (var (name, values) in Decays(net))
        {
            var v = values().ToArray();
            Assert.All(v, e => Assert.True(e > 0f && e <= 1f, $"{name} = {e}"));
            Assert.True(v.Max() > 0.999f, $"{name} was not pushed up: {v.Max()}"); // a direct λ would have passed 1
        }
        net.ResetState();
        Assert.Equal(new[] { 16, 3, 4 }, net.Forward(x).Shape); // and the next forward runs
        opt.Dispose(); net.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void DecayGradientIsChainedThroughTheSigmoid(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { 9, 2, 3 }, new Generator(5), d, 0.5f, 0.8f);
        var weights = Tensor.Randn(new[] { 9, 2, 3 }, new Generator(6), d);

        // A layer against the functional op fed the same decay values as a leaf: ∂L/∂w = ∂L/∂λ · λ(1 − λ).
        void Check(SpikingLayer layer, string logit, Func<Tensor, Tensor> reference, float[] lambda)
        {
            layer.Forward(x).Mul(weights).Sum().Backward();
            var gw = layer.NamedParameters().Single(p => p.Name == logit).Param.Grad!.ToArray();
            var decay = Tensor.FromArray(lambda, null, d); decay.RequiresGrad = true;
            reference(decay).Mul(weights).Sum().Backward();
            var gl = decay.Grad!.ToArray();
            Assert.Contains(gl, g => Math.Abs(g) > 1e-3f);
            for (int i = 0; i < gw.Length; i++)
                Assert.Equal(gl[i] * lambda[i] * (1 - lambda[i]), gw[i], 1e-5f);
        }

        var th = Tensor.Ones(new[] { 1 }, d);
        var lif = new Lif(decay: 0.7f, device: d);
        float[] l1 = lif.Decay().ToArray();
        Check(lif, "decay_logit", dec => SpikingFunctions.Lif(x, null, dec, th).Spikes, l1);
        var plif = new Plif(3, decay: 0.6f, device: d);
        float[] l3 = plif.Decay().ToArray();
        Check(plif, "decay_logit", dec => SpikingFunctions.Plif(x, null, dec, Tensor.Ones(new[] { 3 }, d)).Spikes, l3);
        var alif = new Alif(decay: 0.8f, decayA: 0.9f, device: d);
        float[] la = alif.DecayA().ToArray();
        Check(alif, "decay_a_logit", da => SpikingFunctions.Alif(x, null, null, alif.Decay().Detach(), th,
            Tensor.Full(new[] { 1 }, 0.2f, DType.Float32, d), da).Spikes, la);
        lif.Dispose(); plif.Dispose(); alif.Dispose();
    }

    [Fact]
    public void DecayReturnsTheDecayValues()
    {
        using var scope = TensorScope.Begin();
        var d = Device.Cpu;
        using var lif = new Lif(decay: 0.8f, device: d);
        Assert.Equal(0.8f, lif.Decay().Item(), 1e-6f);
        var logit = lif.NamedParameters().Single(p => p.Name == "decay_logit").Param;
        Assert.Equal(MathF.Log(0.8f / 0.2f), logit.Item(), 1e-5f);
        Assert.True(lif.Decay().RequiresGrad);
        using var plif = new Plif(3, decay: 0.25f, device: d);
        Assert.All(plif.Decay().ToArray(), v => Assert.Equal(0.25f, v, 1e-6f));
        using var alif = new Alif(decay: 0.5f, decayA: 0.95f, device: d);
        Assert.Equal(0.95f, alif.DecayA().Item(), 1e-6f);
        using var ll = new LinearLif(2, 2, decay: 0.3f, gen: new Generator(1), device: d);
        Assert.Equal(0.3f, ll.Decay().Item(), 1e-6f);
        // Fixed decays stay direct, 1 included; the returned view is the caller's to free, the layer keeps its buffer.
        using var fixedLif = new Lif(decay: 1f, learnable: false, device: d);
        var view = fixedLif.Decay();
        Assert.Equal(1f, view.Item());
        view.Dispose();
        Assert.Equal(1f, fixedLif.Decay().Item());
        using var fixedLl = new LinearLif(2, 2, decay: 1f, learnable: false, gen: new Generator(1), device: d);
        Assert.Equal(1f, fixedLl.Decay().Item());
    }

    [Fact]
    public void InitialDecaysOutsideTheirRangeAreRefusedClearly()
    {
        var d = Device.Cpu;
        var one = Assert.Throws<ArgumentOutOfRangeException>(() => new Lif(decay: 1f, device: d));
        Assert.Equal("decay", one.ParamName);
        Assert.Contains("a learnable decay must be in (0, 1), got 1", one.Message);
        Assert.Contains("learnable: false", one.Message);
        var a = Assert.Throws<ArgumentOutOfRangeException>(() => new Alif(decayA: 1f, device: d));
        Assert.Equal("decayA", a.ParamName);
        Assert.Contains("Alif: a learnable decayA must be in (0, 1), got 1", a.Message);
        var p = Assert.Throws<ArgumentOutOfRangeException>(() => new Plif(2, decay: 1.5f, device: d));
        Assert.Contains("Plif: a learnable decay must be in (0, 1), got 1.5", p.Message);
        var f = Assert.Throws<ArgumentOutOfRangeException>(() => new Lif(decay: -0.1f, learnable: false, device: d));
        Assert.Contains("Lif: decay must be in [0, 1], got -0.1", f.Message);
        var ll = Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLif(2, 2, decay: 0f, device: d));
        Assert.Equal("decay", ll.ParamName);
        Assert.Contains("LinearLif: a learnable decay must be in (0, 1), got 0", ll.Message);
    }

    private static Sequential Net(Device d) => new(new MultiStep(new Linear(4, 6, gen: new Generator(3), device: d)),
        new Lif(decay: 0.9f, device: d), new Plif(6, decay: 0.5f, device: d), new Alif(device: d),
        new LinearLif(6, 5, gen: new Generator(4), device: d));

    // The keys and values SpikeSharp wrote before learnable decays became logits.
    private static string OldKey(string key) => key.Replace("decay_a_logit", "decay_a").Replace("decay_logit", "decay");

    [Fact]
    public void CheckpointsThatStoredTheDecayStillLoadAndResume()
    {
        using var scope = TensorScope.Begin();
        var d = Device.Cpu;
        var dir = Path.Combine(Path.GetTempPath(), "spikesharp-old-decay-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            // A trained network and its Adam state, written in the old layout: "decay" holding λ (two elements of the
            // PLIF's outside (0, 1), as the runs that failed saved them), the optimiser's moments under the old names.
            var net = Net(d);
            var x = Tensor.Randn(new[] { 5, 2, 4 }, new Generator(8), d, 0.5f, 1f);
            var opt = new Adam(net.NamedParameters(), lr: 0.01f);
            net.Forward(x).Sum().Backward(); opt.Step();
            var saved = new Dictionary<string, float[]>();
            var model = new List<SafeTensorEntry>();
            foreach (var (k, t) in net.StateDict())
            {
                var v = t.ToArray();
                if (k != OldKey(k)) v = v.Select(Sigmoid).ToArray();
                if (k == "2.decay_logit") { v[1] = 1.011336f; v[2] = -0.02f; }
                saved[OldKey(k)] = v;
                model.Add(SafeTensorEntry.FromFloat(OldKey(k), v, t.Shape));
            }
            var st = opt.StateDict();
            var meta = new Dictionary<string, string> { ["checkpoint_id"] = "old", ["epoch"] = "3" };
            foreach (var (k, v) in st.Scalars)
                meta["optim." + OldKey(k)] = v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            var moments = st.Tensors.Select(kv => SafeTensorEntry.FromFloat("optim." + OldKey(kv.Key), kv.Value.ToArray(),
                kv.Value.Shape));
            SafeTensors.Save(Path.Combine(dir, Checkpoint.TrainerFile), moments, meta);
            SafeTensors.Save(Path.Combine(dir, Checkpoint.ModelFile), model, meta);

            var net2 = Net(d);
            var opt2 = new Adam(net2.NamedParameters(), lr: 0.01f);
            var loaded = Checkpoint.Load(dir, net2, opt2);
            Assert.Equal("3", loaded.Metadata["epoch"]);
            var layers = net2.NamedChildren().Select(c => c.Module).ToArray();
            float[] Near(float[] v) => v.Select(e => Math.Clamp(e, 1e-6f, 1 - 1e-6f)).ToArray();
            AssertClose(Near(saved["1.decay"]), ((Lif)layers[1]).Decay().ToArray());
            AssertClose(Near(saved["2.decay"]), ((Plif)layers[2]).Decay().ToArray());
            Assert.Equal(0.999999f, ((Plif)layers[2]).Decay().ToArray()[1], 1e-7f); // 1.011 clamped just inside
            AssertClose(Near(saved["3.decay_a"]), ((Alif)layers[3]).DecayA().ToArray());
            AssertClose(Near(saved["4.decay"]), ((LinearLif)layers[4]).Decay().ToArray());
            Assert.Equal(saved["1.threshold"], ((Lif)layers[1]).Threshold.ToArray());
            // The moments of re-parametrised decays are dropped (fresh statistics); every other parameter's are kept.
            var st2 = opt2.StateDict();
            Assert.DoesNotContain(st2.Tensors.Keys, k => k.Contains("decay"));
            const string weightMoment = "0.module.weight.exp_avg";
            Assert.Equal(st.Tensors[weightMoment].ToArray(), st2.Tensors[weightMoment].ToArray());
            Assert.Equal(1, st2.Scalars["1.threshold.step"]);
            Assert.Equal(0, st2.Scalars["1.decay_logit.step"]);
            // Training continues.
            net2.ResetState();
            net2.Forward(x).Sum().Backward(); opt2.Step();
            Assert.NotNull(net2.NamedParameters().Single(p => p.Name == "1.decay_logit").Param.Grad);
            opt.Dispose(); opt2.Dispose(); net.Dispose(); net2.Dispose();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void StateDictsMoveBetweenLearnableAndFixedDecays()
    {
        using var scope = TensorScope.Begin();
        var d = Device.Cpu;
        using var learnt = new Lif(decay: 0.7f, device: d);
        using var fixedOne = new Lif(decay: 0.2f, learnable: false, device: d);
        fixedOne.LoadStateDict(learnt.StateDict());
        Assert.Equal(0.7f, fixedOne.Decay().Item(), 1e-6f);
        using var again = new Lif(decay: 0.5f, device: d);
        again.LoadStateDict(fixedOne.StateDict());
        Assert.Equal(0.7f, again.Decay().Item(), 1e-6f);
        // A NaN saved decay cannot be mapped to a logit: refused with the key named.
        var bad = new Dictionary<string, Tensor>
        {
            ["decay"] = Tensor.FromArray(new[] { float.NaN }, null, d), ["threshold"] = Tensor.Ones(new[] { 1 }, d),
        };
        var ex = Assert.Throws<ArgumentException>(() => again.LoadStateDict(bad));
        Assert.Contains("'decay' cannot be loaded into 'decay_logit': decay[0] is NaN", ex.Message);
        Assert.Equal(0.7f, again.Decay().Item(), 1e-6f);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 2e-6f);
    }
}
