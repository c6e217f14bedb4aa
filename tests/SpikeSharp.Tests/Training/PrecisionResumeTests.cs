using SpikeSharp.IO;
using SpikeSharp.Tests.Cli;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Training;

/// <summary>
/// --precision is a setting of the run: recorded with every checkpoint, taken from it on --resume when not given,
/// refused when given otherwise; runs saved before it was recorded resume with the default, without an error.
/// The commands run in their own process: --precision sets process-wide switches.
/// </summary>
public sealed class PrecisionResumeTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private CliRun Cli(params string[] args) => CliProcess.Run(_tmp.Path, null, args);

    private static string Saved(string run) => Checkpoint.FindLatest(run)!.Metadata["precision"];

    private static void AssertRefused(CliRun run, string dir)
    {
        Assert.True(run.Code == 1, run.ToString());
        Assert.Contains($"error: --resume: --precision tf32 differs from the run in {dir}, which was trained with " +
            "--precision fp32", run.Err);
    }

    [Fact]
    public void TrainLm_RecordsAndRestoresItsPrecision()
    {
        var text = _tmp.Combine("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
        var run = _tmp.Combine("lm");
        string[] Lm(params string[] more) => new[]
        {
            "train", "lm", "--text", text, "--dim", "16", "--layers", "1", "--heads", "2", "--seq-len", "16",
            "--batch-size", "4", "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu", "--out", run,
        }.Concat(more).ToArray();
        var first = Cli(Lm("--steps", "2", "--precision", "fp32"));
        Assert.True(first.Code == 0, first.ToString());
        Assert.Equal("fp32", Saved(run));
        AssertRefused(Cli(Lm("--resume", "--precision", "tf32")), run);
        var resumed = Cli("train", "lm", "--resume", "--steps", "4", "--device", "cpu", "--out", run);
        Assert.True(resumed.Code == 0, resumed.ToString());
        Assert.Equal(("step-4", "fp32"), (Checkpoint.FindLatest(run)!.Name, Saved(run)));
    }

    [Fact]
    public void TrainFashionAndCifar10_RecordAndRestoreTheirPrecision()
    {
        var data = _tmp.Combine("fashion");
        CliProcess.WriteFashionSubset(data, train: 64, test: 16);
        var run = _tmp.Combine("fm");
        var first = Cli("train", "--epochs", "1", "--batch-size", "32", "--data", data, "--out", run, "--no-plots",
            "--device", "cpu", "--precision", "fp32");
        Assert.True(first.Code == 0, first.ToString());
        Assert.Equal("fp32", Saved(run));
        AssertRefused(Cli("train", "--resume", "--data", data, "--out", run, "--device", "cpu", "--precision", "tf32"),
            run);
        var more = Cli("train", "--resume", "--epochs", "2", "--data", data, "--out", run, "--no-plots",
            "--device", "cpu");
        Assert.True(more.Code == 0, more.ToString());
        Assert.Equal(("epoch-2", "fp32"), (Checkpoint.FindLatest(run)!.Name, Saved(run)));

        var cifar = _tmp.Combine("cifar");
        EventFixtures.WriteCifar(Path.Combine(cifar, "cifar-10-batches-bin"), perFile: 4);
        var crun = _tmp.Combine("c10");
        string[] C(params string[] more) => new[]
        {
            "train", "cifar10", "--data", cifar, "--out", crun, "--device", "cpu", "--batch-size", "8", "-T", "2",
            "--train-limit", "16", "--test-limit", "4", "--no-plots",
        }.Concat(more).ToArray();
        var c1 = Cli(C("--epochs", "1", "--precision", "fp32"));
        Assert.True(c1.Code == 0, c1.ToString());
        AssertRefused(Cli(C("--resume", "--precision", "tf32")), crun);
        var c2 = Cli(C("--resume", "--epochs", "2"));
        Assert.True(c2.Code == 0, c2.ToString());
        Assert.Equal(("epoch-2", "fp32"), (Checkpoint.FindLatest(crun)!.Name, Saved(crun)));
    }

    [Fact]
    public void AClassifierSavedBeforePrecisionWasRecorded_ResumesWithoutAnError()
    {
        var dir = _tmp.Combine("run");
        var o = new FashionTrainOptions
        {
            Epochs = 2, BatchSize = 64, TimeSteps = 2, OutDir = dir, Device = Device.Cpu, TrainLimit = 128,
            TestLimit = 64, Plots = false, StopAfter = 1,
        };
        new FashionTrainer(o).Run();
        Assert.Equal("", Saved(dir));
        var refused = Assert.Throws<ArgumentException>(() =>
            new FashionTrainer(o with { Resume = true, Precision = PrecisionMode.Tf32 }).Run());
        Assert.Contains("--precision tf32 differs from the run in", refused.Message);
        Assert.Contains("which was trained with --precision (none: the library's default)", refused.Message);

        CheckpointFixtures.DropMetadata(Checkpoint.FindLatest(dir)!.Directory, "precision");
        Assert.Null(FashionRunConfig.Read(dir).Precision);
        var t = new FashionTrainer(o with { Resume = true, StopAfter = null, Precision = PrecisionMode.Fp32 });
        t.Run();
        Assert.Equal(("epoch-2", "fp32"), (t.LastCheckpoint!.Name, Saved(dir)));
    }
}
