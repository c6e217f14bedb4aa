using SpikeSharp.Nn;

namespace SpikeSharp.Tests.Nn;

public class ModuleTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    private static Sequential Net(Device d, ulong seed) => new(
        new Conv2d(1, 2, 3, gen: new Generator(seed), device: d),
        new BatchNorm2d(2, device: d),
        new Flatten(),
        new Linear(8, 3, gen: new Generator(seed + 1), device: d));

    [Theory, MemberData(nameof(Devices))]
    public void NamesParametersAndBuffers(string dev)
    {
        var d = Device.Parse(dev);
        using var net = Net(d, 1);
        Assert.Equal(new[] { "0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias" }, net.NamedParameters().Select(p => p.Name));
        Assert.Equal(new[] { "1.running_mean", "1.running_var" }, net.NamedBuffers().Select(b => b.Name));
        Assert.Equal(new[] { "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "3.weight", "3.bias" }, net.StateDict().Keys);
        Assert.All(net.Parameters(), p => Assert.True(p.RequiresGrad && p.IsPersistent));
        net.Eval();
        Assert.All(net.NamedModules(), m => Assert.False(m.Module.IsTraining));
        net.Train();
        Assert.True(net[1].IsTraining);
    }

    [Theory, MemberData(nameof(Devices))]
    public void StateDictRoundTrip(string dev)
    {
        var d = Device.Parse(dev);
        using var a = Net(d, 1);
        using var b = Net(d, 7);
        using var scope = TensorScope.Begin();
        var x = GradCheck.Rand(d, 3, 2, 1, 4, 4);
        a.Forward(x); // moves the running statistics away from their initial values
        var w3 = b.StateDict()["3.weight"];
        b.LoadStateDict(a.StateDict());
        Assert.Same(w3, b.StateDict()["3.weight"]); // loaded in place
        foreach (var (k, t) in a.StateDict()) Assert.Equal(t.ToArray(), b.StateDict()[k].ToArray());
        a.Eval(); b.Eval();
        Assert.Equal(a.Forward(x).ToArray(), b.Forward(x).ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void LoadStateDictErrorsAndLeavesModuleUntouched(string dev)
    {
        var d = Device.Parse(dev);
        using var a = Net(d, 1);
        using var scope = TensorScope.Begin();
        var before = a.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

        var missing = new Dictionary<string, Tensor>(a.StateDict().Select(kv => KeyValuePair.Create(kv.Key, kv.Value.Clone())));
        missing.Remove("3.bias");
        missing["extra.weight"] = Tensor.Zeros(new[] { 2 }, d);
        var e1 = Assert.Throws<ArgumentException>(() => a.LoadStateDict(missing));
        Assert.Contains("missing keys: 3.bias", e1.Message);
        Assert.Contains("unexpected keys: extra.weight", e1.Message);

        var bad = new Dictionary<string, Tensor>(a.StateDict().Select(kv => KeyValuePair.Create(kv.Key, Tensor.ZerosLike(kv.Value))));
        bad["3.weight"] = Tensor.Zeros(new[] { 3, 9 }, d);
        var e2 = Assert.Throws<ArgumentException>(() => a.LoadStateDict(bad));
        Assert.Contains("'3.weight'", e2.Message);
        Assert.Contains("(3, 8)", e2.Message);
        Assert.Contains("(3, 9)", e2.Message);
        foreach (var (k, t) in a.StateDict()) Assert.Equal(before[k], t.ToArray()); // nothing was written

        // Non-strict: missing and unexpected keys are ignored, present ones load.
        missing.Remove("extra.weight");
        a.LoadStateDict(missing, strict: false);
    }

    [Theory, MemberData(nameof(Devices))]
    public void ZeroGradAndToDevice(string dev)
    {
        var d = Device.Parse(dev);
        using var lin = new Linear(3, 2, gen: new Generator(2));
        using var scope = TensorScope.Begin();
        lin.To(d);
        Assert.All(lin.Parameters(), p => Assert.Equal(d, p.Device));
        Assert.Equal("weight", lin.Weight.Name);
        lin.Forward(Tensor.Ones(new[] { 4, 3 }, d)).Sum().Backward();
        Assert.Equal(Enumerable.Repeat(4f, 2), lin.Bias!.Grad!.ToArray());
        lin.ZeroGrad();
        Assert.All(lin.Parameters(), p => Assert.All(p.Grad!.ToArray(), v => Assert.Equal(0f, v)));
        lin.ZeroGrad(setToNone: true);
        Assert.All(lin.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void LinearInitIsSeededAndBounded()
    {
        using var a = new Linear(16, 4, gen: new Generator(9));
        using var b = new Linear(16, 4, gen: new Generator(9));
        Assert.Equal(a.Weight.ToArray(), b.Weight.ToArray());
        Assert.All(a.Weight.ToArray(), v => Assert.InRange(v, -0.25f, 0.25f));
        Assert.Contains(a.Weight.ToArray(), v => Math.Abs(v) > 0.15f);
    }
}
