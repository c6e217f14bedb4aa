using System.Text.Json;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Cli;

/// <summary>
/// The <c>train</c> bench suite as the lead runs it on the GPU, at tiny sizes: its JSON document, its table and its
/// refusals.
/// </summary>
public sealed class TrainBenchTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void CpuRunWritesOneCasePerWorkloadWithTimesLaunchesAndTopOps()
    {
        var json = _tmp.Combine("out", "train.json");
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, null, "train", "--models", "csnn,on",
            "--batch", "2", "--steps", "1", "--warmup", "0", "--profile-steps", "1", "--device", "cpu",
            "--on-n", "16", "--on-t", "3", "--on-b", "2", "--top", "40", "--json", json);
        Assert.True(run.Code == 0, run.ToString());
        Assert.Contains(run.OutLines, l => l.StartsWith("csnn b2: ", StringComparison.Ordinal)
            && l.Contains(" ms/step (median ") && l.Contains(" s/epoch, peak n/a (cpu), "));
        Assert.Contains(run.OutLines, l => l.StartsWith("on: ", StringComparison.Ordinal));

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("train", root.GetProperty("suite").GetString());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        var cases = root.GetProperty("cases");
        Assert.Equal(2, cases.GetArrayLength());

        var c = cases[0];
        Assert.Equal("csnn", c.GetProperty("model").GetString());
        Assert.Equal(2, c.GetProperty("batch").GetInt32());
        Assert.Equal(8, c.GetProperty("t").GetInt32());
        Assert.Equal(1, c.GetProperty("steps").GetInt32());
        Assert.Equal(JsonValueKind.Null, c.GetProperty("error").ValueKind);
        double ms = c.GetProperty("ms_per_step").GetDouble(), sps = c.GetProperty("samples_per_second").GetDouble();
        Assert.True(ms > 0, $"ms/step {ms}");
        Assert.Equal(2 / (ms / 1000), sps, 6);
        Assert.Equal(60000 / sps, c.GetProperty("seconds_per_epoch").GetDouble(), 6);
        Assert.True(c.GetProperty("host_ms_per_step").GetDouble() <= ms);
        Assert.Equal(JsonValueKind.Null, c.GetProperty("peak_device_bytes").ValueKind); // no allocator on the CPU
        Assert.True(c.GetProperty("kernels_per_step").GetDouble() > 0);
        Assert.True(c.GetProperty("profile_synchronized").GetBoolean());
        var ops = c.GetProperty("top_ops").EnumerateArray()
            .ToDictionary(o => o.GetProperty("op").GetString()!, o => o);
        // csnn: two conv blocks, three LIF layers, per step.
        Assert.Equal(2, ops["conv2d"].GetProperty("count").GetDouble());
        Assert.Equal(2, ops["conv2d.backward"].GetProperty("count").GetDouble());
        Assert.Equal(2, ops["batch_norm"].GetProperty("count").GetDouble());
        Assert.Equal(3, ops["lif"].GetProperty("count").GetDouble());
        Assert.Equal(1, ops["optimizer.step"].GetProperty("count").GetDouble());
        Assert.Equal(1.0, ops.Values.Sum(o => o.GetProperty("share").GetDouble()), 6);
        foreach (var o in ops.Values)
            Assert.True(o.GetProperty("device_ms").GetDouble() >= o.GetProperty("host_ms").GetDouble());

        var on = cases[1];
        Assert.Equal("on", on.GetProperty("model").GetString());
        Assert.Equal(JsonValueKind.Null, on.GetProperty("seconds_per_epoch").ValueKind);
        Assert.Equal(JsonValueKind.Null, on.GetProperty("error").ValueKind);
    }

    [Fact]
    public void EmulatedDeviceReportsTheAllocatorPeak()
    {
        var json = _tmp.Combine("emu.json");
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, null, "train", "--models", "on",
            "--steps", "1", "--warmup", "1", "--profile-steps", "0", "--device", "ilgpu-cpu",
            "--on-n", "16", "--on-t", "3", "--on-b", "2", "--json", json);
        Assert.True(run.Code == 0, run.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var c = doc.RootElement.GetProperty("cases")[0];
        // x (3, 2, 16) and W (16, 16) alone are 640 floats.
        Assert.True(c.GetProperty("peak_device_bytes").GetInt64() >= 4 * 640);
        // Linear, LIF, sum forward; their three backwards; at least one kernel each.
        Assert.True(c.GetProperty("kernels_per_step").GetDouble() >= 6);
        Assert.Equal(0, c.GetProperty("top_ops").GetArrayLength());
    }

    [Theory]
    [InlineData("--models", "vgg", "train: --models: expected a list of plif-csnn, csnn, lm, on, got 'vgg'")]
    [InlineData("--batch", "16,0", "train: --batch: expected positive integers separated by commas, got '0'")]
    [InlineData("--steps", "0", "train: --steps: expected an integer >= 1, got '0'")]
    [InlineData("--jsn", "x", "train: unknown option '--jsn' (options: --models, --batch, --steps, --warmup, "
        + "--profile-steps, --top, --device, --json, -T, --lm-dim, --lm-layers, --lm-heads, --lm-seq, --lm-batch, "
        + "--on-n, --on-t, --on-b)")]
    public void BadOptionsAreRefusedWithTheReason(string option, string value, string message)
    {
        var run = CliProcess.RunDll(CliProcess.BenchDll, _tmp.Path, null, "train", option, value, "--device", "cpu");
        Assert.True(run.Code == 2, run.ToString());
        Assert.Equal(message, run.Err.Split('\n')[0].TrimEnd('\r'));
    }
}
