using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Training;

public class FashionTrainerTests
{
    private static string TempDir() => Directory.CreateTempSubdirectory("spikesharp-train-").FullName;

    private static FashionTrainOptions Small(string dir, int epochs = 1) => new()
    {
        Model = FashionModelKind.Mlp, Epochs = epochs, BatchSize = 64, TimeSteps = 2, Lr = 2e-3f, OutDir = dir,
        Device = Device.Cpu, TrainLimit = 640, TestLimit = 256, Seed = 3, DataRoot = null, Plots = false,
    };

    [Fact]
    public void TrainsLearnsAndWritesArtifacts()
    {
        var dir = TempDir();
        var t = new FashionTrainer(Small(dir, 2) with { Plots = true });
        double acc = t.Run();
        Assert.True(acc > 0.5, $"accuracy {acc} after 2 small epochs");
        Assert.True(t.History[1].TrainLoss < t.History[0].TrainLoss);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);
        var model = SafeTensors.Load(Path.Combine(dir, "model.safetensors"));
        Assert.Contains(model.Tensors, e => e.Name.EndsWith("weight"));
        foreach (var png in new[] { "curves.png", "raster.png", "membrane.png", "firing-rates.png" })
            Assert.True(new FileInfo(Path.Combine(dir, "plots", png)).Length > 1000, png);
    }

    [Fact]
    public void ResumeGivesTheSameLossesAsAnUninterruptedRun()
    {
        var full = TempDir(); var split = TempDir();
        var a = new FashionTrainer(Small(full, 2));
        a.Run();
        new FashionTrainer(Small(split, 2) with { StopAfter = 1 }).Run(); // interrupted after epoch 1
        var b = new FashionTrainer(Small(split, 2) with { Resume = true });
        b.Run();
        // The history (and so curves.png) holds every epoch with its original number, read back for the first.
        Assert.Equal(new[] { 1, 2 }, b.History.Select(h => h.Epoch).ToArray());
        Assert.Equal(a.History[0].TrainLoss, b.History[0].TrainLoss, 12);
        Assert.Equal(a.History[1].TrainLoss, b.History[1].TrainLoss, 5);
        Assert.Equal(a.History[1].TestAccuracy, b.History[1].TestAccuracy, 5);
        Assert.Equal("epoch-2", b.LastCheckpoint!.Name);
    }

    [Fact]
    public void ResumeAfterAKillBetweenTheMetricsRowAndItsCheckpoint_ListsEachEpochOnce()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir, 3) with { StopAfter = 1 }).Run();
        var metrics = Path.Combine(dir, "metrics.csv");
        // Epoch 2 wrote its row, then the process died before its checkpoint was committed.
        File.AppendAllText(metrics, "2,9,0.1,9,0.1,1,1,0.001\n");
        var logs = new List<string>();
        var t = new FashionTrainer(Small(dir, 3) with { Resume = true }, logs.Add);
        t.Run();
        var epochs = File.ReadAllLines(metrics).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        Assert.Equal(new[] { "1", "2", "3" }, epochs);
        Assert.NotEqual(9, t.History[1].TrainLoss);
        Assert.Contains(logs, l => l.Contains("after epoch 1") && l.Contains("dropped 1 row(s) of metrics.csv"));
    }

    [Fact]
    public void ResumeWithAChangedSetting_IsRefusedNamingTheOptionAndBothValues()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir, 2) with { StopAfter = 1 }).Run();
        var o = Small(dir, 2) with { Resume = true };
        var cases = new (FashionTrainOptions Options, string Option, string Given, string Saved)[]
        {
            (o with { Model = FashionModelKind.Csnn }, "--model", "csnn", "mlp"),
            (o with { TimeSteps = 4 }, "--time-steps", "4", "2"),
            (o with { Encoding = EncodingKind.Rate }, "--encoding", "rate", "direct"),
            (o with { BatchSize = 32 }, "--batch-size", "32", "64"),
            (o with { Lr = 0.01f }, "--lr", "0.01", "0.002"),
            (o with { Seed = 4 }, "--seed", "4", "3"),
            (o with { TrainLimit = 320 }, "--train-limit", "320", "640"),
            (o with { Augment = new ImageAugmentation(1, flip: true) }, "--augment", "flip+shift1", "none"),
        };
        foreach (var (options, option, given, saved) in cases)
        {
            var e = Assert.Throws<ArgumentException>(() => new FashionTrainer(options).Run());
            Assert.Contains($"{option} {given} differs from the run in {dir}, which was trained with {option} {saved}",
                e.Message);
            Assert.Contains($"leave {option} out to continue with the saved value", e.Message);
        }
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length); // nothing ran
    }

    [Fact]
    public void ResumeWithMoreEpochs_ExtendsTheRunWithAWarning()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir, 1)).Run();
        var logs = new List<string>();
        var t = new FashionTrainer(Small(dir, 2) with { Resume = true }, logs.Add);
        t.Run();
        Assert.Contains(logs, l => l.Contains("--epochs 2: the run was started with 1 epochs"));
        Assert.Equal(new[] { 1, 2 }, t.History.Select(h => h.Epoch).ToArray());

        logs.Clear();
        new FashionTrainer(Small(dir, 2) with { Resume = true }, logs.Add).Run();
        Assert.Contains(logs, l => l.Contains("already completed 2 of 2 epochs"));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);
    }

    [Fact]
    public void AnExistingRun_IsRefusedWithoutResumeOrOverwrite()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir, 1)).Run();
        var before = File.ReadAllText(Path.Combine(dir, "metrics.csv"));
        var e = Assert.Throws<IOException>(() => new FashionTrainer(Small(dir, 1)).Run());
        Assert.Contains($"--out {dir} already holds a training run " +
                        "(metrics.csv, model.safetensors, trainer.safetensors, checkpoints)", e.Message);
        Assert.Contains("--resume", e.Message);
        Assert.Contains("--overwrite", e.Message);
        Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "metrics.csv")));

        File.WriteAllText(Path.Combine(dir, "mine.txt"), "not part of the run");
        new FashionTrainer(Small(dir, 1) with { Overwrite = true, Seed = 8 }).Run();
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);
        Assert.Equal("8", Checkpoint.FindLatest(dir)!.Metadata["seed"]);
        Assert.True(File.Exists(Path.Combine(dir, "mine.txt")));

        var both = Assert.Throws<ArgumentException>(() =>
            new FashionTrainer(Small(dir) with { Resume = true, Overwrite = true }));
        Assert.Contains("--resume", both.Message);
        Assert.Contains("--overwrite", both.Message);
    }

    [Fact]
    public void ResumeWithoutACheckpoint_FailsClearly()
    {
        var dir = TempDir();
        FashionTrainOptions Resume(string d) => Small(d) with { Resume = true };
        var none = Assert.Throws<FileNotFoundException>(() => new FashionTrainer(Resume(dir)).Run());
        Assert.Contains("holds no training run", none.Message);
        Assert.Contains("leave out --resume", none.Message);
        var missing = Assert.Throws<DirectoryNotFoundException>(() =>
            new FashionTrainer(Resume(Path.Combine(dir, "nope"))).Run());
        Assert.Contains("does not exist", missing.Message);
        File.WriteAllText(Path.Combine(dir, "metrics.csv"), "epoch\n1\n"); // killed during its first save
        var partial = Assert.Throws<FileNotFoundException>(() => new FashionTrainer(Resume(dir)).Run());
        Assert.Contains("no complete checkpoint", partial.Message);
        Assert.Contains("--overwrite", partial.Message);
    }

    [Fact]
    public void BadOptionsFailClearly()
    {
        var dir = TempDir();
        Assert.Contains("--time-steps (T) must be positive, got 0", Assert.Throws<ArgumentOutOfRangeException>(() =>
            new FashionTrainer(Small(dir) with { TimeSteps = 0 })).Message);
        Assert.Contains("--epochs", Assert.Throws<ArgumentOutOfRangeException>(() => new FashionTrainer(Small(dir) with { Epochs = 0 })).Message);
        var big = Assert.Throws<ArgumentException>(() => new FashionTrainer(Small(dir) with { BatchSize = 100000 }).Run());
        Assert.Contains("larger than the training set", big.Message);
        var missing = Path.Combine(dir, "nope");
        Directory.CreateDirectory(missing);
        var noData = Assert.Throws<FileNotFoundException>(
            () => new FashionTrainer(Small(dir) with { DataRoot = missing }).Run());
        Assert.Contains($"data root '{missing}' is unusable", noData.Message);
        Assert.Contains("train-images-idx3-ubyte", noData.Message);
    }

    [Fact]
    public void ADamagedLatestCheckpoint_ResumesFromThePreviousOne()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir, 3) with { StopAfter = 2 }).Run();
        File.WriteAllText(Path.Combine(dir, Checkpoint.SavesDirectory, "epoch-2", Checkpoint.TrainerFile), "torn");
        var logs = new List<string>();
        var t = new FashionTrainer(Small(dir, 3) with { Resume = true }, logs.Add);
        t.Run();
        Assert.Contains(logs, l => l.Contains("passing over the damaged save") && l.Contains("epoch-2"));
        Assert.Contains(logs, l => l.Contains("after epoch 1"));
        Assert.Equal(new[] { 1, 2, 3 }, t.History.Select(h => h.Epoch).ToArray());
    }

    [Fact]
    public void ATornPairOfTheEarlierLayout_IsRefusedWithAHint()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir)).Run();
        var other = TempDir();
        new FashionTrainer(Small(other) with { Seed = 9 }).Run();
        // An earlier version's run: the pair at the root only, torn by a kill between its two writes.
        Directory.Delete(Path.Combine(dir, Checkpoint.SavesDirectory), recursive: true);
        File.Copy(Path.Combine(other, Checkpoint.TrainerFile), Path.Combine(dir, Checkpoint.TrainerFile), overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => new FashionTrainer(Small(dir, 2) with { Resume = true }).Run());
        Assert.Contains("come from different saves", e.Message);
        Assert.Contains("--overwrite", e.Message);
    }
}
