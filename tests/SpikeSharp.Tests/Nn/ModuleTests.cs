using SpikeSharp.Nn;
using SpikeSharp.Optim;

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

    /// <summary>Two Adam steps on each device in turn, moving the module in between; the final parameters.</summary>
    private static float[] TrainAcross(params Device[] devices)
    {
        using var lin = new Linear(3, 2, gen: new Generator(4), device: devices[0]);
        using var opt = new Adam(lin.NamedParameters(), lr: 0.1f);
        var data = new float[] { 1, -2, 0.5f, 0, 1, 2 };
        foreach (var d in devices)
        {
            lin.To(d);
            for (int i = 0; i < 2; i++)
            {
                using var scope = TensorScope.Begin();
                opt.ZeroGrad();
                lin.Forward(Tensor.FromArray(data, new[] { 2, 3 }, d)).Square().Sum().Backward();
                opt.Step();
            }
        }
        return lin.Weight.ToArray().Concat(lin.Bias!.ToArray()).ToArray();
    }

    [Fact]
    public void ToMovesInPlaceSoAnOptimiserBuiltBeforeKeepsTraining()
    {
        var gpu = Device.IlgpuCpu;
        using var net = Net(Device.Cpu, 3);
        var before = net.StateDict().ToDictionary(kv => kv.Key, kv => (Tensor: kv.Value, Data: kv.Value.ToArray()));
        using var opt = new Adam(net.NamedParameters());
        net.To(gpu);
        foreach (var (k, t) in net.StateDict())
        {
            Assert.Same(before[k].Tensor, t);           // the same tensor objects...
            Assert.Equal(gpu, t.Device);                // ...now on the other device...
            Assert.Equal(before[k].Data, t.ToArray());  // ...with the same values
        }
        Assert.All(opt.Parameters, p => Assert.Equal(gpu, p.Param.Device));

        // Moving between steps gives what training on one device gives: parameters, gradients and
        // Adam's moments all follow.
        var stay = TrainAcross(Device.Cpu, Device.Cpu);
        var moved = TrainAcross(Device.Cpu, gpu, Device.Cpu);
        var cpuOnly = TrainAcross(Device.Cpu, Device.Cpu, Device.Cpu);
        Assert.NotEqual(stay, cpuOnly); // the last two steps did change the weights
        Assert.Equal(cpuOnly.Length, moved.Length);
        for (int i = 0; i < moved.Length; i++) Assert.Equal(cpuOnly[i], moved[i], 4);
    }

    [Fact]
    public void ToKeepsGradientsAndRefusesAStrayGradient()
    {
        using var lin = new Linear(3, 2, gen: new Generator(2), device: Device.Cpu);
        using var opt = new Sgd(lin.NamedParameters(), lr: 0.1f);
        using (TensorScope.Begin()) lin.Forward(Tensor.Ones(new[] { 4, 3 }, Device.Cpu)).Sum().Backward();
        var grad = lin.Bias!.Grad!;
        lin.To(Device.IlgpuCpu);
        Assert.Same(grad, lin.Bias.Grad);
        Assert.Equal(Device.IlgpuCpu, grad.Device);
        Assert.Equal(new float[] { 4, 4 }, grad.ToArray());

        lin.Bias.Grad = Tensor.Ones(new[] { 2 }, Device.Cpu).Persist(); // a user-made gradient on the wrong device
        grad.Dispose();
        Expect.Throws<InvalidOperationException>(() => opt.Step(), "'bias'", "cpu", "ilgpu-cpu", "Module.To");
        lin.Bias.Grad.Dispose();
    }
}
