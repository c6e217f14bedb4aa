using System.Text.Json;
using SpikeSharp.Autograd;
using SpikeSharp.Nir;
using SpikeSharp.Nn;

namespace SpikeSharp.Tests.Nir;

/// <summary>
/// Imports NIR files written by NIR's reference package (nir.write of v1.0.7 on h5py 3.7; see
/// Fixtures/make_fixtures.py) and runs them on the input stored next to each, comparing with the output a float64
/// numpy simulation of NIR's equations gave (the inputs keep every membrane ≥ 1e-3 from its threshold, so spikes
/// must match exactly).
/// </summary>
public class NirFixtureTests
{
    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Nir", "Fixtures", name);

    private sealed record Expected(double Dt, int[] InputShape, float[] Input, int[] OutputShape, float[] Output);

    private static Expected Read(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture(name + ".expected.json")));
        var r = doc.RootElement;
        int[] Ints(string k) => r.GetProperty(k).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        float[] Floats(string k) => r.GetProperty(k).EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        return new Expected(r.GetProperty("dt").GetDouble(), Ints("input_shape"), Floats("input"),
            Ints("output_shape"), Floats("output"));
    }

    private static (Module Model, float[] Output, Expected Want) Run(string file, string expected)
    {
        var want = Read(expected);
        var model = NirImport.Load(Fixture(file), Device.Cpu, new NirOptions { Dt = want.Dt });
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        var y = model.Forward(Tensor.FromArray(want.Input, want.InputShape, Device.Cpu));
        Assert.Equal(want.OutputShape, y.Shape);
        return (model, y.ToArray<float>(), want);
    }

    private static List<Module> Layers(Module m) => m.NamedModules().Select(x => x.Module)
        .Where(x => x is not (Sequential or MultiStep)).ToList();

    [Fact]
    public void Affine_lif_with_per_neuron_parameters_runs_as_plif()
    {
        var (model, y, want) = Run("affine_lif.nir", "affine_lif");
        using var _ = model;
        Assert.Equal(want.Output, y);
        var layers = Layers(model);
        Assert.Collection(layers, l => Assert.IsType<Linear>(l), l => Assert.IsType<Plif>(l));
    }

    [Fact]
    public void Conv2d_if_sum_pool_network_runs()
    {
        var (model, y, want) = Run("conv_if.nir", "conv_if");
        using var _ = model;
        Assert.Equal(want.Output, y);
        Assert.Contains(Layers(model), l => l is SumPool2d);
        Assert.Equal(2, Layers(model).Count(l => l is If));
    }

    [Fact]
    public void Gzip_compressed_chunked_datasets_read_as_the_plain_ones()
    {
        var (model, y, want) = Run("conv_if_gzip.nir", "conv_if");
        using var _ = model;
        Assert.Equal(want.Output, y);
    }

    [Fact]
    public void Lif_with_input_gain_and_leak_voltage_and_li_readout_match_the_simulation()
    {
        // r·dt/τ ≠ 1 and v_leak ≠ 0 become a Scale before each neuron layer (dt = 1e-3 here, as Norse writes).
        var (model, y, want) = Run("lif_leak_li.nir", "lif_leak_li");
        using var _ = model;
        NirRoundTripTests.AssertClose(want.Output, y, 1e-5);
        var layers = Layers(model);
        Assert.Equal(2, layers.Count(l => l is Scale));
        var leak = (Scale)layers.First(l => l is Scale);
        Assert.NotNull(leak.Offsets); // v_leak = (0.3, 0, −0.2)
        Assert.Contains(layers, l => l is Li);
    }

    [Fact]
    public void Cuba_lif_in_snntorch_convention_needs_no_input_gain()
    {
        var (model, y, want) = Run("cuba_lif.nir", "cuba_lif");
        using var _ = model;
        Assert.Equal(want.Output, y);
        var layers = Layers(model);
        Assert.DoesNotContain(layers, l => l is Scale);
        Assert.Contains(layers, l => l is CubaLif);
    }

    [Fact]
    public void Nir_0_2_file_without_v_reset_resets_to_zero()
    {
        // Affine W = [[1, 0.5], [−0.5, 1]], b = (0.1, 0); IF θ = 1, r = 1. A constant input (0.5, 0.2) gives
        // currents (0.7, −0.05): neuron 0 reaches 1.4 every second step and fires; neuron 1 never does.
        using var model = NirImport.Load(Fixture("legacy_if_0_2.nir"), Device.Cpu);
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        var steps = Enumerable.Range(0, 4).SelectMany(_ => new[] { 0.5f, 0.2f }).ToArray();
        var x = Tensor.FromArray(steps, new[] { 4, 1, 2 });
        Assert.Equal(new float[] { 0, 0, 1, 0, 0, 0, 1, 0 }, model.Forward(x).ToArray<float>());
    }
}
