using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using SpikeSharp.IO;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;
using Xunit.Abstractions;

namespace SpikeSharp.Tests.IO;

/// <summary>Runs the CLI as a child process and SIGKILLs it at random moments of its checkpoint saves.</summary>
public class KillWhileSavingTests(ITestOutputHelper output)
{
    private const int Epochs = 40;

    private static readonly Regex EpochLine = new(@"^epoch (\d+)/\d+:", RegexOptions.Compiled);

    private sealed class Child : IDisposable
    {
        private readonly Process _p;
        private readonly BlockingCollection<string?> _lines = new();
        private readonly StringBuilder _all = new();
        private int _lastEpoch;

        public Child(string dir, string cacheDir, params string[] extra)
        {
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SpikeSharp.Cli.dll"));
            var args = new[]
            {
                "train", "fashion-mnist", "--device", "cpu", "--epochs", Epochs.ToString(), "--train-limit", "128",
                "--batch-size", "64", "-T", "1", "--no-plots", "--out", dir,
            };
            foreach (var a in args.Concat(extra)) psi.ArgumentList.Add(a);
            psi.Environment["SPIKESHARP_OFFLINE"] = "1"; // never download the full set in a test
            psi.Environment["XDG_CACHE_HOME"] = cacheDir;
            psi.Environment.Remove("SPIKESHARP_DATA");
            _p = new Process { StartInfo = psi };
            _p.OutputDataReceived += (_, e) =>
            {
                lock (_all) _all.AppendLine(e.Data);
                if (e.Data != null && EpochLine.Match(e.Data) is { Success: true } m)
                    _lastEpoch = Math.Max(_lastEpoch, int.Parse(m.Groups[1].Value));
                _lines.Add(e.Data);
            };
            _p.ErrorDataReceived += (_, e) => { lock (_all) _all.AppendLine(e.Data); };
            _p.Start();
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        public string Output { get { lock (_all) return _all.ToString(); } }

        /// <summary>The last epoch whose line the process printed (complete once it has exited).</summary>
        public int LastEpoch => _lastEpoch;

        /// <summary>
        /// The epoch of the next "epoch N/E:" line (printed just before epoch N is saved); null when the process ends.
        /// </summary>
        public int? NextEpochLine()
        {
            while (_lines.TryTake(out var line, TimeSpan.FromMinutes(2)))
            {
                if (line is null) return null;
                var m = EpochLine.Match(line);
                if (m.Success) return int.Parse(m.Groups[1].Value);
            }
            throw new TimeoutException("no output from the child for 2 minutes:\n" + Output);
        }

        public void Kill()
        {
            _p.Kill(); // SIGKILL on Unix: no finally blocks, no cleanup
            _p.WaitForExit(); // and every line it wrote has been read
        }

        public int Wait()
        {
            if (!_p.WaitForExit(TimeSpan.FromMinutes(5))) { _p.Kill(); throw new TimeoutException(Output); }
            _p.WaitForExit(); // drains the output
            return _p.ExitCode;
        }

        public void Dispose() => _p.Dispose();
    }

    private static IEnumerable<string> Temporaries(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*.tmp-*", SearchOption.AllDirectories);

    private static int? LatestEpoch(string dir)
    {
        var info = Checkpoint.FindLatest(dir);
        if (info is null) return null;
        // Loading it is the real test: the pair must be whole and fit the model and the optimiser.
        using var model = FashionModels.Create(FashionModelKind.Mlp, new Generator(0), Device.Cpu);
        using var opt = new SpikeSharp.Optim.Adam(model.NamedParameters(), 1e-3f);
        Checkpoint.Load(info.Directory, model, opt);
        return int.Parse(info.Metadata["epoch"]);
    }

    [Fact]
    public void SigkillsDuringSaves_NeverLoseTheRun_AndTheResumedRunListsEveryEpochOnce()
    {
        if (OperatingSystem.IsWindows()) return; // Process.Kill is TerminateProcess there; the loop is for SIGKILL
        using var tmp = new TempDirectory();
        string dir = tmp.Combine("run"), cache = tmp.Combine("cache");
        var rng = new Random(20240615);
        int kills = 0, beforeCommit = 0, leftTemporaries = 0, attempts = 0, maxDelay = 40;
        bool finished = false;
        while (!finished && attempts < 30 && (kills < 8 || beforeCommit < 3))
        {
            attempts++;
            bool resumable = Checkpoint.FindLatest(dir) is not null;
            using var child = new Child(dir, cache, resumable ? "--resume" : "--overwrite");
            if (child.NextEpochLine() is null)
            {
                int code = child.Wait();
                Assert.True(code == 0, $"attempt {attempts} failed with exit code {code}:\n{child.Output}");
                finished = true;
                break;
            }
            // The line comes right before the save of that epoch: a short delay lands in the save or just after.
            Thread.Sleep(rng.Next(0, maxDelay));
            child.Kill();
            kills++;
            // The save of epoch n - 1 was committed before the line of epoch n; the save of n may be.
            int? latest = LatestEpoch(dir);
            int n = child.LastEpoch;
            Assert.True(latest is null ? n == 1 : latest >= n - 1 && latest <= n,
                $"killed after the line of epoch {n}: the newest complete save is " +
                $"epoch {latest?.ToString() ?? "(none)"}");
            if (latest == n - 1 || latest is null) beforeCommit++;
            else maxDelay = Math.Max(2, maxDelay / 2); // a fast disk: aim earlier
            if (Temporaries(dir).Any()) leftTemporaries++;
        }
        output.WriteLine($"{attempts} runs, {kills} SIGKILLs: {beforeCommit} before the save's commit, " +
                         $"{leftTemporaries} left temporaries");
        Assert.True(kills >= 8, $"only {kills} kills in {attempts} runs");
        Assert.True(beforeCommit >= 1, $"no kill of {kills} landed before a save's commit");

        using (var last = new Child(dir, cache, Checkpoint.FindLatest(dir) is null ? "--overwrite" : "--resume"))
        {
            int code = last.Wait();
            Assert.True(code == 0, last.Output);
        }
        var epochs = File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1)
            .Select(l => int.Parse(l.Split(',')[0])).ToArray();
        Assert.Equal(Enumerable.Range(1, Epochs).ToArray(), epochs);
        Assert.Equal(Epochs, LatestEpoch(dir));
        Assert.Empty(Temporaries(dir));
    }
}
