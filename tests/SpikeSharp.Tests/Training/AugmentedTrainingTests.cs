using SpikeSharp.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Training;

public class AugmentedTrainingTests
{
    private static string TempDir() => Directory.CreateTempSubdirectory("spikesharp-aug-").FullName;

    private static FashionTrainOptions Small(string dir, int epochs) => new()
    {
        Model = FashionModelKind.Mlp, Epochs = epochs, BatchSize = 64, TimeSteps = 2, Lr = 2e-3f, OutDir = dir,
        Device = Device.Cpu, TrainLimit = 320, TestLimit = 128, Seed = 5, Plots = false,
    };

    [Fact]
    public void AnAugmentedRun_ResumedWithoutTheOption_ReplaysTheSameSamples()
    {
        var aug = new ImageAugmentation(1, flip: true);
        var plain = new FashionTrainer(Small(TempDir(), 2));
        plain.Run();
        var full = new FashionTrainer(Small(TempDir(), 2) with { Augment = aug });
        full.Run();
        // The augmentation changes what the network sees, so the losses differ from the plain run's.
        Assert.NotEqual(plain.History[0].TrainLoss, full.History[0].TrainLoss);

        var dir = TempDir();
        new FashionTrainer(Small(dir, 2) with { Augment = aug, StopAfter = 1 }).Run();
        var logs = new List<string>();
        var resumed = new FashionTrainer(Small(dir, 2) with { Resume = true }, logs.Add);
        resumed.Run();
        Assert.Contains(logs, l => l == "training images augmented: flip+shift1");
        Assert.Equal(full.History[1].TrainLoss, resumed.History[1].TrainLoss, 5);
        Assert.Equal(full.History[1].TestAccuracy, resumed.History[1].TestAccuracy, 5);
    }

    [Fact]
    public void ThePlifCsnnRecipe_AugmentsByDefault_AndTheOthersDoNot()
    {
        Assert.Equal("flip+shift1", FashionModels.DefaultAugment(FashionModelKind.PlifCsnn).ToString());
        Assert.True(FashionModels.DefaultAugment(FashionModelKind.Mlp).IsNone);
        Assert.True(FashionModels.DefaultAugment(FashionModelKind.Csnn).IsNone);
    }
}
