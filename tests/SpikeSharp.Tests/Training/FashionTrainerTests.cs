using SpikeSharp.IO;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Training;

public class FashionTrainerTests
{
    private static string TempDir() => Directory.CreateTempSubdirectory("spikesharp-train-").FullName;

    private static FashionTrainOptions Small(string dir, int epochs = 1) => new()
    {
        Model = FashionModelKind.Mlp, Epochs = epochs, BatchSize = 64, Steps = 2, Lr = 2e-3f, OutDir = dir,
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
        Assert.Single(b.History);
        Assert.Equal(a.History[1].TrainLoss, b.History[0].TrainLoss, 5);
        Assert.Equal(a.History[1].TestAccuracy, b.History[0].TestAccuracy, 5);
    }

    [Fact]
    public void ResumeFromAnotherModelFailsClearly()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir)).Run();
        var ex = Assert.Throws<InvalidDataException>(() => new FashionTrainer(Small(dir, 2) with { Model = FashionModelKind.Csnn, Resume = true }).Run());
        Assert.Contains("mlp", ex.Message);
    }

    [Fact]
    public void BadOptionsFailClearly()
    {
        var dir = TempDir();
        Assert.Contains("--steps", Assert.Throws<ArgumentOutOfRangeException>(() => new FashionTrainer(Small(dir) with { Steps = 0 })).Message);
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
    public void TornCheckpointIsDetected()
    {
        var dir = TempDir();
        new FashionTrainer(Small(dir)).Run();
        var other = TempDir();
        new FashionTrainer(Small(other) with { Seed = 9 }).Run();
        File.Copy(Path.Combine(other, Checkpoint.TrainerFile), Path.Combine(dir, Checkpoint.TrainerFile), overwrite: true);
        Assert.Throws<InvalidDataException>(() => new FashionTrainer(Small(dir, 2) with { Resume = true }).Run());
    }
}
