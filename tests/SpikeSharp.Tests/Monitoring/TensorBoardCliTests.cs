using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Monitoring;

/// <summary><c>--tensorboard DIR</c> of <c>train</c> and <c>train lm</c>.</summary>
[Collection("Console")] // redirects the process-wide Console, as the other in-process CLI tests do
public class TensorBoardCliTests
{
    private static (int Code, string Output) Cli(params string[] args)
    {
        var o = new StringWriter();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o); Console.SetError(o);
        try { return (SpikeSharp.Cli.Program.Main(args), o.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }

    private static HashSet<string> Tags(string dir)
    {
        var events = EventFileReader.Read(Assert.Single(Directory.GetFiles(dir, "events.out.tfevents.*")));
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        return events.SelectMany(e => e.Values).Select(v => v.Tag).ToHashSet();
    }

    [Fact]
    public void Train_fashion_mnist_writes_events()
    {
        using var dir = new TempDirectory();
        var (code, text) = Cli("train", "--epochs", "1", "--train-limit", "128", "--batch-size", "64", "-T", "2",
            "--device", "cpu", "--no-plots", "--out", dir.Combine("run"), "--tensorboard", dir.Combine("tb"));
        Assert.True(code == 0, text);
        Assert.Contains($"TensorBoard events in {dir.Combine("tb")}", text);
        var tags = Tags(dir.Combine("tb"));
        foreach (var t in new[] { "loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr", "firing_rate/1",
                     "parameters/0.module.1.weight" })
            Assert.Contains(t, tags);
    }

    [Fact]
    public void Train_lm_writes_events()
    {
        using var dir = new TempDirectory();
        string text = dir.Combine("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
        var (code, output) = Cli("train", "lm", "--text", text, "--dim", "16", "--layers", "1", "--heads", "2",
            "--seq-len", "16", "--batch-size", "4", "--steps", "10", "--eval-every", "5", "--device", "cpu",
            "--out", dir.Combine("run"), "--tensorboard", dir.Combine("tb"));
        Assert.True(code == 0, output);
        var tags = Tags(dir.Combine("tb"));
        foreach (var t in new[] { "loss/train", "loss/val", "bpc/val", "lr", "firing_rate/blocks.0.fc1",
                     "firing_rate/blocks.0.attn.q" })
            Assert.Contains(t, tags);
    }

    [Fact]
    public void Tensorboard_path_that_is_a_file_is_refused_before_training()
    {
        using var dir = new TempDirectory();
        string file = dir.Combine("taken");
        File.WriteAllText(file, "");
        var (code, text) = Cli("train", "--device", "cpu", "--out", dir.Combine("run"), "--tensorboard", file);
        Assert.Equal(1, code);
        Assert.Contains($"--tensorboard: expected a directory, got '{file}', which is a file", text);
        Assert.False(Directory.Exists(dir.Combine("run")));
    }
}
