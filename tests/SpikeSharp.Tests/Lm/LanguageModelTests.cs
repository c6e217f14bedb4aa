using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Tests.Lm;

public class LanguageModelTests
{
    /// <summary>A whole model over 37 steps: the CPU backend (and CUDA), not the emulation (see TestDevices).</summary>
    public static IEnumerable<object[]> Devices => TestDevices.TrainingNames;

    [Theory, MemberData(nameof(Devices))]
    public void StreamingEqualsFullSequence(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        using var m = new SpikingLanguageModel(new SpikingLmConfig(11, Dim: 16, Layers: 2, Heads: 2, MlpRatio: 2), gen: new Generator(9), device: d);
        m.Eval();
        int steps = 37, batch = 2;
        var rnd = new Random(3);
        var ids = Enumerable.Range(0, steps * batch).Select(_ => rnd.Next(11)).ToArray();
        var tokens = Tensor.FromArray(ids, new[] { steps, batch }, d);
        float[] full;
        using (Autograd.Tape.NoGrad()) full = m.Forward(tokens).ToArray();
        m.ResetState();
        var stream = new List<float>();
        using (Autograd.Tape.NoGrad())
            for (int t = 0; t < steps; t++) stream.AddRange(m.Forward(tokens.Narrow(0, t, 1)).ToArray());
        Assert.Equal(full.Length, stream.Count);
        double maxDiff = full.Zip(stream, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff < 1e-5, $"max abs logit diff {maxDiff:E2}");
    }

    [Fact]
    public void RejectsBadTokensAndReportsEfficiency()
    {
        using var scope = TensorScope.Begin();
        using var m = new SpikingLanguageModel(new SpikingLmConfig(5, Dim: 8, Layers: 1, Heads: 2), gen: new Generator(1));
        Assert.Equal("tokens", Expect.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros(new[] { 3, 2 })),
            "tokens must be (T, B) int32, got float32 (3, 2)").ParamName);
        Expect.Throws<InvalidOperationException>(() => m.Efficiency(),
            "no firing rates recorded", "TrackFiringRates(true)");
        m.TrackFiringRates(true);
        using (Autograd.Tape.NoGrad()) m.Forward(Tensor.FromArray(new[] { 1, 2, 3, 4, 0, 1 }, new[] { 3, 2 }));
        var r = m.Efficiency();
        Assert.Equal(1 * (3 * 64 + 2 * 8 + 64 + 8 * 32 + 32 * 8) + 8 * 5, r.DenseMacs);
        Assert.All(r.Layers, l =>
        {
            Assert.InRange(l.Macs, 0, l.DenseMacs);
            Assert.InRange(l.Accumulates, 0, l.DenseMacs - l.Macs + 1e-9); // spikes never cost more than dense
            if (double.IsNaN(l.InputRate)) Assert.Equal(l.DenseMacs, l.Macs); // real-valued input: all MACs remain
            else Assert.InRange(l.InputRate, 0, 1);
        });
        Assert.Contains(r.Layers, l => double.IsNaN(l.InputRate)); // the real-valued path...
        Assert.Contains(r.Layers, l => l.InputRate > 0);            // ...and spike-driven layers that fired
        Assert.Equal(r.Layers.Sum(l => l.Macs + l.Accumulates), r.Macs + r.Accumulates, 6);
    }
}
