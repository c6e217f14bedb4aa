using PureHDF;
using SpikeSharp.Neurons;
using SpikeSharp.Nir;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Nir;

/// <summary>Files and graphs NIR import must refuse, and networks NIR export must refuse: with messages that name the
/// node or layer, and without leaving a partial file.</summary>
public class NirBadInputTests
{
    private static NirNode Node(string name, string type, params (string Field, NirValue Value)[] fields)
    {
        var n = new NirNode(name, type);
        foreach (var (f, v) in fields) n.With(f, v);
        return n;
    }

    private static NirNode Lif(string name, int n = 2) => Node(name, "LIF",
        ("tau", NirValue.Filled(1e-3f, new[] { n })), ("r", NirValue.Filled(10f, new[] { n })),
        ("v_leak", NirValue.Filled(0f, new[] { n })), ("v_threshold", NirValue.Filled(1f, new[] { n })),
        ("v_reset", NirValue.Filled(0f, new[] { n })));

    private static NirNode Affine(string name, int outF, int inF) => Node(name, "Affine",
        ("weight", NirValue.Filled(0.5f, new[] { outF, inF })), ("bias", NirValue.Filled(0f, new[] { outF })));

    private static NirGraph Graph(IEnumerable<NirNode> nodes, params (string, string)[] edges)
    {
        var g = new NirGraph();
        g.Nodes.AddRange(nodes);
        g.Edges.AddRange(edges);
        return g;
    }

    private static NirNode In(int n) => Node("input", "Input", ("shape", NirValue.Vector(n)));
    private static NirNode Out(int n) => Node("output", "Output", ("shape", NirValue.Vector(n)));

    // Writes the graph as a file and imports it.
    private static Exception Import(NirGraph g)
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("g.nir");
        NirFile.Write(g, path);
        return Record.Exception(() => NirImport.Load(path, Device.Cpu).Dispose())!;
    }

    [Fact]
    public void Missing_file_is_file_not_found()
    {
        var e = Assert.Throws<FileNotFoundException>(() => NirImport.Load("/nonexistent/model.nir", Device.Cpu));
        Assert.Contains("'/nonexistent/model.nir' does not exist", e.Message);
    }

    [Fact]
    public void Non_hdf5_file_is_named_as_such()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("model.nir");
        File.WriteAllText(path, "this is not HDF5\n");
        var e = Assert.Throws<InvalidDataException>(() => NirImport.Load(path, Device.Cpu));
        Assert.StartsWith($"NIR: '{path}' is not a readable HDF5 file", e.Message);
    }

    [Fact]
    public void Truncated_file_is_refused_with_its_path()
    {
        using var dir = new TempDirectory();
        var bytes = File.ReadAllBytes(NirFixtureTests.Fixture("affine_lif.nir"));
        foreach (int keep in new[] { 100, bytes.Length / 2, bytes.Length - 200 })
        {
            string path = dir.Combine($"cut-{keep}.nir");
            File.WriteAllBytes(path, bytes[..keep]);
            var e = Assert.Throws<InvalidDataException>(() => NirImport.Load(path, Device.Cpu));
            Assert.Contains($"'{path}'", e.Message);
        }
    }

    [Fact]
    public void Hdf5_file_without_a_graph_says_what_is_missing()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("other.h5");
        new H5File { ["data"] = new float[] { 1, 2, 3 } }.Write(path);
        var e = Assert.Throws<InvalidDataException>(() => NirImport.Load(path, Device.Cpu));
        Assert.Contains("it has no group 'node'", e.Message);
    }

    [Fact]
    public void Unknown_node_type_names_the_node()
    {
        var e = Import(Graph(new[] { In(2), Node("mystery", "Quantum", ("x", NirValue.Vector(1))), Out(2) },
            ("input", "mystery"), ("mystery", "output")));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("node 'mystery' (Quantum): 'Quantum' is not a NIR node type", e.Message);
    }

    [Fact]
    public void Missing_parameter_names_the_node_and_the_field()
    {
        var lif = Lif("neurons");
        lif.Fields.Remove("tau");
        var e = Import(Graph(new[] { In(3), Affine("fc", 2, 3), lif, Out(2) },
            ("input", "fc"), ("fc", "neurons"), ("neurons", "output")));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("node 'neurons' (LIF): has no 'tau' dataset", e.Message);
    }

    [Fact]
    public void Recurrent_graph_names_the_node_with_two_inputs()
    {
        // input → fc → lif → output, with lif → rec → lif: a recurrent layer as snnTorch's RLeaky writes it.
        var e = Import(Graph(new[] { In(3), Affine("fc", 2, 3), Lif("lif"), Affine("rec", 2, 2), Out(2) },
            ("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")));
        Assert.IsType<NotSupportedException>(e);
        Assert.Contains("node 'lif' (LIF) has 2 incoming edges", e.Message);
    }

    [Fact]
    public void Cycle_off_the_chain_and_dangling_edges_are_refused()
    {
        var e = Import(Graph(new[] { In(2), Out(2), Affine("a", 2, 2), Affine("b", 2, 2) },
            ("input", "output"), ("a", "b"), ("b", "a")));
        Assert.IsType<NotSupportedException>(e);
        Assert.Contains("node(s) 'a' (Affine), 'b' (Affine) are not on the chain from 'input' to 'output'", e.Message);
        e = Import(Graph(new[] { In(2), Out(2) }, ("input", "ghost"), ("ghost", "output")));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("an edge enters 'ghost', which is not a node of the graph", e.Message);
    }

    [Fact]
    public void Shape_mismatch_names_the_node()
    {
        var e = Import(Graph(new[] { In(5), Affine("fc", 2, 3), Out(2) }, ("input", "fc"), ("fc", "output")));
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("node 'fc' (Affine): maps vectors of 3 but receives samples of shape (5)", e.Message);
    }

    [Fact]
    public void Time_constant_below_dt_and_mixed_resets_are_refused()
    {
        var lif = Lif("lif");
        lif.Fields["tau"] = NirValue.Of(new[] { 1e-3f, 5e-5f }, 2);
        var e = Import(Graph(new[] { In(3), Affine("fc", 2, 3), lif, Out(2) },
            ("input", "fc"), ("fc", "lif"), ("lif", "output")));
        Assert.Contains("node 'lif' (LIF): 'tau' holds 5E-05 s, shorter than the time step dt = 0.0001 s", e.Message);
        lif = Lif("lif");
        lif.Fields["v_reset"] = NirValue.Of(new[] { 0f, -1f }, 2);
        e = Import(Graph(new[] { In(3), Affine("fc", 2, 3), lif, Out(2) },
            ("input", "fc"), ("fc", "lif"), ("lif", "output")));
        Assert.IsType<NotSupportedException>(e);
        Assert.Contains("node 'lif' (LIF): has 2 different v_reset values", e.Message);
    }

    [Fact]
    public void Subgraph_node_is_refused_by_name()
    {
        var inner = Graph(new[] { In(2), Lif("lif"), Out(2) }, ("input", "lif"), ("lif", "output"));
        var e = Import(Graph(new[] { In(2), new NirNode("block", "NIRGraph") { Subgraph = inner }, Out(2) },
            ("input", "block"), ("block", "output")));
        Assert.IsType<NotSupportedException>(e);
        Assert.Contains("node 'block' (NIRGraph): is a nested graph", e.Message);
    }

    // ---- export ----

    [Fact]
    public void Max_pooling_of_the_csnn_is_refused_by_layer_path()
    {
        using var model = FashionModels.Create(FashionModelKind.Csnn, new Generator(0), Device.Cpu);
        var e = Assert.Throws<NotSupportedException>(() =>
            NirExport.ToGraph(model, new NirOptions { InputShape = new[] { 1, 28, 28 } }));
        Assert.Equal("NIR export: MaxPool2d at '2.module.0' cannot be exported: NIR has no max pooling (AvgPool2d " +
            "and SumPool2d only); train with average pooling to export", e.Message);
    }

    [Fact]
    public void Soft_reset_adaptive_neurons_and_attention_are_refused()
    {
        var soft = SpikingOptions.Default with { Reset = ResetMode.Soft };
        using var a = new Sequential(new MultiStep(new Linear(3, 2)), new Lif(options: soft));
        Assert.Contains("Lif at '1' cannot be exported: it resets by subtraction (soft reset)",
            Assert.Throws<NotSupportedException>(() => NirExport.ToGraph(a, NirOptions.Default)).Message);
        using var b = new Sequential(new MultiStep(new Linear(3, 2)), new Alif());
        Assert.Contains("Alif at '1' cannot be exported: NIR has no adaptive-threshold neuron",
            Assert.Throws<NotSupportedException>(() => NirExport.ToGraph(b, NirOptions.Default)).Message);
        using var lm = new SpikingLanguageModel(new SpikingLmConfig(8, 8, 1, 2));
        Assert.Contains("SpikingLanguageModel at '(the model itself)' cannot be exported: NIR has no attention",
            Assert.Throws<NotSupportedException>(() => NirExport.ToGraph(lm, NirOptions.Default)).Message);
    }

    [Fact]
    public void Batch_norm_that_follows_no_weights_is_refused()
    {
        using var model = new Sequential(new MultiStep(new Flatten(1), new BatchNorm1d(4)), new Lif());
        var e = Assert.Throws<NotSupportedException>(() =>
            NirExport.ToGraph(model, new NirOptions { InputShape = new[] { 4 } }));
        Assert.Contains("BatchNorm1d at '0.module.1' cannot be exported: NIR has no batch norm", e.Message);
    }

    [Fact]
    public void Convolution_first_network_needs_the_input_shape()
    {
        using var model = new Sequential(new MultiStep(new Conv2d(1, 2, 3)), new Plif(2 * 4 * 4));
        var e = Assert.Throws<ArgumentException>(() => NirExport.ToGraph(model, NirOptions.Default));
        Assert.Equal(nameof(NirOptions.InputShape), e.ParamName);
        Assert.Contains("give it as NirOptions.InputShape", e.Message);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() =>
            NirExport.ToGraph(model, new NirOptions { Dt = 0, InputShape = new[] { 1, 6, 6 } }));
        Assert.Equal(nameof(NirOptions.Dt), bad.ParamName);
    }

    [Fact]
    public void Flatten_across_the_batch_dims_is_refused()
    {
        using var model = new Sequential(new Flatten(1), new MultiStep(new Linear(12, 2)), new Lif());
        var e = Assert.Throws<NotSupportedException>(() =>
            NirExport.ToGraph(model, new NirOptions { InputShape = new[] { 3, 4 } }));
        Assert.Contains("Flatten(1, -1) at '0' merges dims 1..3 of its 4-dim input", e.Message);
    }

    [Fact]
    public void Refused_export_leaves_an_existing_file_untouched()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("model.nir");
        File.WriteAllText(path, "previous");
        using var model = FashionModels.Create(FashionModelKind.Csnn, new Generator(0), Device.Cpu);
        Assert.Throws<NotSupportedException>(() =>
            NirExport.Save(model, path, new NirOptions { InputShape = new[] { 1, 28, 28 } }));
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
