using SpikeSharp.IO;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Training;

/// <summary>`spikesharp train nmnist|shd|cifar10` on tiny format-exact fixtures: short CPU runs, resume, options.
/// </summary>
[Collection("Console")] // redirects the process-wide Console
public class RecipeCliTests
{
    private static (int Code, string Text) Run(params string[] args)
    {
        var (code, o, e) = CliInProcess.Run(args);
        return (code, o + e);
    }

    private static string[] Small(string data, string run, string cache) => new[]
    {
        "--data", data, "--out", run, "--cache", cache, "--device", "cpu", "--batch-size", "8", "--no-plots",
    };

    [Fact]
    public void NMnist_TrainsFromCachedFramesAndResumesOnlyWithTheSameBinning()
    {
        using var tmp = new TempDirectory();
        var data = tmp.Combine("nmnist");
        EventFixtures.WriteNMnist(data, perDigit: 2);
        var run = tmp.Combine("run");
        var args = Small(data, run, tmp.Combine("cache")).Concat(new[] { "-T", "4", "--epochs", "2", "--stop-after", "1" });
        var (code, text) = Run(new[] { "train", "nmnist" }.Concat(args).ToArray());
        Assert.True(code == 0, text);
        Assert.Contains("train nmnist: model csnn, T=4, binning time-bins:4, epochs 2, batch 8", text);
        Assert.Matches(@"test accuracy: 0\.\d{4}", text);
        var meta = Checkpoint.FindLatest(run)!.Metadata;
        Assert.Equal(("nmnist-classifier", "csnn", "time-bins:4", "4", "20"),
            (meta["kind"], meta["model"], meta["binning"], meta["time_steps"], meta["train_samples"]));
        Assert.Equal(2, Directory.GetFiles(tmp.Combine("cache")).Length); // train and test frames

        (code, text) = Run("train", "nmnist", "--data", data, "--out", run, "--resume", "--binning", "event-count",
            "--events-per-frame", "10", "--device", "cpu", "--no-plots");
        Assert.Equal(1, code);
        Assert.Contains("--binning event-count:10 differs from the run in", text);
        Assert.Contains("which was trained with --binning time-bins:4", text);

        (code, text) = Run("train", "nmnist", "--data", data, "--out", run, "--resume", "--cache", tmp.Combine("cache"),
            "--device", "cpu", "--no-plots");
        Assert.True(code == 0, text);
        Assert.Contains("T=4, binning time-bins:4, epochs 2, batch 8", text);
        Assert.Contains("frames: read 20 samples from the cache", text);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
    }

    [Fact]
    public void Shd_TrainsAnMlpOnSevenHundredChannels()
    {
        using var tmp = new TempDirectory();
        var data = tmp.Combine("shd");
        Directory.CreateDirectory(data);
        EventFixtures.WriteShdPair(data, perSplit: 16);
        var run = tmp.Combine("run");
        var (code, text) = Run(new[] { "train", "shd" }.Concat(Small(data, run, tmp.Combine("c")))
            .Concat(new[] { "--epochs", "1", "-T", "5", "--binning", "time-window", "--window-us", "50000", "--tensorboard", tmp.Combine("tb") })
            .ToArray());
        Assert.True(code == 0, text);
        Assert.Contains("train shd: model mlp, T=5, binning time-window:50000us", text);
        var meta = Checkpoint.FindLatest(run)!.Metadata;
        Assert.Equal(("shd-classifier", "time-window:50000us"), (meta["kind"], meta["binning"]));
        Assert.Single(Directory.GetFiles(tmp.Combine("tb")));
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal(2, rows.Length);
    }

    [Fact]
    public void Cifar10_TrainsTheCsnnWithPlots()
    {
        using var tmp = new TempDirectory();
        var data = tmp.Combine("cifar");
        EventFixtures.WriteCifar(Path.Combine(data, "cifar-10-batches-bin"), perFile: 4);
        var run = tmp.Combine("run");
        var (code, text) = Run("train", "cifar10", "--data", data, "--out", run, "--device", "cpu", "--batch-size", "8",
            "--epochs", "1", "-T", "2", "--train-limit", "16", "--test-limit", "4");
        Assert.True(code == 0, text);
        Assert.Contains("train cifar10: model csnn, T=2, encoding direct, epochs 1, batch 8", text);
        Assert.Contains("CIFAR-10: 16 training and 4 test images", text);
        var meta = Checkpoint.FindLatest(run)!.Metadata;
        Assert.Equal(("cifar10-classifier", "Direct", "16"), (meta["kind"], meta["encoding"], meta["train_samples"]));
        foreach (var png in new[] { "curves.png", "raster.png", "firing-rates.png" })
            Assert.True(new FileInfo(Path.Combine(run, "plots", png)).Length > 1000, png);
    }

    [Fact]
    public void BadOptionsAndDataFailWithTheOptionNamed()
    {
        using var tmp = new TempDirectory();
        var data = tmp.Combine("d");
        Directory.CreateDirectory(data);
        var (code, text) = Run("train", "nmnist", "--data", data, "--binning", "frames", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--binning: expected time-bins, time-window or event-count, got 'frames'", text);
        (code, text) = Run("train", "shd", "--data", data, "--window-us", "0", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--window-us: expected a positive whole number of microseconds, got '0'", text);
        (code, text) = Run("train", "shd", "--data", tmp.Combine("nope"), "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--data: expected a directory holding shd_train.h5 and shd_test.h5", text);
        Assert.Contains("which does not exist", text);
        (code, text) = Run("train", "nmnist", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--data", text);
        (code, text) = Run("train", "nmnist", "--data", data, "--binning", "time-bins", "--events-per-frame", "5",
            "--device", "cpu", "--out", tmp.Combine("r1"));
        Assert.Equal(1, code);
        Assert.Contains("--events-per-frame: only with --binning event-count, got --binning time-bins", text);
        (code, text) = Run("train", "nmnist", "--data", data, "--binning", "time-window", "--device", "cpu",
            "--out", tmp.Combine("r2"));
        Assert.Equal(1, code);
        Assert.Contains("--window-us: expected the frame duration in µs for --binning time-window, got none", text);
        (code, text) = Run("train", "nmnist", "--data", data, "--device", "cpu", "--out", tmp.Combine("r3"), "--no-cache");
        Assert.Equal(1, code);
        Assert.Contains($"N-MNIST: '{data}' has no Train folder", text);
        (code, text) = Run("train", "cifar10", "--data", data, "--encoding", "poisson", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--encoding: expected direct, rate or latency, got 'poisson'", text);
        (code, text) = Run("train", "cifar10", "--data", data, "--test-limit", "-1", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--test-limit: expected a positive whole number, got '-1'", text);
    }
}
