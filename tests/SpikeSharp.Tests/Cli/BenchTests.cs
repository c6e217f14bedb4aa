using System.Text.Json;
using System.Text.RegularExpressions;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Cli;

/// <summary>The neuron bench, run as a user runs it (separate process, output to a file), on the CPU.</summary>
public sealed class BenchTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void NeuronBenchTakesNoRatioAgainstRecordedFiguresAndHeadlinesTheUsersPath()
    {
        var json = _tmp.Combine("neurons.json");
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, null,
            "neurons", "--device", "cpu", "--small", "--reps", "1", "--out", json);
        Assert.True(run.Code == 0, run.ToString());

        // Before: columns "tether" and "×" (tether ms / our ms, with tether measured elsewhere by another method).
        var header = Assert.Single(run.OutLines, l => l.StartsWith("T×N "));
        Assert.Equal(
            new[] { "T×N", "h", "pass", "wall", "ms", "device", "ms", "peak", "MiB", "B/step", "GB/s", "%peak", "floor",
                "saved", "fire" },
            header.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("faster", run.Out);
        Assert.Contains("wall ms: the user's path timed as a training step sees it " +
            "(median, wall clock, a device sync after every call).", run.OutLines);

        // The headline rows: SpikingFunctions.Lif + Tensor.Backward through the tape, per shape and saved-h precision.
        var rows = run.OutLines.Where(l => Regex.IsMatch(l, @"^\d+×\d+ +f(32|16) +fwd\+bwd +\d+\.\d{3} +- +- "));
        Assert.Equal(4, rows.Count());

        // Peer figures: labelled references with source, date and method, never divided by ours.
        const string referencesHead =
            "Recorded peer figures, for reference only (not measured in this run: no ratio is taken).";
        int refs = Array.FindIndex(run.OutLines, l => l.StartsWith(referencesHead));
        Assert.True(refs >= 0, run.ToString());
        Assert.Contains("source SEMANTICS.md §4 (the project's seed), " +
            "recorded before 2026-12-02 (no date in the source), median; timing method not stated in the source",
            run.OutLines[refs]);
        Assert.Contains(run.OutLines[(refs + 1)..],
            l => l.Contains("tether (tetherpy 0.2.0)") && l.Contains("16×4194304 0.688 ms"));

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var first = doc.RootElement.GetProperty("results")[0];
        Assert.False(first.TryGetProperty("SpeedupVsTether", out _));
        Assert.False(first.TryGetProperty("TetherMs", out _));
        Assert.True(first.GetProperty("WallMs").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, first.GetProperty("DeviceMs").ValueKind); // CUDA only
        var reference = doc.RootElement.GetProperty("references")[0];
        Assert.Equal("SEMANTICS.md §4 (the project's seed)", reference.GetProperty("Source").GetString());
        Assert.Equal("median; timing method not stated in the source", reference.GetProperty("Method").GetString());
    }
}
