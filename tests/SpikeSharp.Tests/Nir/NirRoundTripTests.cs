using SpikeSharp.Autograd;
using SpikeSharp.Neurons;
using SpikeSharp.Nir;
using SpikeSharp.Nn;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Nir;

/// <summary>Export to NIR, import back, and compare with the original network on the same input.</summary>
public class NirRoundTripTests
{
    // Spikes of every neuron layer and the final output of one evaluation pass.
    internal static (List<float[]> Spikes, float[] Output) Run(Module model, Tensor x)
    {
        model.Eval();
        model.ResetState();
        var spiking = model.NamedModules().Select(m => m.Module).OfType<SpikingLayer>().ToList();
        foreach (var s in spiking) s.StoreSpikes = true;
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        var y = model.Forward(x).ToArray<float>();
        var spikes = spiking.Select(s => s.LastSpikes!.ToArray<float>()).ToList();
        foreach (var s in spiking) s.StoreSpikes = false;
        return (spikes, y);
    }

    internal static Tensor Input(int seed, params int[] shape)
    {
        var g = new Generator((ulong)seed);
        return Tensor.Rand(shape, g).MulScalar(2f).Persist();
    }

    private static (List<float[]> Spikes, float[] Output) RoundTrip(Module model, Tensor x, NirOptions? options,
        out Module imported, string? keep = null)
    {
        using var dir = new TempDirectory();
        string path = keep ?? dir.Combine("model.nir");
        NirExport.Save(model, path, options);
        imported = NirImport.Load(path, Device.Cpu, options);
        return Run(imported, x);
    }

    private static Sequential Mlp(Generator g) => new(
        new MultiStep(new Flatten(1), new Linear(64, 32, gen: g)),
        new Lif(decay: 0.8f, threshold: 0.6f),
        new MultiStep(new Linear(32, 10, gen: g)),
        new Li(decay: 0.7f));

    [Fact]
    public void Mlp_with_lif_and_li_comes_back_bit_for_bit()
    {
        using var model = Mlp(new Generator(1));
        using var x = Input(2, 6, 3, 1, 8, 8);
        var before = Run(model, x);
        var after = RoundTrip(model, x, new NirOptions { InputShape = new[] { 1, 8, 8 } }, out var imported);
        using var _ = imported;
        Assert.True(before.Spikes[0].Sum() > 0 && before.Spikes[0].Sum() < before.Spikes[0].Length,
            "the test input should make some but not all neurons fire");
        Assert.Equal(before.Spikes.Count, after.Spikes.Count);
        for (int i = 0; i < before.Spikes.Count; i++) Assert.Equal(before.Spikes[i], after.Spikes[i]);
        Assert.Equal(before.Output, after.Output);
        // The layer types come back too: MultiStep(Flatten, Linear), Lif, MultiStep(Linear), Li.
        var seq = Assert.IsType<Sequential>(imported);
        Assert.IsType<Lif>(seq[1]);
        Assert.IsType<Li>(seq[3]);
    }

    [Fact]
    public void Mlp_from_nir_parameters_alone_matches_within_float_rounding()
    {
        // Without SpikeSharp's metadata the decays come from τ = dt/(1 − λ) stored in float32: λ is recovered to
        // within a few ulps, so the membranes agree to ~1e-7 and (for this input) every spike is the same.
        using var model = Mlp(new Generator(1));
        using var x = Input(2, 6, 3, 1, 8, 8);
        var before = Run(model, x);
        var options = new NirOptions { InputShape = new[] { 1, 8, 8 }, SpikeSharpMetadata = false };
        var after = RoundTrip(model, x, options, out var imported);
        using var _ = imported;
        for (int i = 0; i < before.Spikes.Count; i++) Assert.Equal(before.Spikes[i], after.Spikes[i]);
        AssertClose(before.Output, after.Output, 1e-6);
    }

    [Fact]
    public void Fashion_mlp_checkpoint_model_round_trips()
    {
        using var model = FashionModels.Create(FashionModelKind.Mlp, new Generator(3), Device.Cpu);
        using var x = Input(4, 4, 2, 1, 28, 28);
        var before = Run(model, x);
        var after = RoundTrip(model, x, new NirOptions { InputShape = new[] { 1, 28, 28 } }, out var imported);
        using var _ = imported;
        Assert.Equal(before.Spikes[0], after.Spikes[0]);
        Assert.Equal(before.Output, after.Output);
    }

    [Fact]
    public void Input_shape_of_a_linear_first_network_is_read_from_the_layer()
    {
        using var model = new Sequential(new MultiStep(new Linear(5, 4, gen: new Generator(1))), new Lif());
        var graph = NirExport.ToGraph(model, NirOptions.Default);
        Assert.Equal(new long[] { 5 }, graph.Nodes.Single(n => n.Type == "Input").Fields["shape"].Ints);
    }

    [Fact]
    public void Csnn_with_batch_norm_folded_into_the_convolution_matches_the_original()
    {
        var g = new Generator(7);
        using var model = new Sequential(
            new MultiStep(new Conv2d(1, 4, 3, padding: 1, bias: false, gen: g), new BatchNorm2d(4)),
            new Plif(4 * 8 * 8, decay: 0.6f, threshold: 0.8f),
            new MultiStep(new AvgPool2d(2), new Flatten(1), new Linear(4 * 4 * 4, 10, gen: g)),
            new Li(decay: 0.8f, features: 10));
        // Give the batch norm statistics and an affine transform that folding must carry over.
        model.Train();
        using (var warm = Input(8, 4, 6, 1, 8, 8)) using (TensorScope.Begin()) model.Forward(warm);
        model.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["0.module.1.weight"] = Tensor.FromArray(new[] { 1.5f, 0.7f, -0.9f, 1.1f }),
            ["0.module.1.bias"] = Tensor.FromArray(new[] { 0.2f, -0.1f, 0.4f, 0f }),
        }, strict: false);
        using var x = Input(9, 5, 3, 1, 8, 8);
        var before = Run(model, x);
        var after = RoundTrip(model, x, new NirOptions { InputShape = new[] { 1, 8, 8 } }, out var imported);
        using var _ = imported;
        // The folded convolution rounds differently from convolution-then-normalisation, by ~1e-7 relative; for
        // this input no membrane lies that close to its threshold, so every spike is the same.
        Assert.True(before.Spikes[0].Sum() > 0, "the convolution layer should fire");
        Assert.Equal(before.Spikes[0], after.Spikes[0]);
        AssertClose(before.Output, after.Output, 1e-6);
        var layers = imported.NamedModules().Select(m => m.Module).ToList();
        Assert.DoesNotContain(layers, m => m is BatchNormBase);
        Assert.Contains(layers, m => m is Plif);
    }

    [Fact]
    public void If_sum_pool_cuba_lif_li_and_linear_lif_come_back_bit_for_bit()
    {
        var g = new Generator(11);
        using var model = new Sequential(
            new MultiStep(new Conv2d(2, 3, 3, stride: 2, padding: 1, gen: g)),
            new If(threshold: 0.7f),
            new MultiStep(new SumPool2d((2, 2)), new Flatten(1), new Dropout(0.3f), new Linear(12, 6, gen: g)),
            new CubaLif(decay: 0.85f, synapseDecay: 0.5f, threshold: 0.6f, features: 6),
            new MultiStep(new Linear(6, 5, bias: false, gen: g)),
            new Li(decay: 0.75f, features: 5),
            new SpikeSharp.Nn.Transformer.LinearLif(5, 4, decay: 0.6f, threshold: 0.5f, gen: g));
        using var x = Input(12, 6, 2, 2, 8, 8);
        var before = Run(model, x);
        var after = RoundTrip(model, x, new NirOptions { InputShape = new[] { 2, 8, 8 } }, out var imported);
        using var _ = imported;
        Assert.Equal(before.Spikes[0], after.Spikes[0]);
        Assert.True(before.Output.Sum() > 0, "the last layer should fire");
        Assert.Equal(before.Output, after.Output);
        var graph = NirExport.ToGraph(model, new NirOptions { InputShape = new[] { 2, 8, 8 } });
        Assert.Equal(new[] { "Input", "Conv2d", "IF", "SumPool2d", "Flatten", "Affine", "CubaLIF", "Linear", "LI",
            "Affine", "LIF", "Output" }, graph.Nodes.Select(n => n.Type));
    }

    [Fact]
    public void Scale_before_a_lif_becomes_its_input_resistance_and_leak_voltage()
    {
        // τ = dt/(1 − λ) = 5e-4 s; R = g·τ/dt = 2.5 g; v_leak = c·τ/dt = 5 c.
        using var model = new Sequential(
            new MultiStep(new Linear(3, 2, gen: new Generator(1)),
                new Scale(new[] { 0.5f, 2f }, new[] { 2 }, new[] { 0.1f, -0.2f })),
            new Lif(decay: 0.8f, threshold: 0.5f));
        var graph = NirExport.ToGraph(model, NirOptions.Default);
        var lif = graph.Nodes.Single(n => n.Type == "LIF");
        Assert.DoesNotContain(graph.Nodes, n => n.Type == "Scale");
        Assert.Equal(new[] { 5e-4f, 5e-4f }, lif.Fields["tau"].Floats!, new ToleranceComparer(1e-6));
        Assert.Equal(new[] { 2.5f, 10f }, lif.Fields["r"].Floats!, new ToleranceComparer(1e-6));
        Assert.Equal(new[] { 0.5f, -1f }, lif.Fields["v_leak"].Floats!, new ToleranceComparer(1e-6));
        using var x = Input(3, 10, 4, 3);
        var before = Run(model, x);
        var after = RoundTrip(model, x, NirOptions.Default, out var imported);
        using var _ = imported;
        Assert.Equal(before.Output, after.Output);
        var scale = imported.NamedModules().Select(m => m.Module).OfType<Scale>().Single();
        AssertClose(new[] { 0.5f, 2f }, scale.Factors.ToArray<float>(), 1e-6);
        AssertClose(new[] { 0.1f, -0.2f }, scale.Offsets!.ToArray<float>(), 1e-6);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance * Math.Max(1, Math.Abs(a));
        public int GetHashCode(float obj) => 0;
    }

    internal static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]) / Math.Max(1, Math.Abs(expected[i]));
            if (d > worst) { worst = d; at = i; }
        }
        Assert.True(worst <= tolerance,
            $"largest difference {worst:G3} at {at} ({expected[Math.Max(at, 0)]} vs {actual[Math.Max(at, 0)]}) " +
            $"exceeds {tolerance:G3}");
    }
}
