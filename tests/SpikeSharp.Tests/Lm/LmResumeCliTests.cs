using System.Globalization;
using SpikeSharp.Cli;
using SpikeSharp.IO;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Lm;

/// <summary><c>train lm</c>: periodic atomic checkpoints, --resume, --overwrite.</summary>
[Collection("Console")]
public sealed class LmResumeCliTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly string _text;

    public LmResumeCliTests()
    {
        _text = _tmp.Combine("text.txt");
        File.WriteAllText(_text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
    }

    public void Dispose() => _tmp.Dispose();

    private static (int Code, string Out, string Err) Cli(params string[] args) => CliInProcess.Run(args);

    private (int Code, string Out, string Err) Train(string run, params string[] extra) =>
        Cli(new[] { "train", "lm", "--text", _text, "--dim", "16", "--layers", "1", "--heads", "2", "--seq-len", "16",
            "--batch-size", "4", "--steps", "6", "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu",
            "--seed", "1", "--out", run }.Concat(extra).ToArray());

    private static string[][] Metrics(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => l.Split(',')).ToArray();

    [Fact]
    public void PeriodicCheckpoints_AndAResumeFromTheReadme_GiveTheUninterruptedRunsResults()
    {
        string a = _tmp.Combine("a"), b = _tmp.Combine("b");
        var full = Train(a);
        Assert.True(full.Code == 0, full.Err + full.Out);
        var saves = Path.Combine(a, Checkpoint.SavesDirectory);
        Assert.Equal(new[] { "step-4", "step-6" },
            Directory.GetDirectories(saves).Select(Path.GetFileName).Order().ToArray());
        Assert.Equal("step-6\n", File.ReadAllText(Path.Combine(saves, Checkpoint.LatestFile)));
        foreach (var f in new[] { "model.safetensors", "trainer.safetensors", "config.json" })
            Assert.True(File.Exists(Path.Combine(saves, "step-6", f)) && File.Exists(Path.Combine(a, f)), f);
        Assert.Contains($"trainer.safetensors (checkpoint {Path.Combine(saves, "step-6")}), metrics.csv", full.Out);

        // The same run, killed after step 6's evaluation row but before its checkpoint: step-4 is the latest save.
        var first = Train(b);
        Assert.True(first.Code == 0, first.Err);
        var bSaves = Path.Combine(b, Checkpoint.SavesDirectory);
        Directory.Delete(Path.Combine(bSaves, "step-6"), recursive: true);
        File.WriteAllText(Path.Combine(bSaves, Checkpoint.LatestFile), "step-4\n");

        // Every setting comes from the checkpoint.
        var resumed = Cli("train", "lm", "--resume", "--device", "cpu", "--out", b);
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains($"resumed from {Path.Combine(bSaves, "step-4")} after step 4 " +
                        "(dropped 1 row(s) of metrics.csv", resumed.Out);
        Assert.DoesNotContain("step     0", resumed.Out); // no second evaluation of the start
        Assert.Equal(new[] { "0", "2", "4", "6" }, Metrics(b).Select(r => r[0]).ToArray());
        for (int i = 0; i < 4; i++)
        {
            double va = double.Parse(Metrics(a)[i][2], CultureInfo.InvariantCulture);
            double vb = double.Parse(Metrics(b)[i][2], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(va - vb) < 1e-4, $"val_loss at row {i}: uninterrupted {va}, resumed {vb}");
        }
        var wa = SafeTensors.Load(Path.Combine(a, "model.safetensors"));
        var wb = SafeTensors.Load(Path.Combine(b, "model.safetensors"));
        foreach (var e in wa.Tensors)
        {
            var (x, y) = (e.ToFloatArray(), wb[e.Name].ToFloatArray());
            for (int i = 0; i < x.Length; i++)
                Assert.True(Math.Abs(x[i] - y[i]) < 1e-4, $"{e.Name}[{i}]: {x[i]} vs {y[i]}");
        }

        var gen = Cli("generate", "--checkpoint", b, "--prompt", "the ", "--tokens", "5", "--device", "cpu");
        Assert.True(gen.Code == 0, gen.Err);
        Assert.StartsWith("the ", gen.Out);
    }

    [Fact]
    public void Resume_RefusesAChangedSetting_AndExtendsTheRunOnMoreSteps()
    {
        string run = _tmp.Combine("run");
        var first = Train(run);
        Assert.True(first.Code == 0, first.Err);

        var dim = Cli("train", "lm", "--resume", "--dim", "32", "--device", "cpu", "--out", run);
        Assert.Equal(1, dim.Code);
        Assert.Contains($"error: --resume: --dim 32 differs from the run in {run}, which was trained with --dim 16",
            dim.Err);
        // -T is --seq-len in train lm: one character per time step.
        var seq = Cli("train", "lm", "--resume", "-T", "8", "--device", "cpu", "--out", run);
        Assert.Contains("--seq-len 8 differs from the run in", seq.Err);
        Assert.Contains("which was trained with --seq-len 16", seq.Err);
        var lr = Cli("train", "lm", "--resume", "--lr", "0.01", "--device", "cpu", "--out", run);
        Assert.Contains("--lr 0.01 differs from the run in", lr.Err);
        Assert.Contains("which was trained with --lr 0.001", lr.Err);
        var other = _tmp.Combine("other.txt");
        File.WriteAllText(other, "another text entirely, long enough for a window of sixteen characters or more.");
        var text = Cli("train", "lm", "--resume", "--text", other, "--device", "cpu", "--out", run);
        Assert.Contains($"--text {other} differs from the run in {run}, which was trained on {_text}", text.Err);

        var more = Cli("train", "lm", "--resume", "--steps", "8", "--device", "cpu", "--out", run);
        Assert.True(more.Code == 0, more.Err + more.Out);
        Assert.Contains("warning: --steps 8: the run was started with 6 steps", more.Out);
        Assert.Equal(new[] { "0", "2", "4", "6", "8" }, Metrics(run).Select(r => r[0]).ToArray());
        Assert.Equal("step-8", Checkpoint.FindLatest(run)!.Name);
    }

    [Fact]
    public void AnExistingRun_IsRefusedUnlessResumeOrOverwrite()
    {
        string run = _tmp.Combine("run");
        Assert.Equal(0, Train(run).Code);
        var metrics = File.ReadAllText(Path.Combine(run, "metrics.csv"));
        var again = Train(run);
        Assert.Equal(1, again.Code);
        Assert.Contains($"error: --out {run} already holds a training run (metrics.csv, model.safetensors, " +
                        "trainer.safetensors, config.json, checkpoints); pass --resume to continue it, or --overwrite " +
                        "to delete it", again.Err);
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(run, "metrics.csv")));

        var over = Train(run, "--overwrite", "--lr", "0.002");
        Assert.True(over.Code == 0, over.Err);
        Assert.Equal("0.002", Checkpoint.FindLatest(run)!.Metadata["lr"]);

        // A run of an earlier version saved no trainer state for train lm.
        foreach (var f in new[] { "trainer.safetensors" }) File.Delete(Path.Combine(run, f));
        Directory.Delete(Path.Combine(run, Checkpoint.SavesDirectory), recursive: true);
        var old = Cli("train", "lm", "--resume", "--device", "cpu", "--out", run);
        Assert.Equal(1, old.Code);
        Assert.Contains("holds a model but no trainer state", old.Err);
    }
}
