using SpikeSharp.Backends.Cpu;
using SpikeSharp.Tests.Cli;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// What <c>spikesharp info</c> says about the CPU path when the BLAS is switched off, when the BLAS found is broken,
/// and when the thread-count variable is wrong (each in a fresh process: the choices are made once per process).
/// </summary>
public sealed class CpuInfoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spikesharp-cpuinfo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string BlasLine(Dictionary<string, string> env)
    {
        var run = CliProcess.Run(_dir, env, "info");
        Assert.True(run.Code == 0, $"info failed: {run.Err}");
        var line = run.Out.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("CPU BLAS", StringComparison.Ordinal));
        Assert.True(line != null, $"no CPU BLAS line in:\n{run.Out}");
        return line!.Trim();
    }

    [Fact]
    public void BlasSwitchedOffNamesTheOwnGemm()
    {
        var line = BlasLine(new() { ["SPIKESHARP_BLAS"] = "none", ["SPIKESHARP_NUM_THREADS"] = "1" });
        Assert.Equal($"CPU BLAS   none (disabled by SPIKESHARP_BLAS=none); SpikeSharp's own GEMM ({CpuGemm.Description}); 1 CPU threads", line);
    }

    [Fact]
    public void ABlasThatIsFoundButDoesNotLoadIsReportedAndTheOwnGemmUsed()
    {
        if (!OperatingSystem.IsLinux()) return; // LD_LIBRARY_PATH is how the test puts a broken library first
        var libs = Path.Combine(_dir, "libs");
        Directory.CreateDirectory(libs);
        // Every name the probe tries is a truncated file here, so a real BLAS elsewhere on the machine is not reached.
        foreach (var name in Blas.Candidates) File.WriteAllText(Path.Combine(libs, name), "not a shared library");
        var line = BlasLine(new() { ["LD_LIBRARY_PATH"] = libs, ["SPIKESHARP_BLAS"] = "" });
        Assert.StartsWith("CPU BLAS   none (libopenblas.so.0: found but failed to load: ", line);
        Assert.Contains("file too short", line);
        Assert.Contains($"SpikeSharp's own GEMM ({CpuGemm.Description})", line);
    }

    [Fact]
    public void ABadThreadCountVariableIsReported()
    {
        var line = BlasLine(new() { ["SPIKESHARP_NUM_THREADS"] = "0" });
        Assert.EndsWith($"SPIKESHARP_NUM_THREADS=0 is out of range: expected 1 to {Threads.MaxCount} (the cores of this machine); "
            + "fix or unset SPIKESHARP_NUM_THREADS, or set SpikeSharp.Threads.Count", line);
    }
}

/// <summary>
/// The own GEMM's other kernels (AVX2 6 × 16 and scalar 4 × 4) on this machine: the runtime is told to hide AVX-512
/// or AVX2 from a fresh process, which runs the <c>cpu</c> bench's checked products (edge tiles, all transpositions,
/// a depth over one panel) before timing them.
/// </summary>
public sealed class CpuGemmKernelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spikesharp-kernels-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("DOTNET_EnableAVX512", "AVX2+FMA, 6×16 register tile")]
    [InlineData("DOTNET_EnableAVX2", "scalar, 4×4 register tile")]
    public void KernelWithoutTheWiderInstructionsComputesTheSameProducts(string variable, string kernel)
    {
        var env = new Dictionary<string, string> { [variable] = "0", ["SPIKESHARP_BLAS"] = "none" };
        var run = CliProcess.RunDll(CliProcess.BenchDll, _dir, env, "cpu", "--quick", "--gemm-only", "--rounds", "1",
            "--out", Path.Combine(_dir, "cpu.json"));
        Assert.True(run.Code == 0, $"bench failed (a wrong product stops it before timing):\n{run.Out}\n{run.Err}");
        Assert.Contains($"own GEMM: {kernel}", run.Out);
        Assert.Contains("odd NT 7×130×1100", run.Out);
    }
}
