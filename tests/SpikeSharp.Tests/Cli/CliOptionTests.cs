using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Cli;

/// <summary>
/// Bad options, run as a user would (separate process, output to files): every problem is reported as
/// "--option: expected X, got Y" before anything is loaded, with no .NET internals in the message.
/// </summary>
public sealed class CliOptionTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private CliRun Cli(params string[] args) => CliProcess.Run(_tmp.Path, null, args);

    /// <summary>Exit 1, exactly these "error:" lines on stderr, and nothing loaded or written.</summary>
    private void AssertRejected(CliRun run, params string[] errors)
    {
        Assert.True(run.Code == 1, run.ToString());
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(errors.Select(e => "error: " + e), lines.Where(l => l.StartsWith("error:")));
        Assert.Contains(lines, l => l.StartsWith("see 'spikesharp ") && l.EndsWith(" --help' for the options"));
        Assert.DoesNotContain("Parameter '", run.Err);
        Assert.DoesNotContain("System.", run.Err);
        // Rejected while parsing: no header, no dataset search, no download, no run directory.
        Assert.Equal("", run.Out);
        Assert.False(Directory.Exists(_tmp.Combine("runs")), "a run directory was created for a rejected command");
    }

    [Fact]
    public void NumbersSayWhatWasExpectedAndWhatCame()
    {
        AssertRejected(Cli("train", "--epochs", "0", "--device", "cpu"),
            "--epochs: expected a positive whole number, got '0'");
        // Before: "Cannot parse argument 'abc' for option '--epochs' as expected type
        // 'System.Nullable`1[System.Int32]'."
        AssertRejected(Cli("train", "--epochs", "abc", "--device", "cpu"),
            "--epochs: expected a positive whole number, got 'abc'");
        // Before: "Specified argument was out of the range of valid values.", after the dataset had loaded.
        AssertRejected(Cli("train", "--train-limit", "-1", "--device", "cpu"),
            "--train-limit: expected a positive whole number, got '-1'");
        AssertRejected(Cli("train", "--epochs", "99999999999", "--device", "cpu"),
            "--epochs: expected a positive whole number up to 2147483647, got '99999999999'");
        AssertRejected(Cli("train", "--lr", "fast", "--device", "cpu"),
            "--lr: expected a positive number such as 0.001, got 'fast'");
        AssertRejected(Cli("train", "--lr", "NaN", "--device", "cpu"),
            "--lr: expected a positive number such as 0.001, got 'NaN'");
        AssertRejected(Cli("train", "--seed", "-4", "--device", "cpu"),
            "--seed: expected a whole number from 0 to 18446744073709551615, got '-4'");
        AssertRejected(Cli("train", "lm", "--seq-len", "0", "--device", "cpu"),
            "--seq-len: expected a positive whole number, got '0'");
        AssertRejected(
            Cli("generate", "--checkpoint", _tmp.Path, "--prompt", "a", "--temperature", "-1", "--device", "cpu"),
            "--temperature: expected a number >= 0 (0 = greedy), got '-1'");
    }

    [Fact]
    public void EveryBadOptionIsReportedAtOnce()
    {
        AssertRejected(
            Cli("train", "--model", "resnet", "--batch-size", "-3", "--encoding", "morse", "--device", "tpu",
                "--augment", "flip+rotate"),
            "--model: expected mlp, csnn or plif-csnn, got 'resnet'",
            "--batch-size: expected a positive whole number, got '-3'",
            "--encoding: expected direct, rate or latency, got 'morse'",
            "--device: expected cpu, cuda, cuda:N or ilgpu-cpu, got 'tpu'",
            "--augment: expected none, flip, shiftN (N pixels, e.g. shift2) or flip+shiftN, got 'flip+rotate'");
        // Choices ignore case and keep the older spelling "plifcsnn": only --epochs is wrong here.
        AssertRejected(Cli("train", "--model", "PlifCsnn", "--encoding", "RATE", "--epochs", "0", "--device", "cpu"),
            "--epochs: expected a positive whole number, got '0'");
    }

    [Fact]
    public void OutputDirectoryProblemsComeBeforeTheDatasetLoads()
    {
        var file = _tmp.Combine("a-file");
        File.WriteAllText(file, "keep me");
        // Before: the dataset search (and a download attempt) ran first, then "The file '…' already exists."
        AssertRejected(Cli("train", "--out", file, "--device", "cpu"),
            $"--out: expected a directory, got '{file}', which is a file");
        AssertRejected(Cli("train", "--out", Path.Combine(file, "run"), "--device", "cpu"),
            $"--out: cannot create '{Path.Combine(file, "run")}': '{file}' is a file, not a directory");
        AssertRejected(Cli("train", "lm", "--out", file, "--device", "cpu"),
            $"--out: expected a directory, got '{file}', which is a file");
        Assert.Equal("keep me", File.ReadAllText(file));
        Assert.Empty(Directory.GetFiles(_tmp.Path, ".spikesharp-write-test-*"));
    }

    [Fact]
    public void InputPathsAreCheckedBeforeLoading()
    {
        var missing = _tmp.Combine("nope.txt");
        AssertRejected(Cli("train", "lm", "--text", missing, "--device", "cpu"),
            $"--text: expected a UTF-8 text file, got '{missing}', which does not exist");
        AssertRejected(Cli("train", "lm", "--text", _tmp.Path, "--device", "cpu"),
            $"--text: expected a UTF-8 text file, got '{_tmp.Path}', which is a directory");
        AssertRejected(Cli("train", "--data", missing, "--device", "cpu"),
            $"--data: expected a directory holding the dataset files, got '{missing}', which does not exist");
        AssertRejected(Cli("generate", "--checkpoint", missing, "--prompt", "a", "--device", "cpu"),
            $"--checkpoint: expected a directory written by 'spikesharp train lm --out DIR', got '{missing}', " +
            "which does not exist");
    }

    [Fact]
    public void DevicesThatDoNotExistHereAreRefusedWithTheReason()
    {
        // cuda:99 exists on no machine; the message says why it is not available.
        var run = Cli("train", "--device", "cuda:99");
        Assert.Equal(1, run.Code);
        Assert.StartsWith("error: --device: cuda:99 is not available: ", run.Err);
        Assert.Contains("; use --device cpu", run.Err);
        Assert.Equal("", run.Out);

        var env = CliProcess.Run(_tmp.Path, new Dictionary<string, string> { ["SPIKESHARP_DEVICE"] = "cuda:99" },
            "train", "--epochs", "1");
        Assert.Equal(1, env.Code);
        Assert.StartsWith("error: SPIKESHARP_DEVICE: cuda:99 is not available: ", env.Err);
        Assert.Contains("unset SPIKESHARP_DEVICE or pass --device cpu", env.Err);
        Assert.Equal("", env.Out);
    }

    [Fact]
    public void RuntimeChecksDoNotLeakParameterNames()
    {
        // --heads must divide --dim: checked by the command (an ArgumentException with a parameter name) before the
        // text loads.
        var run = Cli("train", "lm", "--dim", "16", "--heads", "5", "--device", "cpu", "--out", _tmp.Combine("lm"));
        Assert.Equal(1, run.Code);
        Assert.Equal("error: --heads 5 must divide --dim 16", run.Err.Trim());
    }
}
