using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Tests.Cli;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// Looking for cuDNN (Backends/Ilgpu/Cudnn.cs): absent names, a library without cuDNN's functions, a file that is not a
/// library, version numbers, and what <c>spikesharp info</c> and the <c>conv</c> bench say about it (in fresh
/// processes, since the probe runs once per process). None of these need cuDNN or a GPU.
/// </summary>
public sealed class CudnnProbeTests : IDisposable
{
    private const string Absent9 = "libcudnn-spikesharp-absent.so.9", Absent8 = "libcudnn-spikesharp-absent.so.8";
    private readonly string _dir = Directory.CreateTempSubdirectory("spikesharp-cudnn-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A library every machine of its OS has and that exports nothing of cuDNN's.
    private static string SystemLibrary => OperatingSystem.IsWindows() ? "kernel32.dll"
        : OperatingSystem.IsMacOS() ? "/usr/lib/libSystem.B.dylib" : "libc.so.6";

    [Fact]
    public void AbsentLibrariesGiveNotFoundWithTheNamesTried()
    {
        var p = Cudnn.Probe(new[] { Absent9, Absent8 });
        Assert.Null(p.Api);
        Assert.Null(p.Path);
        Assert.Equal(0, p.Version);
        Assert.Equal($"no cuDNN library found (tried {Absent9}, {Absent8})", p.Error);
        Assert.Equal($"cuDNN: not found (no cuDNN library found (tried {Absent9}, {Absent8}))", p.Describe());
    }

    [Fact]
    public void ALibraryWithoutCudnnsFunctionsIsNamedWithTheFirstMissingSymbol()
    {
        var p = Cudnn.Probe(new[] { Absent9, SystemLibrary });
        Assert.Null(p.Api);
        // The absent name is not worth a word once something was found; the found one says what it lacks.
        Assert.Equal($"{SystemLibrary} does not export cudnnGetVersion", p.Error);
    }

    [Fact]
    public void AFileThatIsNotALibraryIsReportedAsFoundButBroken()
    {
        var path = Path.Combine(_dir, "libcudnn.so.9");
        File.WriteAllText(path, "not a shared library");
        var p = Cudnn.Probe(new[] { path, Absent8 });
        Assert.Null(p.Api);
        Assert.StartsWith($"{path}: found but failed to load: ", p.Error);
        Assert.DoesNotContain('\n', p.Error!);
        if (OperatingSystem.IsLinux()) Assert.Contains("file too short", p.Error);
    }

    [Fact]
    public void VersionsDecodeInBothEncodingsAndOnesBefore8AreRefused()
    {
        Assert.Equal("9.10.1", Cudnn.FormatVersion(91001));
        Assert.Equal("9.0.0", Cudnn.FormatVersion(90000));
        Assert.Equal("8.9.7", Cudnn.FormatVersion(8907));
        Assert.Equal("7.6.5", Cudnn.FormatVersion(7605));
        Assert.Null(Cudnn.VersionProblem(8000));
        Assert.Null(Cudnn.VersionProblem(91001));
        Assert.Equal("cuDNN 7.6.5 is older than 8.0 (needed for float32 convolutions without TF32)",
            Cudnn.VersionProblem(7605));
    }

    [Fact]
    public void ThisMachinesProbeDescribesWhatItFound()
    {
        var p = Cudnn.Loaded; // never throws, whatever the machine has
        if (p.Api == null)
        {
            Assert.False(CudnnInfo.Loaded);
            Assert.NotNull(p.Error);
            Assert.Null(CudnnInfo.Version);
            Assert.Equal($"not found ({p.Error}); CUDA convolutions use im2col + cuBLAS", CudnnInfo.Describe());
        }
        else
        {
            Assert.True(CudnnInfo.Loaded);
            Assert.Null(p.Error);
            Assert.True(p.Version >= Cudnn.MinVersion, $"version {p.Version}");
            Assert.StartsWith($"{CudnnInfo.Version} at {p.Path}", CudnnInfo.Describe());
        }
    }

    [Fact]
    public void WorkspaceLimitIsFourTimesTheInputAndOutputBytesAtLeast1GiB()
    {
        Assert.Equal(1L << 30, CudnnConvKernels.WorkspaceLimit(new Conv2dShape(1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0)));
        var big = new Conv2dShape(4096, 128, 14, 14, 128, 3, 3, 1, 1, 1, 1);
        Assert.Equal(4L * 4 * (4096L * 128 * 14 * 14) * 2, CudnnConvKernels.WorkspaceLimit(big));
    }

    private string CudnnInfoLine(Dictionary<string, string> env)
    {
        var run = CliProcess.Run(_dir, env, "info");
        Assert.True(run.Code == 0, $"info failed: {run}");
        var line = run.OutLines.FirstOrDefault(l => l.TrimStart().StartsWith("cuDNN", StringComparison.Ordinal));
        Assert.True(line != null, $"no cuDNN line in:\n{run.Out}");
        return line!.Trim();
    }

    [Fact]
    public void InfoSaysCudnnIsSwitchedOff()
    {
        Assert.Equal("cuDNN      not found (disabled by SPIKESHARP_NO_CUDNN=1); CUDA convolutions use im2col + cuBLAS",
            CudnnInfoLine(new() { [Cudnn.DisableVariable] = "1" }));
    }

    [Fact]
    public void InfoNamesACudnnThatIsFoundButBroken()
    {
        if (!OperatingSystem.IsLinux()) return; // LD_LIBRARY_PATH is how the test puts broken libraries first
        var libs = Path.Combine(_dir, "libs");
        Directory.CreateDirectory(libs);
        // Every name the probe tries is a truncated file here, so a real cuDNN elsewhere on the machine is not reached.
        foreach (var name in Cudnn.Candidates) File.WriteAllText(Path.Combine(libs, name), "not a shared library");
        var line = CudnnInfoLine(new() { ["LD_LIBRARY_PATH"] = libs });
        Assert.StartsWith("cuDNN      not found (libcudnn.so.9: found but failed to load: ", line);
        Assert.Contains("file too short", line);
        Assert.EndsWith("); CUDA convolutions use im2col + cuBLAS", line);
    }

    [Fact]
    public void ConvBenchRunsWithoutCudnnAndSaysSo()
    {
        var run = CliProcess.RunDll(CliProcess.BenchDll, _dir, new Dictionary<string, string>(),
            "conv", "--device", "cpu", "--batch", "1", "--reps", "1");
        Assert.True(run.Code == 0, $"conv bench failed: {run}");
        Assert.Contains("cuDNN is ABSENT for cpu (cpu is not a CUDA device): no cuDNN rows below", run.Out);
        Assert.DoesNotContain("cudnn fp32", run.Out);
        var summary = run.OutLines.SkipWhile(l => !l.StartsWith("summary", StringComparison.Ordinal)).ToArray();
        Assert.True(summary.Length >= 4, $"no summary table:\n{run.Out}");
        Assert.Contains(summary, l => l.StartsWith("csnn conv2 N=1", StringComparison.Ordinal)
            && l.Contains("generic", StringComparison.Ordinal));
    }
}

/// <summary>How a cuDNN convolution picks its algorithm when a workspace does not fit (no GPU needed: the allocation
/// is a function here).</summary>
public class CudnnWorkspaceFallbackTests
{
    // Ranked by speed as cuDNN's heuristics rank them, not by size.
    private static readonly CudnnAlgo[] Ranked =
    {
        new(1, Cudnn.FmaMath, 100), new(2, Cudnn.FmaMath, 200), new(5, Cudnn.FmaMath, 50), new(0, Cudnn.FmaMath, 0),
    };

    private static Func<long, string> RentBelow(long limit) => bytes =>
        bytes < limit ? $"block of {bytes}" : throw new OutOfMemoryException($"cannot allocate {bytes} bytes");

    [Fact]
    public void TheFastestAlgorithmIsTakenWhenItsWorkspaceFits()
    {
        var missed = new List<int>();
        var (i, block) = CudnnConvKernels.Acquire(Ranked, 0, RentBelow(1000), a => missed.Add(a.Algo));
        Assert.Equal(0, i);
        Assert.Equal("block of 100", block);
        Assert.Empty(missed);
    }

    [Fact]
    public void AWorkspaceThatDoesNotFitMovesToTheNextAlgorithmNeedingLess()
    {
        var missed = new List<int>();
        var (i, block) = CudnnConvKernels.Acquire(Ranked, 0, RentBelow(60), a => missed.Add(a.Algo));
        // Algorithm 1 (100 bytes) fails; 2 needs even more and is not tried; 5 (50 bytes) fits.
        Assert.Equal(2, i);
        Assert.Equal("block of 50", block);
        Assert.Equal(new[] { 1 }, missed);
    }

    [Fact]
    public void WhenNoWorkspaceFitsTheAlgorithmWithoutOneIsTaken()
    {
        var missed = new List<int>();
        var (i, block) = CudnnConvKernels.Acquire(Ranked, 0, RentBelow(1), a => missed.Add(a.Algo));
        Assert.Equal(3, i);
        Assert.Null(block);
        Assert.Equal(new[] { 1, 5 }, missed);
    }

    [Fact]
    public void PastTheLastAlgorithmTheCallIsDeclined()
    {
        var (i, block) = CudnnConvKernels.Acquire(Ranked.Take(3).ToArray(), 0, RentBelow(1), _ => { });
        Assert.Equal(3, i); // the list's length: nothing fits, the generic path computes the call
        Assert.Null(block);
        Assert.Equal((4, (string?)null), CudnnConvKernels.Acquire(Ranked, 4, RentBelow(1000), _ => { }));
    }
}
