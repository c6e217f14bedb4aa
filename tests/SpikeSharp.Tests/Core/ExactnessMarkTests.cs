using System.Reflection;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Neurons;
using SpikeSharp.Optim;
using SpikeSharp.Tests.Neurons;

namespace SpikeSharp.Tests.Core;

/// <summary>
/// <see cref="Tensor.IsBf16Exact"/>: which ops set, keep and drop the mark, and that a marked tensor always holds
/// values bfloat16 represents exactly, whatever public API is used on it.
/// </summary>
public class ExactnessMarkTests
{
    private static readonly Device D = Device.Cpu;

    // (T, B, F) spikes from the fused LIF: about half fire.
    private static Tensor Spikes(int t = 4, int b = 3, int f = 6, int seed = 1, Device? device = null)
    {
        var d = device ?? D;
        var x = Tensor.Rand(new[] { t, b, f }, new Generator((ulong)seed), d);
        return SpikingFunctions.Lif(x, null, Tensor.Scalar(0.5f, d), Tensor.Scalar(0.5f, d)).Spikes;
    }

    private static bool AllBf16Exact(Tensor t) =>
        t.ToArray().All(v => Bf16Bits.ToFloat(Bf16Bits.FromFloat(v)) == v || float.IsNaN(v));

    // Whenever a tensor is marked, its values must be exact in bfloat16: the one property that must never break.
    private static void AssertMarkIsTrue(Tensor t, string what)
    {
        if (t.IsBf16Exact) Assert.True(AllBf16Exact(t), $"{what}: marked but holds values bfloat16 cannot represent");
    }

    [Fact]
    public void TheMarkCannotBeSetThroughThePublicApi()
    {
        var p = typeof(Tensor).GetProperty(nameof(Tensor.IsBf16Exact), BindingFlags.Public | BindingFlags.Instance)!;
        Assert.True(p.GetMethod!.IsPublic);
        Assert.False(p.SetMethod!.IsPublic || p.SetMethod.IsFamily || p.SetMethod.IsFamilyOrAssembly,
            "the setter must be internal");
        using var scope = TensorScope.Begin();
        foreach (var t in new[]
        {
            Tensor.Ones(new[] { 3 }), Tensor.Zeros(new[] { 3 }), Tensor.FromArray(new[] { 0f, 1f, 1f }),
            Tensor.Bernoulli(Tensor.Full(new[] { 8 }, 0.5f)), Tensor.Rand(new[] { 4 }),
        })
            Assert.False(t.IsBf16Exact);
    }

    [Fact]
    public void InternalSetterRefusesNonFloatTensors()
    {
        using var scope = TensorScope.Begin();
        var i = Tensor.Zeros(new[] { 2 }, D, DType.Int32);
        Expect.Throws<InvalidOperationException>(() => i.IsBf16Exact = true, "IsBf16Exact", "int32");
        Assert.False(i.IsBf16Exact);
    }

    [Theory, MemberData(nameof(TestDevices.Names), MemberType = typeof(TestDevices))]
    public void FusedSpikingFunctionsMarkTheirSpikesOnly(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Rand(new[] { 5, 2, 4 }, new Generator(2), d);
        var decay = Tensor.Full(new[] { 4 }, 0.6f, DType.Float32, d);
        var th = Tensor.Full(new[] { 4 }, 0.4f, DType.Float32, d);
        var one = Tensor.Scalar(0.3f, d);
        var o = new SpikingOptions { ReturnMembrane = true };
        var results = new[]
        {
            SpikingFunctions.Lif(x, null, decay, th, o), SpikingFunctions.Plif(x, null, decay, th, o),
            SpikingFunctions.If(x, null, th, o), SpikingFunctions.Alif(x, null, null, decay, th, one, decay, o),
        };
        foreach (var r in results)
        {
            Assert.True(r.Spikes.IsBf16Exact);
            Assert.True(AllBf16Exact(r.Spikes));
            Assert.False(r.V.IsBf16Exact);
            Assert.False(r.H!.IsBf16Exact);
            Assert.False(r.A?.IsBf16Exact ?? false);
        }
        // With gradients too (the spikes are then a non-leaf on the tape).
        x.RequiresGrad = true;
        var g = SpikingFunctions.Lif(x, null, decay, th);
        Assert.True(g.Spikes.IsBf16Exact);
    }

    [Fact]
    public void NeuronModelsMarkOnlyTheLibrarysSpikingModels()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Rand(new[] { 6, 2, 3 }, new Generator(3));
        var p = new Func<float, Tensor>(v => Tensor.Scalar(v));
        var cuba = NeuronModels.Run<CubaLifModel>(x, null, new[] { p(0.7f), p(0.5f), p(0.3f) });
        Assert.True(cuba.Output.IsBf16Exact);
        Assert.All(cuba.State, s => Assert.False(s.IsBf16Exact));
        var li = NeuronModels.Run<LiModel>(x, null, new[] { p(0.7f) });
        Assert.False(li.Output.IsBf16Exact); // a readout: membrane values
        // A model from outside the library may declare Spiking and return anything: not trusted.
        var user = NeuronModels.Run<LifAsModel>(x, null, new[] { p(0.7f), p(0.3f) });
        Assert.False(user.Output.IsBf16Exact);
    }

    [Fact]
    public void ViewsAndRearrangementsKeepTheMark()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes();
        var kept = new (string, Tensor)[]
        {
            ("reshape", s.Reshape(-1, 6)), ("flatten", s.Flatten(1)), ("unsqueeze", s.Unsqueeze(0)),
            ("squeeze", s.Unsqueeze(1).Squeeze(1)), ("detach", s.Detach()), ("permute", s.Permute(2, 0, 1)),
            ("transpose", s.Transpose(0, 2)), ("T", s.Reshape(-1, 6).T()), ("narrow leading", s.Narrow(0, 1, 2)),
            ("narrow inner", s.Narrow(2, 1, 3)), ("narrow of permute", s.Permute(1, 0, 2).Narrow(1, 0, 2)),
        };
        foreach (var (what, t) in kept)
        {
            Assert.True(t.IsBf16Exact, $"{what} dropped the mark");
            AssertMarkIsTrue(t, what);
        }
    }

    [Fact]
    public void EveryOtherOpDropsTheMark()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes();
        var s2 = Spikes(seed: 9);
        var m = s.Reshape(-1, 6);
        var w = Tensor.Rand(new[] { 5, 6 }, new Generator(4));
        var dropped = new (string, Func<Tensor>)[]
        {
            ("add", () => s.Add(s2)), ("sub", () => s.Sub(s2)), ("mul", () => s.Mul(s2)),
            ("maximum", () => s.Maximum(s2)), ("div", () => s.Div(s2.AddScalar(1f))),
            ("affine", () => s.Affine(1f, 0f)),
            ("mul 1", () => s.MulScalar(1f)), ("add 0", () => s.AddScalar(0f)), ("neg", () => s.Neg()),
            ("abs", () => s.Abs()), ("relu", () => s.Relu()), ("clamp", () => s.Clamp(0f, 1f)),
            ("square", () => s.Square()), ("pow", () => s.Pow(2f)), ("exp", () => s.Exp()),
            ("sigmoid", () => s.Sigmoid()), ("tanh", () => s.Tanh()), ("sqrt", () => s.Sqrt()),
            ("sum", () => s.Sum(0)), ("mean", () => s.Mean(0)), ("max", () => s.Max(0)), ("min", () => s.Min(0)),
            ("var", () => s.Var(0)), ("softmax", () => s.Softmax()), ("clone", () => s.Clone()),
            ("to cpu", () => s.To(Device.Cpu)), ("to float16", () => s.To(DType.Float16)),
            ("cat", () => Tensor.Cat(new[] { s, s2 })), ("stack", () => Tensor.Stack(new[] { s, s2 })),
            ("where", () => Tensor.Where(s, s2, s)), ("gt", () => s.Gt(0.5f)), ("eq", () => s.Eq(s2)),
            ("index_select", () => s.IndexSelect(0, Tensor.FromArray(new[] { 0, 2 }))),
            ("matmul", () => Tensor.Matmul(m, m, false, true)), ("linear", () => Tensor.Linear(s, w)),
            ("dropout", () => Tensor.Dropout(s, 0.5f, true, new Generator(5))),
            ("max_pool", () => Tensor.MaxPool2d(s.Unsqueeze(0), (2, 2))),
            ("avg_pool", () => Tensor.AvgPool2d(s.Unsqueeze(0), (2, 2))),
            ("layer_norm", () => Tensor.LayerNorm(s, 1)), ("mse", () => Tensor.Mse(s, s2)),
        };
        foreach (var (what, op) in dropped)
        {
            var t = op();
            Assert.False(t.IsBf16Exact, $"{what} kept the mark");
        }
        // Spikes fed to a neuron are not spikes themselves; the new spikes are.
        var again = SpikingFunctions.Lif(s, null, Tensor.Scalar(0.5f), Tensor.Scalar(0.5f));
        Assert.True(again.Spikes.IsBf16Exact);
        Assert.False(again.V.IsBf16Exact);
        Assert.True(s.IsBf16Exact, "reading the spikes must not drop their mark");
    }

    [Fact]
    public void BecomingAParameterDropsTheMarkOnEveryView()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes();
        var view = s.Reshape(-1);
        s.RequiresGrad = true; // a no-grad leaf: the user may train it
        Assert.False(s.IsBf16Exact);
        Assert.False(view.IsBf16Exact);
        // The reason: an optimiser writes into it (and into every view) in place.
        s.Grad = Tensor.Full(s.Shape, 0.3f);
        using (var opt = new Sgd(new[] { s }, lr: 1f)) opt.Step();
        AssertMarkIsTrue(view, "view after an SGD step");
        Assert.False(AllBf16Exact(view));
    }

    [Fact]
    public void GettingOrBecomingAGradientDropsTheMark()
    {
        using var scope = TensorScope.Begin();
        var owner = Spikes(seed: 2);
        var ownerView = owner.Detach();
        owner.Grad = Tensor.Zeros(owner.Shape); // optimisers update tensors that have a gradient
        Assert.False(ownerView.IsBf16Exact);

        var s = Spikes(seed: 3);
        var view = s.Reshape(-1, 6);
        var w = Tensor.Zeros(s.Shape); w.RequiresGrad = true;
        w.Grad = s; // later backward passes accumulate into it in place
        Assert.False(view.IsBf16Exact);
        w.Mul(Tensor.Full(s.Shape, 0.25f)).Sum().Backward();
        AssertMarkIsTrue(view, "gradient after accumulation");
    }

    private sealed class Holder : SpikeSharp.Nn.Module
    {
        public Holder(Tensor t) => RegisterBuffer("b", t);
        public override Tensor Forward(Tensor x) => x;
    }

    [Fact]
    public void BuffersAndRunningStatisticsDropTheMark()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes();
        var view = s.Detach();
        using (var h = new Holder(s)) { }
        Assert.False(view.IsBf16Exact);

        var rm = Spikes(1, 1, 4, seed: 4).Reshape(4);
        var rv = Spikes(1, 1, 4, seed: 5).Reshape(4);
        var x = Tensor.Rand(new[] { 8, 4 }, new Generator(6));
        Tensor.BatchNorm(x, rm, rv, null, null, training: true);
        Assert.False(rm.IsBf16Exact);
        Assert.False(rv.IsBf16Exact);
        Assert.False(AllBf16Exact(rm)); // they were written: the mark would have lied
    }

    [Fact]
    public void DisposedTensorsAreNotMarked()
    {
        var s = Spikes();
        s.Dispose();
        Assert.False(s.IsBf16Exact);
    }
}
