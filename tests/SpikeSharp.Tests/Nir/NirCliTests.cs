using SpikeSharp.IO;
using SpikeSharp.Nir;
using SpikeSharp.Nn;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Nir;

/// <summary><c>spikesharp export --format nir</c> on training runs.</summary>
[Collection("Console")] // redirects the process-wide Console, as the other in-process CLI tests do
public class NirCliTests
{
    private static (int Code, string Output) Cli(params string[] args)
    {
        var o = new StringWriter();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o); Console.SetError(o);
        try { return (SpikeSharp.Cli.Program.Main(args), o.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }

    [Fact]
    public void Trained_mlp_run_exports_and_imports_with_the_same_outputs()
    {
        using var dir = new TempDirectory();
        string run = dir.Combine("run"), file = dir.Combine("out", "mlp.nir");
        var (code, text) = Cli("train", "fashion-mnist", "--epochs", "1", "--train-limit", "128", "--batch-size", "64",
            "-T", "2", "--device", "cpu", "--no-plots", "--out", run);
        Assert.True(code == 0, text);
        (code, text) = Cli("export", "--format", "nir", "--checkpoint", run, "--out", file, "--dt", "0.001");
        Assert.True(code == 0, text);
        Assert.Contains($"wrote {file}: the mlp model of", text);
        Assert.Contains("dt = 0.001 s", text);
        Assert.Contains("Input → Flatten → Affine → LIF → Affine → Output", text);

        using var trained = FashionModels.Create(FashionModelKind.Mlp, new Generator(9), Device.Cpu);
        Checkpoint.LoadModel(Path.Combine(run, Checkpoint.ModelFile), trained);
        using var imported = NirImport.Load(file, Device.Cpu, new NirOptions { Dt = 1e-3 });
        using var x = NirRoundTripTests.Input(1, 3, 2, 1, 28, 28);
        var before = NirRoundTripTests.Run(trained, x);
        var after = NirRoundTripTests.Run(imported, x);
        Assert.Equal(before.Spikes[0], after.Spikes[0]);
        Assert.Equal(before.Output, after.Output);
        // dt sets the time constants: λ = 1 − dt/τ.
        var graph = NirFile.Read(file);
        var lif = graph.Nodes.Single(n => n.Type == "LIF");
        using var scope = TensorScope.Begin();
        float decay = ((Lif)((Sequential)trained)[1]).Decay().Item();
        Assert.Equal(1e-3 / (1 - decay), lif.Fields["tau"].Floats![0], 1e-7);
    }

    [Fact]
    public void Csnn_run_is_refused_naming_its_max_pooling()
    {
        using var dir = new TempDirectory();
        using var model = FashionModels.Create(FashionModelKind.Csnn, new Generator(0), Device.Cpu);
        Checkpoint.Save(dir.Path, "epoch-1", model, null, new Dictionary<string, string>
        {
            ["kind"] = FashionRunConfig.Kind, ["model"] = "csnn", ["epoch"] = "1",
        });
        string file = dir.Combine("csnn.nir");
        var (code, text) = Cli("export", "--checkpoint", dir.Path, "--out", file);
        Assert.Equal(1, code);
        Assert.Contains($"error: the csnn model of {dir.Path} cannot be exported to NIR: MaxPool2d at '2.module.0' " +
            "cannot be exported: NIR has no max pooling", text);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void Bad_options_are_named()
    {
        using var dir = new TempDirectory();
        var (code, text) = Cli("export", "--checkpoint", dir.Combine("missing"), "--out", dir.Path, "--format", "onnx",
            "--dt", "0");
        Assert.Equal(1, code);
        Assert.Contains("--checkpoint: expected a run directory written by 'spikesharp train fashion-mnist --out " +
            $"DIR', got '{dir.Combine("missing")}', which does not exist", text);
        Assert.Contains($"--out: expected a .nir file to write, got '{dir.Path}', which is a directory", text);
        Assert.Contains("--format: expected nir, got 'onnx'", text);
        Assert.Contains("--dt: expected a positive number of seconds such as 0.0001, got '0'", text);
        (code, text) = Cli("export", "--checkpoint", dir.Path, "--out", dir.Combine("x.nir"));
        Assert.Equal(1, code);
        Assert.Contains($"--checkpoint: {dir.Path} holds no complete checkpoint", text);
    }
}
