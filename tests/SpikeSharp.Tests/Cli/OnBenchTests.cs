using System.Text.Json;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Cli;

/// <summary>
/// The <c>on</c> bench suite (the Open Neuromorphic step with and without the exact spike GEMMs), run as the lead runs
/// it on the GPU: here on the emulated device with its plain bfloat16 GEMM, and on the CPU where the split cannot run.
/// </summary>
public sealed class OnBenchTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static readonly Dictionary<string, string> Env = new() { ["SPIKESHARP_SPIKE_GEMM"] = "0" };

    [Fact]
    public void CheckPassesOnTheEmulatedSplitAndReportsBothPaths()
    {
        var json = _tmp.Combine("on.json");
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, Env, "on", "--check", "--device", "ilgpu-cpu",
            "--emulate", "--sizes", "24", "--T", "4", "--B", "3", "--rate", "0.3", "--reps", "1", "--out", json);
        Assert.True(run.Code == 0, run.ToString());
        Assert.Contains("split path: emulated (plain bfloat16 GEMM kernel on the emulated device)", run.OutLines);
        string[] Words(string l) => l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(run.OutLines, l => Words(l) is ["24", "fp32", _, _, "0.0"]);
        Assert.Single(run.OutLines, l => Words(l) is ["24", "split", _, _, "6.0"]);
        Assert.Contains(run.OutLines,
            l => l.Contains("spikes: ") && l.Contains(", 0 of them first more than 1E-005 from θ"));
        Assert.DoesNotContain("MISSED", run.Out);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var c = doc.RootElement.GetProperty("cases")[0];
        Assert.Equal(JsonValueKind.Null, c.GetProperty("Error").ValueKind);
        var acc = c.GetProperty("Accuracy");
        Assert.True(acc.GetProperty("YSplitVsFp64").GetDouble() <= 1e-6);
        Assert.True(acc.GetProperty("GradWSplitVsFp64").GetDouble() <= 1e-6);
        Assert.Equal(6.0, c.GetProperty("Timings")[1].GetProperty("Bf16GemmsPerStep").GetDouble());
    }

    [Fact]
    public void CheckFailsWithTheReasonWhereTheSplitCannotRun()
    {
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, Env, "on", "--check", "--device", "cpu",
            "--sizes", "16", "--T", "3", "--B", "2", "--rate", "0.3", "--reps", "1", "--out", _tmp.Combine("cpu.json"));
        Assert.True(run.Code == 1, run.ToString());
        Assert.Contains("split path: unavailable (cpu computes float32 products)", run.OutLines);
        Assert.Contains(run.OutLines,
            l => l.Contains("MISSED: the split path ran 0.0 bfloat16 GEMMs per step, expected 6"));
        Assert.Contains("1 of 1 size(s) failed or missed a bar (see above)", run.OutLines);
    }

    [Theory]
    [InlineData("--sizes", "0", "--sizes: expected positive whole numbers separated by commas, got '0'")]
    [InlineData("--rate", "1", "--rate: expected a firing rate between 0 and 1 (exclusive), got '1'")]
    [InlineData("--input", "ones", "--input: expected spikes or randn, got 'ones'")]
    [InlineData("--emulate", null, "--emulate: only for ilgpu-cpu (the emulated device), not cpu")]
    public void BadOptionsAreRefusedWithTheReason(string option, string? value, string message)
    {
        var args = new List<string> { "on", "--device", "cpu", option };
        if (value != null) args.Add(value);
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, Env, args.ToArray());
        Assert.True(run.Code == 2, run.ToString());
        Assert.StartsWith($"on: {message}.", run.Err);
    }
}
