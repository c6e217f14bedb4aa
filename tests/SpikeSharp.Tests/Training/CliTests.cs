namespace SpikeSharp.Tests.Training;

[Collection("Console")] // redirects the process-wide Console, as LmCliTests does: the two must not interleave
public class CliTests
{
    private static (int code, string output) Run(params string[] args)
    {
        var (code, o, e) = CliInProcess.Run(args);
        return (code, o + e);
    }

    [Fact]
    public void InfoListsDevicesAndLibraries()
    {
        var (code, text) = Run("info");
        Assert.Equal(0, code);
        Assert.Contains("SpikeSharp", text); Assert.Contains("cpu", text); Assert.Contains("cuBLAS", text); Assert.Contains("Default device", text);
    }

    [Fact]
    public void TrainPrintsTestAccuracy()
    {
        var dir = Directory.CreateTempSubdirectory("spikesharp-cli-").FullName;
        var (code, text) = Run("train", "fashion-mnist", "--epochs", "1", "--train-limit", "256", "--batch-size", "64", "-T", "2", "--device", "cpu", "--out", dir);
        Assert.Equal(0, code);
        Assert.Matches(@"test accuracy: 0\.\d{4}", text);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void BadArgumentsExitNonZeroWithAMessage()
    {
        var (code, text) = Run("train", "--time-steps", "0", "--device", "cpu", "--out", Path.GetTempPath());
        Assert.Equal(1, code);
        Assert.Contains("--time-steps", text);
        Assert.Contains("expected a positive whole number, got '0'", text);
        (code, text) = Run("train", "--model", "resnet", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("mlp, csnn or plif-csnn", text);
        Assert.Contains("'resnet'", text);
        (code, text) = Run("info", "--device", "tpu");
        Assert.Equal(1, code);
        Assert.Contains("'--device'", text); // info takes no device: the parser names what it did not recognise
        Assert.Contains("'tpu'", text);
    }
}
