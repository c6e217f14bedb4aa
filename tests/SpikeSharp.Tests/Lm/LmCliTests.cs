using SpikeSharp.Cli;

namespace SpikeSharp.Tests.Lm;

[Collection("Console")]
public sealed class LmCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spikesharp-lm-" + Guid.NewGuid().ToString("N"));

    public LmCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Cli(params string[] args) => CliInProcess.Run(args);

    private string TextFile(string content)
    {
        var p = Path.Combine(_dir, "text.txt");
        File.WriteAllText(p, content);
        return p;
    }

    [Fact]
    public void TrainThenGenerateOnTinySettings()
    {
        var text = TextFile(string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
        var run = Path.Combine(_dir, "run");
        var (code, output, err) = Cli("train", "lm", "--text", text, "--dim", "16", "--layers", "1", "--heads", "2", "--seq-len", "16",
            "--batch-size", "4", "--steps", "6", "--eval-every", "3", "--device", "cpu", "--out", run, "--seed", "1");
        Assert.True(code == 0, err + output);
        Assert.Contains("bigram baseline", output);
        Assert.Contains("ACs", output);
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
        Assert.Contains("\"spiking-lm\"", File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length); // header + steps 0, 3, 6

        var gen = Cli("generate", "--checkpoint", run, "--prompt", "the ", "--tokens", "12", "--seed", "2", "--device", "cpu");
        Assert.True(gen.Code == 0, gen.Err);
        Assert.StartsWith("the ", gen.Out);
        Assert.Equal("the ".Length + 12, gen.Out.TrimEnd('\n', '\r').Length);

        var bad = Cli("generate", "--checkpoint", run, "--prompt", "the dog!", "--tokens", "3", "--device", "cpu");
        Assert.Equal(1, bad.Code);
        Assert.Contains("'!'", bad.Err);
        Assert.Contains("'d'", bad.Err);
    }

    [Fact]
    public void BadInputsFailClearly()
    {
        var missing = Cli("train", "lm", "--text", Path.Combine(_dir, "nope.txt"), "--device", "cpu", "--out", _dir);
        Assert.Equal(1, missing.Code);
        Assert.Contains("does not exist", missing.Err);

        var empty = Cli("train", "lm", "--text", TextFile(""), "--device", "cpu", "--out", _dir);
        Assert.Equal(1, empty.Code);
        Assert.Contains("empty", empty.Err);

        var shortText = Cli("train", "lm", "--text", TextFile("abcdefghij"), "--seq-len", "64", "--device", "cpu", "--out", _dir);
        Assert.Equal(1, shortText.Code);
        Assert.Contains("seq-len 64", shortText.Err);

        var other = Path.Combine(_dir, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "config.json"), "{\"kind\": \"mnist-snn\"}");
        var wrongKind = Cli("generate", "--checkpoint", other, "--prompt", "a", "--device", "cpu");
        Assert.Equal(1, wrongKind.Code);
        Assert.Contains("mnist-snn", wrongKind.Err);
        Assert.Contains("spiking-lm", wrongKind.Err);
    }
}
