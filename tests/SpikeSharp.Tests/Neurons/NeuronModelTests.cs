using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

/// <summary>LIF written as an <see cref="INeuronModel"/>: the generic walk must agree with the tuned LIF kernels.</summary>
public struct LifAsModel : INeuronModel
{
    public static string Name => "lif_model";
    public static int StateSize => 1;
    public static NeuronParamSpec[] Parameters => [new("decay", true), new("threshold", false)];
    public static bool Spiking => true;

    public static float Step(ref NeuronState s, in NeuronParamSet p, float x, in StepConfig c)
    {
        float h = p.P0 * s.S0 + x;
        float spike = h >= p.P1 ? 1f : 0f;
        s.S0 = c.Reset(h, spike, p.P1);
        return spike;
    }

    public static float Distance(in NeuronState pre, in NeuronParamSet p, float x) => p.P0 * pre.S0 + x - p.P1;

    public static float StepBackward(in NeuronState pre, in NeuronParamSet p, float x, in StepConfig c,
        float sg, float gOut, ref NeuronState g, ref NeuronParamSet gp)
    {
        float h = p.P0 * pre.S0 + x, s = h >= p.P1 ? 1f : 0f;
        float dvdh = c.Soft != 0 ? 1f : 1f - s, dvds = c.Soft != 0 ? -p.P1 : c.VReset - h, dvdth = c.Soft != 0 ? -s : 0f;
        float gSpike = c.DetachReset != 0 ? gOut : gOut + g.S0 * dvds;
        float gh = gSpike * sg + g.S0 * dvdh;
        gp.P0 += gh * pre.S0;
        gp.P1 += g.S0 * dvdth - gSpike * sg;
        g.S0 = p.P0 * gh;
        return gh;
    }
}

/// <summary>
/// The generic neuron-model path (<see cref="NeuronModels"/>): CubaLIF and LI against autograd through an unfused
/// composition of primitive ops, on every device; LIF as a model against the tuned LIF kernels.
/// </summary>
public class NeuronModelTests
{
    public enum Model { CubaLif, Li, LifAsModel }

    public static IEnumerable<object[]> Cases() =>
        from d in TestDevices.Names
        from m in Enum.GetValues<Model>()
        select new object[] { d[0], m };

    [Theory, MemberData(nameof(Cases))]
    public void GradientsMatchUnfused(string dev, Model model)
    {
        var d = Device.Parse(dev);
        foreach (var reset in new[] { ResetMode.Hard, ResetMode.Soft })
            foreach (var detach in new[] { true, false })
                foreach (var (T, B, perFeature) in new[] { (13, 3, true), (1, 2, false), (40, 2, false) })
                {
                    var o = new SpikingOptions
                    {
                        Surrogate = SurrogateKind.Sigmoid, Alpha = 3f, Reset = reset, DetachReset = detach,
                        VReset = reset == ResetMode.Hard ? 0.1f : 0f,
                    };
                    double err = Compare(d, model, o, T, B, F: 5, perFeature, seed: T * 7 + B);
                    Assert.True(err < 1e-5, $"{model} {reset} detach={detach} T={T}: rel err {err:E2}");
                    if (model == Model.Li) break; // LI has no reset: one case per shape
                }
    }

    [Theory, MemberData(nameof(Devices))]
    public void LifAsModelMatchesTunedKernels(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var rnd = new Random(5);
        float[] R(int n, float lo, float hi) => Enumerable.Range(0, n).Select(_ => lo + (float)rnd.NextDouble() * (hi - lo)).ToArray();
        var x = Tensor.FromArray(R(21 * 4 * 6, -0.3f, 1.2f), new[] { 21, 4, 6 }, d);
        var decay = Tensor.FromArray(R(6, 0.5f, 0.95f), new[] { 6 }, d);
        var th = Tensor.FromArray(R(6, 0.7f, 1.1f), new[] { 6 }, d);
        var tuned = SpikingFunctions.Plif(x, null, decay, th);
        var generic = NeuronModels.Run<LifAsModel>(x, null, new[] { decay, th });
        Assert.Equal(tuned.Spikes.ToArray(), generic.Output.ToArray());
        Assert.Equal(tuned.V.ToArray(), generic.State[0].ToArray());
    }

    [Fact]
    public void CubaLifGoldenTrajectory()
    {
        // One neuron, λ_v = 0.5, λ_i = 0.5, θ = 1, hard reset to 0: i = 1, 1.5, 0.75; h = 1 → spike, v = 0;
        // h = 1.5 → spike; h = 0.75, no spike.
        var x = Tensor.FromArray(new[] { 1f, 1f, 0f }, new[] { 3, 1 });
        var r = NeuronModels.Run<CubaLifModel>(x, null,
            new[] { Tensor.FromArray(new[] { 0.5f }), Tensor.FromArray(new[] { 0.5f }), Tensor.FromArray(new[] { 1f }) });
        Assert.Equal(new[] { 1f, 1f, 0f }, r.Output.ToArray());
        Assert.Equal(0.75f, r.State[0].ToArray()[0], 6);
        Assert.Equal(0.75f, r.State[1].ToArray()[0], 6);
    }

    [Fact]
    public void BadInputsAreNamed()
    {
        var x = Tensor.Zeros(new[] { 4, 6 });
        var one = Tensor.FromArray(new[] { 0.5f });
        var e = Assert.Throws<ArgumentException>(() => NeuronModels.Run<CubaLifModel>(x, null, new[] { one, one }));
        Assert.Contains("expected 3 parameters (decay, synapse_decay, threshold), got 2", e.Message);
        var four = Tensor.FromArray(new[] { 0.5f, 0.5f, 0.5f, 0.5f });
        e = Assert.Throws<ArgumentException>(() => NeuronModels.Run<CubaLifModel>(x, null, new[] { four, one, one }));
        Assert.Contains("not a multiple of the parameters' length 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => NeuronModels.Run<LiModel>(x, new Tensor?[] { Tensor.Zeros(new[] { 5 }) }, new[] { one }));
        Assert.Contains("initial state 0 must be float32 with 6 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => NeuronModels.Run<LiModel>(x, new Tensor?[] { null, null }, new[] { one }));
        Assert.Contains("expected 1 initial state tensors, got 2", e.Message);
    }

    public static IEnumerable<object[]> Devices => TestDevices.Names;

    /// <summary>Max over all gradients of max|fused − ref| / scale (as in <see cref="NeuronGradTests"/>).</summary>
    private static double Compare(Device dev, Model model, SpikingOptions o, int T, int B, int F, bool perFeature, int seed)
    {
        using var scope = TensorScope.Begin();
        var rnd = new Random(seed);
        float[] R(int n, float lo, float hi) => Enumerable.Range(0, n).Select(_ => lo + (float)rnd.NextDouble() * (hi - lo)).ToArray();
        Tensor Leaf(float[] v, int[] shape, Device d) { var t = Tensor.FromArray(v, shape, d); t.RequiresGrad = true; return t; }
        int pf = perFeature ? F : 1;
        int K = model == Model.CubaLif ? 2 : 1;
        var specs = model switch
        {
            Model.CubaLif => CubaLifModel.Parameters, Model.Li => LiModel.Parameters, _ => LifAsModel.Parameters,
        };
        var xs = R(T * B * F, -0.4f, 1.1f);
        var s0s = Enumerable.Range(0, K).Select(_ => R(B * F, -0.2f, 0.8f)).ToArray();
        var ps = specs.Select(s => s.Decay ? R(pf, 0.55f, 0.95f) : R(pf, 0.7f, 1.1f)).ToArray();
        var wo = R(T * B * F, 0.2f, 1f);
        var ws = Enumerable.Range(0, K).Select(_ => R(B * F, 0.2f, 1f)).ToArray();
        int[] xShape = { T, B, F }, sShape = { B, F };

        float[][] Go(bool fused)
        {
            var d = fused ? dev : Device.Cpu;
            var x = Leaf(xs, xShape, d);
            var s0 = s0s.Select(v => Leaf(v, sShape, d)).ToArray();
            var prm = ps.Select(v => Leaf(v, new[] { pf }, d)).ToArray();
            Tensor output; Tensor[] state;
            if (fused)
            {
                var r = model switch
                {
                    Model.CubaLif => NeuronModels.Run<CubaLifModel>(x, s0, prm, o),
                    Model.Li => NeuronModels.Run<LiModel>(x, s0, prm, o),
                    _ => NeuronModels.Run<LifAsModel>(x, s0, prm, o),
                };
                (output, state) = (r.Output, r.State);
            }
            else (output, state) = Unfused(model, x, s0, prm, o);
            var loss = (output * Tensor.FromArray(wo, xShape, d)).Sum();
            for (int k = 0; k < K; k++) loss = loss + (state[k] * Tensor.FromArray(ws[k], sShape, d)).Sum();
            loss.Backward();
            return new[] { x }.Concat(s0).Concat(prm).Select(l => l.Grad?.ToArray() ?? new float[l.Numel]).ToArray();
        }

        var gf = Go(true);
        var gr = Go(false);
        double worst = 0;
        for (int i = 0; i < gf.Length; i++)
        {
            double scale = Math.Max(Math.Max(1e-6, gr[i].Max(Math.Abs)), gr[0].Max(Math.Abs));
            worst = Math.Max(worst, gf[i].Zip(gr[i], (p, q) => Math.Abs(p - q)).Max() / scale);
        }
        return worst;
    }

    private static (Tensor output, Tensor[] state) Unfused(Model model, Tensor x, Tensor[] s0, Tensor[] prm, SpikingOptions o)
    {
        int T = x.Size(0);
        var shape = x.Shape[1..];
        var alpha = Tensor.FromArray(new[] { o.Alpha }, new[] { 1 }, x.Device);
        Tensor v = s0[0], i = model == Model.CubaLif ? s0[1] : s0[0];
        var outs = new List<Tensor>();
        for (int t = 0; t < T; t++)
        {
            var xt = x.Narrow(0, t, 1).Reshape(shape);
            if (model == Model.Li)
            {
                v = v * prm[0] + xt;
                outs.Add(v);
                continue;
            }
            Tensor h, th;
            if (model == Model.CubaLif)
            {
                i = i * prm[1] + xt;
                h = v * prm[0] + i;
                th = prm[2];
            }
            else
            {
                h = v * prm[0] + xt;
                th = prm[1];
            }
            var s = UnfusedReference.Spike(h - th, alpha, o.Surrogate);
            var sr = o.DetachReset ? s.Detach() : s;
            v = o.Reset == ResetMode.Hard ? h * (1f - sr) + sr * o.VReset : h - th * sr;
            outs.Add(s);
        }
        var state = model == Model.CubaLif ? new[] { v, i } : new[] { v };
        return (Tensor.Stack(outs, 0), state);
    }
}
