using System.Diagnostics;
using SpikeSharp.Data;

namespace SpikeSharp.Tests.Cli;

/// <summary>What one run of a program printed, read back from the files its output went to.</summary>
internal sealed record CliRun(int Code, string Out, string Err)
{
    /// <summary>Stdout lines (without line ends).</summary>
    public string[] OutLines => Out.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    /// <summary>Everything, for assertion messages.</summary>
    public override string ToString() => $"exit {Code}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>
/// Runs <c>spikesharp</c> (or the bench) as a user would: a separate process whose stdout and stderr go to files,
/// so the program sees output that is not a terminal, with its own environment and working directory.
/// </summary>
internal static class CliProcess
{
    /// <summary>The CLI's assembly, copied next to the tests by the project reference.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "SpikeSharp.Cli.dll");

    /// <summary>The bench's assembly, copied next to the tests by the project reference.</summary>
    public static string BenchDll => Path.Combine(AppContext.BaseDirectory, "SpikeSharp.Bench.dll");

    /// <summary>Runs the CLI with <paramref name="args"/> in <paramref name="workDir"/>.</summary>
    public static CliRun Run(string workDir, IReadOnlyDictionary<string, string>? env, params string[] args) =>
        RunDll(CliDll, workDir, env, args);

    /// <summary>
    /// Runs <c>dotnet DLL args</c> with output redirected to files in <paramref name="workDir"/>. The variables the
    /// program reads (SPIKESHARP_DEVICE, SPIKESHARP_DATA, …) are cleared unless <paramref name="env"/> sets them.
    /// </summary>
    public static CliRun RunDll(string dll, string workDir, IReadOnlyDictionary<string, string>? env,
        params string[] args)
    {
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project references the project that builds it");
        // The test host runs under dotnet; use the same one.
        string host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet"
            ? p
            : "dotnet";
        string outFile = Path.Combine(workDir, $"stdout-{Guid.NewGuid():N}.txt");
        string errFile = Path.Combine(workDir, $"stderr-{Guid.NewGuid():N}.txt");
        var psi = new ProcessStartInfo { WorkingDirectory = workDir, UseShellExecute = false };
        if (OperatingSystem.IsWindows())
        {
            psi.FileName = "cmd.exe";
            string quoted = string.Join(" ", args.Select(a => $"\"{a}\""));
            psi.Arguments = $"/c \"\"{host}\" \"{dll}\" {quoted} >\"{outFile}\" 2>\"{errFile}\"\"";
        }
        else
        {
            // The shell opens the files: the program's stdout is a regular file, as with "spikesharp ... > log".
            psi.FileName = "/bin/sh";
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec \"$@\" >\"$SPIKESHARP_TEST_STDOUT\" 2>\"$SPIKESHARP_TEST_STDERR\" </dev/null");
            psi.ArgumentList.Add("sh");
            psi.ArgumentList.Add(host);
            psi.ArgumentList.Add(dll);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["SPIKESHARP_TEST_STDOUT"] = outFile;
            psi.Environment["SPIKESHARP_TEST_STDERR"] = errFile;
        }
        foreach (var name in new[] { "SPIKESHARP_DEVICE", "SPIKESHARP_DATA", "SPIKESHARP_PROGRESS_SECONDS" })
            psi.Environment.Remove(name);
        psi.Environment["XDG_CACHE_HOME"] = Path.Combine(workDir, "cache"); // never touch the user's download cache
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;

        using var process = Process.Start(psi)!;
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{Path.GetFileName(dll)} {string.Join(" ", args)} ran over 5 minutes");
        }
        var run = new CliRun(process.ExitCode, ReadAndDelete(outFile), ReadAndDelete(errFile));
        return run;
    }

    private static string ReadAndDelete(string path)
    {
        if (!File.Exists(path)) return "";
        var text = File.ReadAllText(path);
        File.Delete(path);
        return text;
    }

    /// <summary>
    /// Writes the first <paramref name="train"/> / <paramref name="test"/> images of the bundled Fashion-MNIST sample
    /// as a dataset directory for --data (no download is tried, nothing depends on the network).
    /// </summary>
    public static void WriteFashionSubset(string dir, int train, int test)
    {
        Directory.CreateDirectory(dir);
        var ds = FashionMnist.LoadBundledSample();
        void Write(string name, int[] shape, byte[] data) =>
            Idx.Write(Path.Combine(dir, name), new IdxArray(shape, data), gzip: true);
        Write("train-images-idx3-ubyte.gz", new[] { train, 28, 28 }, ds.TrainImages[..(train * 784)]);
        Write("train-labels-idx1-ubyte.gz", new[] { train }, ds.TrainLabels[..train]);
        Write("t10k-images-idx3-ubyte.gz", new[] { test, 28, 28 }, ds.TestImages[..(test * 784)]);
        Write("t10k-labels-idx1-ubyte.gz", new[] { test }, ds.TestLabels[..test]);
    }
}
