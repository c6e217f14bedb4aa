using System.Text;
using System.Text.RegularExpressions;
using SpikeSharp.Tests.Data;
using ProgressReporter = SpikeSharp.Training.ProgressReporter;

namespace SpikeSharp.Tests.Cli;

/// <summary>
/// What the commands print when their output goes to a file (a log), run as a user would: progress lines during an
/// epoch or an LM run, lines never wrapped at 80 columns, the truth about the default device, binary text refused.
/// </summary>
public sealed class CliOutputTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    // Progress lines at every tenth without the few-seconds floor, so a short run shows them.
    private static readonly Dictionary<string, string> EveryTenth = new() { [ProgressReporter.IntervalVariable] = "0" };

    [Fact]
    public void TrainPrintsProgressDuringTheEpochAndNeverWraps()
    {
        // A long data path: its "loaded … from PATH" line is far over 80 columns.
        var data = _tmp.Combine("a-directory-name-long-enough-that-the-log-line-naming-it-is-past-80-columns", "data");
        CliProcess.WriteFashionSubset(data, train: 640, test: 64);
        var run = CliProcess.Run(_tmp.Path, EveryTenth, "train", "--epochs", "1", "--batch-size", "32",
            "--device", "cpu", "--data", data, "--out", _tmp.Combine("run"), "--no-plots");
        Assert.True(run.Code == 0, run.ToString());

        // 20 steps per epoch: a line every 2 steps. Before: only the last step (the quarter-epoch line needed a
        // step that was a multiple of both 25 and 6).
        var progress = run.OutLines.Where(l => Regex.IsMatch(l, @"^  epoch 1/1 step \d+/20 ")).ToArray();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => $"step {2 * i}/20"),
            progress.Select(l => Regex.Match(l, @"step \d+/20").Value));
        Assert.All(progress[..^1], l =>
            Assert.Matches(@"loss \d\.\d{4} acc \d\.\d{3} \d+ samples/s, [\d.]+ s elapsed, about .+ left$", l));

        // Whole lines: before, Spectre wrapped the header and the log lines at 80 columns, splitting the path.
        Assert.Contains(run.OutLines,
            l => l.StartsWith("SpikeSharp train fashion-mnist: model mlp") && l.EndsWith("device cpu"));
        Assert.Contains($"fashion-mnist: loaded 640 train / 64 test images from {data}.", run.OutLines);
    }

    [Fact]
    public void TrainLmPrintsProgressBetweenEvaluations()
    {
        var text = _tmp.Combine("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)));
        var run = CliProcess.Run(_tmp.Path, EveryTenth, "train", "lm", "--text", text, "--dim", "16", "--layers", "1",
            "--heads", "2", "--seq-len", "16", "--batch-size", "4", "--steps", "30", "--eval-every", "30",
            "--device", "cpu", "--out", _tmp.Combine("lm"));
        Assert.True(run.Code == 0, run.ToString());
        // Before: nothing between the evaluations at steps 0 and 30.
        const string line = @"^  step (\d+)/30  train loss \d+\.\d{4}  lr \S+  [\d.]+ s elapsed, about .+ left$";
        var steps = run.OutLines.Select(l => Regex.Match(l, line))
            .Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).ToArray();
        Assert.Equal(new[] { 3, 6, 9, 12, 15, 18, 21, 24, 27 }, steps);
        Assert.Contains(run.OutLines, l => l.StartsWith($"corpus {text} (ASCII): 960 chars"));
    }

    [Fact]
    public void InfoTellsWhetherTheDefaultDeviceExists()
    {
        // Before: "Default device: cuda:99 (from SPIKESHARP_DEVICE=cuda:99)" on a machine without it.
        var run = CliProcess.Run(_tmp.Path, Env("cuda:99"), "info");
        Assert.True(run.Code == 0, run.ToString());
        var line = Assert.Single(run.OutLines, l => l.StartsWith("Default device:"));
        Assert.StartsWith("Default device: cuda:99 from SPIKESHARP_DEVICE=cuda:99, which is NOT available here: ",
            line);
        Assert.EndsWith("; commands fail unless given --device (or unset SPIKESHARP_DEVICE)", line);
        Assert.Matches(
            @"NOT available here: (no CUDA device found \(.+\)|this machine has \d+ CUDA devices? \(cuda:0.*\));",
            line);

        var bad = CliProcess.Run(_tmp.Path, Env("tpu"), "info");
        Assert.True(bad.Code == 0, bad.ToString());
        Assert.Contains("Default device: none usable: SPIKESHARP_DEVICE=tpu is not a device " +
            "(expected cpu, cuda, cuda:N or ilgpu-cpu)", bad.Out);

        var cpu = CliProcess.Run(_tmp.Path, Env("cpu"), "info");
        Assert.Contains("Default device: cpu (from SPIKESHARP_DEVICE=cpu)", cpu.Out);
    }

    private static Dictionary<string, string> Env(string device) => new() { ["SPIKESHARP_DEVICE"] = device };

    private CliRun Lm(string text) =>
        CliProcess.Run(_tmp.Path, null, "train", "lm", "--text", text, "--device", "cpu", "--out", _tmp.Combine("lm"));

    [Fact]
    public void TrainLmRefusesBinaryAndLatin1Text()
    {
        var binary = _tmp.Combine("program");
        File.WriteAllBytes(binary, new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0 });
        var run = Lm(binary);
        Assert.Equal(1, run.Code);
        Assert.Equal($"error: text: '{binary}' is not text: NUL byte at offset 7 (a binary file?); expected UTF-8 text",
            run.Err.Trim());

        var latin1 = _tmp.Combine("latin1.txt");
        File.WriteAllBytes(latin1, Encoding.Latin1.GetBytes("un café au lait, s'il vous plaît. " + new string('x', 9)));
        run = Lm(latin1);
        Assert.Equal(1, run.Code);
        Assert.StartsWith($"error: text: '{latin1}' is not valid UTF-8: bytes E9 20 61 75 at offset 6 " +
            "(Latin-1 or another 8-bit encoding?)", run.Err);
        Assert.False(Directory.Exists(_tmp.Combine("lm")), "a run directory was created for refused text");
    }
}
