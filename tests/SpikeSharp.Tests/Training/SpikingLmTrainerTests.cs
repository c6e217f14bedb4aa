using System.Globalization;
using SpikeSharp.IO;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Training;

/// <summary><see cref="SpikingLmTrainer"/> used as a library (no CLI): the shared loop's rules for the LM run.
/// </summary>
public sealed class SpikingLmTrainerTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly string _text;

    public SpikingLmTrainerTests()
    {
        _text = _tmp.Combine("text.txt");
        File.WriteAllText(_text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
    }

    public void Dispose() => _tmp.Dispose();

    private SpikingLmTrainOptions Small(string run, int steps = 6) => new()
    {
        Text = _text, Dim = 16, Layers = 1, Heads = 2, SeqLen = 16, BatchSize = 4, Steps = steps, EvalEvery = 2,
        CheckpointEvery = 2, Device = Device.Cpu, Seed = 1, OutDir = run,
    };

    private static string[] Column(string run, int i) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => l.Split(',')[i]).ToArray();

    [Fact]
    public void TrainsWithoutTheCli_ReportingEveryStepAndSavingOnTheCadence()
    {
        string run = _tmp.Combine("run");
        var logs = new List<string>();
        var steps = new List<SpikingLmProgress>();
        var t = new SpikingLmTrainer(Small(run) with { KeepCheckpoints = 1, Precision = PrecisionMode.Fp32 },
            logs.Add);
        t.Progress += steps.Add;
        double val = t.Run();

        Assert.Equal(Enumerable.Range(1, 6), steps.Select(p => p.Step));
        Assert.All(steps, p => Assert.Equal(6, p.Steps));
        Assert.All(steps, p => Assert.False(p.IsReport)); // no schedule: no progress lines
        Assert.True(double.IsNaN(steps[0].TrainLoss), "the loss is read every 10 steps and at the end only");
        Assert.True(double.IsFinite(steps[^1].TrainLoss));
        Assert.Equal(new[] { "0", "2", "4", "6" }, Column(run, 0));
        Assert.Equal(val, t.ValidationLoss);
        Assert.Equal(double.Parse(Column(run, 2)[0], CultureInfo.InvariantCulture), t.FirstValidationLoss, 5);
        Assert.True(t.BigramLoss > 0);
        Assert.Contains(logs, l => l.StartsWith("bigram baseline"));
        Assert.Contains(logs, l => l.StartsWith("step     6  train "));

        // KeepCheckpoints reaches the LM's saves; the metadata holds every setting the resume checks.
        var saves = Path.Combine(run, Checkpoint.SavesDirectory);
        Assert.Equal(new[] { "step-6" }, Directory.GetDirectories(saves).Select(Path.GetFileName).ToArray());
        var m = t.LastCheckpoint!.Metadata;
        Assert.Equal(("spiking-lm", "6", "6", "16", "1", "2", "16", "fp32", _text),
            (m["kind"], m["step"], m["steps"], m["dim"], m["layers"], m["heads"], m["seq_len"], m["precision"],
                m["text"]));
    }

    [Fact]
    public void ResumeTakesTheSettingsNotGivenFromTheCheckpoint_AndRefusesAChangedOne()
    {
        string run = _tmp.Combine("run");
        new SpikingLmTrainer(Small(run, 4) with { Precision = PrecisionMode.Fp32 }).Run();

        // Nothing given: every setting, the precision included, comes from the run; --steps 6 extends it.
        var logs = new List<string>();
        var resumed = new SpikingLmTrainer(new SpikingLmTrainOptions
        {
            OutDir = run, Resume = true, Device = Device.Cpu, Steps = 6, Given = new HashSet<string> { "steps" },
        }, logs.Add);
        resumed.Run();
        Assert.Equal((16, 1, 2, 16, 1, (PrecisionMode?)PrecisionMode.Fp32), (resumed.Options.Dim,
            resumed.Options.Layers, resumed.Options.Heads, resumed.Options.SeqLen, resumed.Options.Seed,
            resumed.Options.Precision));
        Assert.Contains("warning: --steps 6: the run was started with 4 steps; its cosine learning-rate schedule " +
            "now spans 6, so the rate changes from step 5 on", logs);
        Assert.Equal(new[] { "0", "2", "4", "6" }, Column(run, 0));
        Assert.Equal("fp32", resumed.LastCheckpoint!.Metadata["precision"]);

        var e = Assert.Throws<ArgumentException>(() => new SpikingLmTrainer(Small(run) with
        {
            Resume = true, Precision = PrecisionMode.Tf32,
        }).Run());
        Assert.Contains($"--precision tf32 differs from the run in {run}, which was trained with --precision fp32",
            e.Message);
        Assert.Equal("precision", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => new SpikingLmTrainer(Small(run) with { Resume = true }).Run());
        Assert.Contains("--precision (none: the library's default) differs from the run", e.Message);

        // Fewer steps than done: nothing to train, said so (before, the progress schedule threw).
        logs.Clear();
        var done = new SpikingLmTrainer(Small(run, 4) with { Resume = true, Precision = PrecisionMode.Fp32 },
            logs.Add);
        done.ProgressSchedule = ProgressReporter.ForLog();
        done.Run();
        Assert.Contains("the run already completed 6 of 4 steps; pass a larger --steps to train further", logs);
    }

    [Fact]
    public void ARunSavedBeforePrecisionWasRecorded_ResumesWithTheDefault()
    {
        string run = _tmp.Combine("run");
        new SpikingLmTrainer(Small(run, 4)).Run();
        var latest = Checkpoint.FindLatest(run)!;
        Assert.Equal("", latest.Metadata["precision"]);
        CheckpointFixtures.DropMetadata(latest.Directory, "precision");
        Assert.False(Checkpoint.FindLatest(run)!.Metadata.ContainsKey("precision"));

        var t = new SpikingLmTrainer(new SpikingLmTrainOptions
        {
            OutDir = run, Resume = true, Device = Device.Cpu, Steps = 6, Given = new HashSet<string> { "steps" },
        });
        t.Run();
        Assert.Null(t.Options.Precision);
        Assert.Equal("", t.LastCheckpoint!.Metadata["precision"]);
    }

    [Fact]
    public void BadOptionsAreRefusedBeforeAnythingIsWritten()
    {
        string run = _tmp.Combine("run");
        var cases = new (SpikingLmTrainOptions Options, string Param, string Message)[]
        {
            (Small(run) with { Heads = 5 }, "heads", "--heads 5 must divide --dim 16"),
            (Small(run) with { Steps = 0 }, "steps", "--steps must be positive, got 0"),
            (Small(run) with { Lr = float.NaN }, "lr", "--lr must be a positive number, got NaN"),
            (Small(run) with { Text = " " }, "text", "--text must name a file"),
            (Small(run) with { Resume = true, Overwrite = true }, "Overwrite", "give one of them"),
            (Small(run) with { KeepCheckpoints = 0 }, "KeepCheckpoints", "at least 1, got 0"),
        };
        foreach (var (options, param, message) in cases)
        {
            var e = Assert.ThrowsAny<ArgumentException>(() => new SpikingLmTrainer(options));
            Assert.Contains(message, e.Message);
            Assert.Equal(param, e.ParamName);
        }
        Assert.False(Directory.Exists(run));
    }
}

/// <summary>Edits saves on disk the way earlier versions wrote them.</summary>
internal static class CheckpointFixtures
{
    /// <summary>Rewrites both files of the save in <paramref name="saveDir"/> without the metadata key.</summary>
    public static void DropMetadata(string saveDir, string key)
    {
        foreach (var name in new[] { Checkpoint.ModelFile, Checkpoint.TrainerFile })
        {
            var path = Path.Combine(saveDir, name);
            var file = SafeTensors.Load(path);
            var metadata = file.Metadata.Where(kv => kv.Key != key).ToDictionary(kv => kv.Key, kv => kv.Value);
            SafeTensors.Save(path, file.Tensors.ToList(), metadata);
        }
    }
}
