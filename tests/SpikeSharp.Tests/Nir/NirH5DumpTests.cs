using System.Diagnostics;
using System.Text.RegularExpressions;
using SpikeSharp.Nir;
using SpikeSharp.Nn;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Nir;

/// <summary>
/// Checks exported files with h5dump (Debian's hdf5-tools, the HDF Group's own reader, which .ci/run installs): every
/// dataset has the HDF5 type and shape NIR's reference package writes (nir/serialization.py with h5py), each node has
/// exactly the fields of its NIR type (nir/ir/*.py: the reference reader rejects unknown ones), and the strings are
/// variable-length UTF-8 C strings as h5py writes str values (h5py reads them back as bytes either way).
/// </summary>
public partial class NirH5DumpTests
{
    /// <summary>The fields NIR 1.0.7 writes for each node type (dataclass fields without input_type/output_type, plus
    /// Input/Output's "shape" and Flatten's "input_type").</summary>
    private static readonly Dictionary<string, string[]> NirFields = new()
    {
        ["Input"] = new[] { "shape" },
        ["Output"] = new[] { "shape" },
        ["Affine"] = new[] { "weight", "bias" },
        ["Linear"] = new[] { "weight" },
        ["Conv2d"] = new[] { "input_shape", "weight", "stride", "padding", "dilation", "groups", "bias" },
        ["Flatten"] = new[] { "input_type", "start_dim", "end_dim" },
        ["AvgPool2d"] = new[] { "kernel_size", "stride", "padding" },
        ["SumPool2d"] = new[] { "kernel_size", "stride", "padding" },
        ["LIF"] = new[] { "tau", "r", "v_leak", "v_threshold", "v_reset" },
        ["IF"] = new[] { "r", "v_threshold", "v_reset" },
        ["LI"] = new[] { "tau", "r", "v_leak" },
        ["CubaLIF"] = new[] { "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in" },
    };

    private const string VlenUtf8 = "H5T_STRING { STRSIZE H5T_VARIABLE; STRPAD H5T_STR_NULLPAD; CSET H5T_CSET_UTF8; " +
        "CTYPE H5T_C_S1; }";

    /// <summary>The h5dump executable; CI installs it, so its absence is a failure, not a skip.</summary>
    internal static string H5Dump()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, "h5dump");
            if (dir.Length > 0 && File.Exists(candidate)) return candidate;
        }
        Assert.Fail("h5dump is not installed: these tests validate NIR files with it. Install Debian's hdf5-tools " +
            "(apt-get install hdf5-tools), as .ci/run does");
        return "";
    }

    private static string Dump(params string[] args)
    {
        var psi = new ProcessStartInfo(H5Dump()) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"h5dump {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }

    /// <summary>Dataset path → (datatype, dataspace) from <c>h5dump -H</c>, whitespace collapsed.</summary>
    internal static Dictionary<string, (string Type, string Space)> Datasets(string file)
    {
        var text = Dump("-H", file);
        var result = new Dictionary<string, (string, string)>();
        var stack = new List<string>();
        var lines = text.Split('\n').Select(l => l.Trim()).ToList();
        for (int i = 0; i < lines.Count; i++)
        {
            var l = lines[i];
            var group = GroupLine().Match(l);
            if (group.Success) { stack.Add(group.Groups[1].Value); continue; }
            var ds = DatasetLine().Match(l);
            if (ds.Success)
            {
                string type = "", space = "";
                int depth = 1;
                for (i++; depth > 0; i++)
                {
                    var t = lines[i];
                    if (t.StartsWith("DATATYPE")) type = t;
                    else if (type.Contains('{') && !type.Contains('}')) type += " " + t;
                    else if (t.StartsWith("DATASPACE")) space = t;
                    depth += t.Count(c => c == '{') - t.Count(c => c == '}');
                }
                i--;
                string path = string.Join("/", stack.Skip(1).Append(ds.Groups[1].Value));
                result["/" + path] = (Regex.Replace(type["DATATYPE".Length..].Trim(), @"\s+", " "),
                    Regex.Replace(space["DATASPACE".Length..].Trim(), @"\s+", " "));
                continue;
            }
            if (l == "}" && stack.Count > 0) stack.RemoveAt(stack.Count - 1);
        }
        return result;
    }

    [GeneratedRegex("^GROUP \"(.*)\" \\{$")]
    private static partial Regex GroupLine();

    [GeneratedRegex("^DATASET \"(.*)\" \\{$")]
    private static partial Regex DatasetLine();

    private static string Simple(params int[] dims) =>
        $"SIMPLE {{ ( {string.Join(", ", dims)} ) / ( {string.Join(", ", dims)} ) }}";

    [Fact]
    public void Exported_fashion_mlp_has_nir_types_and_shapes()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("mlp.nir");
        using var model = FashionModels.Create(FashionModelKind.Mlp, new Generator(1), Device.Cpu);
        NirExport.Save(model, path, new NirOptions { InputShape = new[] { 1, 28, 28 } });
        Assert.DoesNotContain("HARDLINK", Dump("-H", path)); // one dataset per field, as h5py writes
        var d = Datasets(path);
        Assert.Equal((VlenUtf8, "SCALAR"), d["/version"]);
        Assert.Equal((VlenUtf8, "SCALAR"), d["/node/type"]);
        Assert.Equal((VlenUtf8, Simple(5, 2)), d["/node/edges"]);
        Assert.Equal((VlenUtf8, "SCALAR"), d["/node/nodes/1/type"]);
        Assert.Equal(("H5T_STD_I64LE", Simple(3)), d["/node/nodes/input/shape"]);
        Assert.Equal(("H5T_STD_I64LE", "SCALAR"), d["/node/nodes/0.module.0/start_dim"]);
        Assert.Equal(("H5T_STD_I64LE", Simple(3)), d["/node/nodes/0.module.0/input_type"]);
        Assert.Equal(("H5T_IEEE_F32LE", Simple(512, 784)), d["/node/nodes/0.module.1/weight"]);
        foreach (var f in NirFields["LIF"]) Assert.Equal(("H5T_IEEE_F32LE", Simple(512)), d[$"/node/nodes/1/{f}"]);
        AssertNodeFields(path);
        // The edges read back as h5py would return them: names, in order.
        var edges = Dump("-d", "/node/edges", path);
        Assert.Contains("(0,0): \"input\", \"0.module.0\",", edges);
        Assert.Contains("(4,0): \"2.module\", \"output\"", edges);
        Assert.Contains("\"NIRGraph\"", Dump("-d", "/node/type", path));
        Assert.Contains($"\"{NirGraph.WriterVersion}\"", Dump("-d", "/version", path));
    }

    [Fact]
    public void Exported_csnn_node_types_have_exactly_nir_fields()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("csnn.nir");
        var g = new Generator(2);
        using var model = new Sequential(
            new MultiStep(new Conv2d(1, 4, 3, padding: 1, bias: false, gen: g), new BatchNorm2d(4)),
            new Plif(4 * 8 * 8),
            new MultiStep(new AvgPool2d(2), new Conv2d(4, 2, 3, gen: g)),
            new If(),
            new MultiStep(new SumPool2d((2, 2)), new Flatten(1), new Linear(2, 6, gen: g)),
            new CubaLif(features: 6),
            new MultiStep(new Linear(6, 3, bias: false, gen: g)),
            new Li());
        NirExport.Save(model, path, new NirOptions { InputShape = new[] { 1, 8, 8 } });
        var d = Datasets(path);
        Assert.Equal(("H5T_IEEE_F32LE", Simple(4, 1, 3, 3)), d["/node/nodes/0.module.0/weight"]);
        Assert.Equal(("H5T_STD_I64LE", Simple(2)), d["/node/nodes/0.module.0/stride"]);
        Assert.Equal(("H5T_STD_I64LE", "SCALAR"), d["/node/nodes/0.module.0/groups"]);
        Assert.Equal(("H5T_IEEE_F32LE", Simple(4, 8, 8)), d["/node/nodes/1/tau"]); // per neuron, shaped (C, H, W)
        Assert.Equal(("H5T_IEEE_F32LE", Simple(2, 2, 2)), d["/node/nodes/3/v_threshold"]);
        Assert.Equal(("H5T_STD_I64LE", Simple(2)), d["/node/nodes/4.module.0/kernel_size"]);
        Assert.Equal(VlenUtf8, d["/node/nodes/1/metadata/spikesharp_layer"].Type);
        string[] types =
        {
            "AvgPool2d", "Conv2d", "CubaLIF", "Flatten", "IF", "Input", "LI", "LIF", "Linear", "Output", "SumPool2d",
            "Affine",
        };
        Assert.Equal(types.Order(), NodeTypes(path, d).Values.Distinct().Order());
        AssertNodeFields(path);
        Dump(path); // the whole file, data included, reads without error
    }

    [Fact]
    public void Reference_package_fixtures_have_the_layout_the_exporter_writes()
    {
        // The same checks on files nir.write itself produced; only the string padding differs (h5py: NULLTERM,
        // PureHDF: NULLPAD), which h5py and HDF5 ignore for variable-length strings.
        var d = Datasets(NirFixtureTests.Fixture("conv_if.nir"));
        string reference = VlenUtf8.Replace("NULLPAD", "NULLTERM");
        Assert.Equal((reference, Simple(7, 2)), d["/node/edges"]);
        Assert.Equal((reference, "SCALAR"), d["/node/type"]);
        Assert.Equal(("H5T_STD_I64LE", Simple(2)), d["/node/nodes/0/stride"]);
        Assert.Equal(("H5T_STD_I64LE", "SCALAR"), d["/node/nodes/0/groups"]);
        Assert.Equal(("H5T_IEEE_F32LE", Simple(3, 6, 6)), d["/node/nodes/1/v_threshold"]);
        AssertNodeFields(NirFixtureTests.Fixture("conv_if.nir"));
    }

    // Every node group holds "type", exactly its NIR type's fields, and optionally a metadata group.
    private static void AssertNodeFields(string file)
    {
        var d = Datasets(file);
        var types = NodeTypes(file, d);
        Assert.NotEmpty(types);
        foreach (var (node, type) in types)
        {
            var fields = d.Keys.Where(k => k.StartsWith(node + "/") && !k[(node.Length + 1)..].Contains('/'))
                .Select(k => k[(node.Length + 1)..]).Where(f => f != "type").Order().ToList();
            Assert.True(NirFields.ContainsKey(type), $"{node}: unexpected node type {type}");
            Assert.Equal(NirFields[type].Order(), fields);
        }
    }

    // Node group path → the NIR type in its "type" dataset, read with h5dump -d.
    private static Dictionary<string, string> NodeTypes(string file, Dictionary<string, (string, string)> d)
    {
        var result = new Dictionary<string, string>();
        foreach (var path in d.Keys.Where(k => k.StartsWith("/node/nodes/") && k.EndsWith("/type")))
        {
            var m = Regex.Match(Dump("-d", path, file), "\\(0\\): \"([^\"]*)\"");
            result[path[..^"/type".Length]] = m.Groups[1].Value;
        }
        return result;
    }
}
