using System.CommandLine;
using System.Globalization;
using SpikeSharp.IO;
using SpikeSharp.Nir;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp export --format nir</c>: writes a trained Fashion-MNIST network as a NIR graph.</summary>
internal static class ExportCommand
{
    public static Command Build()
    {
        var format = new Option<string>("--format")
        {
            DefaultValueFactory = _ => "nir",
            Description = "nir: the Neuromorphic Intermediate Representation (snnTorch, Norse, Sinabs, Lava, "
                + "SpiNNaker2, …)",
        };
        var checkpoint = new Option<string>("--checkpoint")
        {
            Required = true, Description = "run directory written by 'spikesharp train fashion-mnist --out DIR'",
        };
        var output = new Option<string>("--out") { Required = true, Description = "the .nir file to write" };
        var dt = new Option<double>("--dt")
        {
            DefaultValueFactory = _ => NirOptions.Default.Dt,
            Description = "time step in seconds that maps decays λ to NIR's time constants, τ = dt/(1 − λ) "
                + "(default 0.0001, as snnTorch); the importing framework should simulate with the same dt",
        };
        var cmd = new Command("export", "Export a trained network to an interchange format.")
        {
            format, checkpoint, output, dt,
        };
        cmd.SetAction(p => Run(p.GetValue(format)!, p.GetValue(checkpoint)!, p.GetValue(output)!, p.GetValue(dt),
            Console.Out));
        return cmd;
    }

    /// <summary>Exports the newest complete save of the run in <paramref name="checkpoint"/>; returns the exit code.
    /// </summary>
    public static int Run(string format, string checkpoint, string output, double dt, TextWriter o)
    {
        if (!string.Equals(format, "nir", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--format: expected nir, got '{format}'", nameof(format));
        if (!(dt > 0) || !double.IsFinite(dt))
            throw new ArgumentException($"--dt: expected a positive number of seconds such as 0.0001, got {dt}",
                nameof(dt));
        if (!Directory.Exists(checkpoint))
            throw new DirectoryNotFoundException($"--checkpoint: {checkpoint} does not exist; expected a run " +
                "directory written by 'spikesharp train fashion-mnist --out DIR'");
        var save = Checkpoint.FindLatest(checkpoint, msg => o.WriteLine($"warning: {msg}"))
            ?? throw new FileNotFoundException($"--checkpoint: {checkpoint} holds no complete checkpoint; expected a " +
                "run directory written by 'spikesharp train fashion-mnist --out DIR'", checkpoint);
        var meta = save.Metadata;
        string kind = meta.GetValueOrDefault("kind", "");
        if (kind != FashionRunConfig.Kind)
            throw new InvalidDataException($"--checkpoint: the run in {checkpoint} is not a Fashion-MNIST classifier " +
                $"(its kind is '{kind}'); 'export' takes runs of 'spikesharp train fashion-mnist'" +
                (kind == Nn.Transformer.SpikingLanguageModel.Kind ? " (NIR has no attention for a language model)"
                    : ""));
        var model = FashionModels.Parse(meta.TryGetValue("model", out var m) ? m
            : throw new InvalidDataException($"--checkpoint: the save {save.Directory} does not record its model"));
        using var net = FashionModels.Create(model, new Generator(0), Device.Cpu);
        Checkpoint.LoadModel(Path.Combine(save.Directory, Checkpoint.ModelFile), net);
        net.Eval();
        var options = new NirOptions { Dt = dt, InputShape = new[] { 1, 28, 28 } };
        NirGraph graph;
        try
        {
            graph = NirExport.SaveGraph(net, output, options);
        }
        catch (NotSupportedException e)
        {
            const string prefix = "NIR export: ";
            string why = e.Message.StartsWith(prefix, StringComparison.Ordinal)
                ? e.Message[prefix.Length..] : e.Message;
            throw new NotSupportedException(
                $"the {FashionModels.Name(model)} model of {checkpoint} cannot be exported to NIR: {why}", e);
        }
        o.WriteLine($"wrote {output}: the {FashionModels.Name(model)} model of {save.Directory} " +
            $"(epoch {meta.GetValueOrDefault("epoch", "?")}) as a NIR graph, dt = " +
            $"{dt.ToString("G", CultureInfo.InvariantCulture)} s");
        o.WriteLine("  " + string.Join(" → ", graph.Nodes.Select(n => n.Type)));
        return 0;
    }
}
