using SpikeSharp.IO;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Training;

/// <summary>The run directory as the command line manages it: resume, overwrite, option names, final lines.</summary>
[Collection("Console")] // redirects the process-wide Console
public class RunCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliInProcess.Run(args);

    private static readonly string[] Small =
        { "--device", "cpu", "--train-limit", "128", "--batch-size", "64", "--no-plots" };

    private static (int, string, string) Train(string dir, params string[] args) =>
        Run(new[] { "train", "fashion-mnist" }.Concat(args).Concat(new[] { "--out", dir }).ToArray());

    // As a separate process, for what the command prints through Spectre.Console (bound to the process's stdout).
    private static (int Code, string Out, string Err) TrainProcess(string dir, params string[] args)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var psi = new System.Diagnostics.ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var cli = Path.Combine(AppContext.BaseDirectory, "SpikeSharp.Cli.dll");
        foreach (var a in new[] { cli, "train", "fashion-mnist" }.Concat(args).Concat(new[] { "--out", dir }))
            psi.ArgumentList.Add(a);
        psi.Environment["SPIKESHARP_OFFLINE"] = "1";
        psi.Environment["XDG_CACHE_HOME"] = Path.Combine(dir, "..", "cache");
        psi.Environment.Remove("SPIKESHARP_DATA");
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        // Output that is not a terminal may be wrapped at 80 columns (at a space, which may go): one space per gap.
        return (p.ExitCode, System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "), err.Result);
    }

    private static string[] MetricsEpochs(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => l.Split(',')[0]).ToArray();

    [Fact]
    public void Resume_ReadsTheModelAndTheSettingsFromTheCheckpoint()
    {
        using var tmp = new TempDirectory();
        var run = tmp.Combine("run");
        var first = Train(run, "--model", "csnn", "-T", "1", "--batch-size", "32", "--lr", "0.002",
            "--encoding", "rate", "--seed", "5", "--train-limit", "64", "--epochs", "1", "--device", "cpu", "--no-plots");
        Assert.True(first.Item1 == 0, first.Item2 + first.Item3);

        // The README's command: nothing but --resume and --out. (The run is complete: nothing left to train.)
        var (code, output, err) = TrainProcess(run, "--resume", "--device", "cpu", "--no-plots");
        Assert.True(code == 0, output + err);
        Assert.Contains("train fashion-mnist: model csnn, T=1, epochs 1, batch 32, lr 0.002, device cpu", output);
        Assert.Contains($"resumed from {Path.Combine(run, "checkpoints", "epoch-1")} after epoch 1", output);
        Assert.Contains("the run already completed 1 of 1 epochs; pass a larger --epochs to train further", output);
        Assert.Equal(new[] { "1" }, MetricsEpochs(run));
        var meta = Checkpoint.FindLatest(run)!.Metadata;
        Assert.Equal(("csnn", "1", "Rate", "5", "64"),
            (meta["model"], meta["epoch"], meta["encoding"], meta["seed"], meta["train_limit"]));
    }

    [Fact]
    public void Resume_WithAChangedOption_IsRefusedNamingTheOptionTheSavedValueAndTheGivenOne()
    {
        using var tmp = new TempDirectory();
        var first = Train(tmp.Path, Small.Concat(new[] { "-T", "2", "--epochs", "2", "--stop-after", "1" }).ToArray());
        Assert.True(first.Item1 == 0, first.Item2 + first.Item3);
        var cases = new (string[] Args, string Option, string Given, string Saved)[]
        {
            (new[] { "-T", "4" }, "--time-steps", "4", "2"),
            (new[] { "--time-steps", "3" }, "--time-steps", "3", "2"),
            (new[] { "--encoding", "latency" }, "--encoding", "latency", "direct"),
            (new[] { "--batch-size", "32" }, "--batch-size", "32", "64"),
            (new[] { "--lr", "0.01" }, "--lr", "0.01", "0.001"),
            (new[] { "--model", "plif-csnn" }, "--model", "plif-csnn", "mlp"),
        };
        foreach (var (args, option, given, saved) in cases)
        {
            var (code, output, err) = Train(tmp.Path, args.Concat(new[] { "--resume", "--device", "cpu" }).ToArray());
            Assert.Equal(1, code);
            Assert.StartsWith("error: --resume: ", err);
            Assert.Contains(
                $"{option} {given} differs from the run in {tmp.Path}, which was trained with {option} {saved}", err);
            Assert.Contains($"leave {option} out to continue with the saved value", err);
            Assert.DoesNotContain("epoch 2/", output);
        }
        Assert.Equal(new[] { "1" }, MetricsEpochs(tmp.Path));
    }

    [Fact]
    public void AnExistingRun_IsRefusedUnlessResumeOrOverwrite_AndTheWroteLineNamesWhatWasWritten()
    {
        using var tmp = new TempDirectory();
        var (code, output, err) = Train(tmp.Path, Small.Concat(new[] { "--epochs", "1" }).ToArray());
        Assert.True(code == 0, output + err);
        string Full(string f) => Path.Combine(tmp.Path, f);
        Assert.Contains($"wrote {Full("metrics.csv")}, {Full("model.safetensors")}, {Full("trainer.safetensors")} " +
                        $"(checkpoint {Path.Combine(tmp.Path, "checkpoints", "epoch-1")})\n",
            output.Replace("\r\n", "\n"));
        Assert.DoesNotContain("plots", output);
        Assert.False(Directory.Exists(Full("plots")));
        var metrics = File.ReadAllText(Full("metrics.csv"));

        (code, output, err) = Train(tmp.Path, Small.Concat(new[] { "--epochs", "1" }).ToArray());
        Assert.Equal(1, code);
        Assert.Contains($"error: --out {tmp.Path} already holds a training run (metrics.csv, model.safetensors, " +
                        "trainer.safetensors, checkpoints); pass --resume to continue it, or --overwrite to delete it",
            err);
        Assert.Equal(metrics, File.ReadAllText(Full("metrics.csv")));

        (code, output, err) = Train(tmp.Path, "--device", "cpu", "--train-limit", "128", "--batch-size", "64",
            "--epochs", "1", "--seed", "2", "--overwrite");
        Assert.True(code == 0, output + err);
        Assert.Contains($", {Path.Combine(tmp.Path, "plots")}/", output);
        Assert.Equal("2", Checkpoint.FindLatest(tmp.Path)!.Metadata["seed"]);
        Assert.Equal(new[] { "1" }, MetricsEpochs(tmp.Path));
    }

    [Fact]
    public void TheOldStepsSpelling_IsAnErrorThatNamesTheNewOption()
    {
        using var tmp = new TempDirectory();
        var (code, output, err) = Train(tmp.Path, "--steps", "8", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("error: --steps is not an option of 'train': the time steps T per sample are " +
                        "--time-steps (or -T)", err);
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));

        (code, output, err) =
            TrainProcess(tmp.Path, Small.Concat(new[] { "--time-steps", "3", "--epochs", "1" }).ToArray());
        Assert.True(code == 0, output + err);
        Assert.Contains("train fashion-mnist: model mlp, T=3,", output);
        Assert.Equal("3", Checkpoint.FindLatest(tmp.Path)!.Metadata["time_steps"]);
    }

    [Fact]
    public void ResumeWithoutACheckpoint_SaysWhatToDo()
    {
        using var tmp = new TempDirectory();
        var (code, _, err) = Train(tmp.Path, "--resume", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains($"error: --resume: {tmp.Path} holds no training run; " +
                        "leave out --resume to start a new run there", err);
        (code, _, err) = Train(tmp.Path, "--resume", "--overwrite", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--resume continues the run in --out and --overwrite deletes it: give one of them", err);
    }
}
