using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Bench;

/// <summary>One op of a profiled pass, per step.</summary>
internal sealed record TrainOpRow(string Op, double Count, double HostMs, double DeviceMs, double Share,
    double Launches);

/// <summary>One workload's figures (see <see cref="TrainBench"/>); <see cref="Error"/> is set when it failed.</summary>
internal sealed record TrainCase(string Model, int Batch, int T, int WarmupSteps, int Steps, double MsPerStep,
    double MedianMsPerStep, double HostMsPerStep, double SamplesPerSecond, double? SecondsPerEpoch,
    long? PeakDeviceBytes, double PeakRssMib, double KernelsPerStep, int ProfiledSteps, bool ProfileSynchronized,
    double ProfiledMsPerStep, List<TrainOpRow> TopOps, string? Error);

/// <summary>The suite's JSON document.</summary>
internal sealed record TrainReport(string Suite, string Device, string DeviceName, string Timestamp,
    List<TrainCase> Cases);

/// <summary>
/// <c>train</c>: training steps of the real workloads on synthetic data of their shapes (no dataset needed): the
/// Fashion-MNIST models of <c>train fashion-mnist</c> (plif-csnn, csnn; T = 8, Adam 1e-3, cosine rate, the trainer's
/// loss and metrics, batches through the DataLoader), the spiking LM of <c>train lm</c> at its defaults and the Open
/// Neuromorphic step. Per workload: warm-up steps, then timed steps with a device synchronisation after each
/// (ms/step, samples/s, projected s/epoch for 60000 samples, host ms/step = time to issue a step, peak device memory =
/// the allocator's high-water mark of live blocks over the timed steps, kernels per step), then a separate pass under
/// <see cref="OpProfile"/> (synchronised at every op) for the top ops by device time.
/// Options: --models a,b (default plif-csnn,csnn,lm,on), --batch n,m (Fashion models; default 16,128), --steps N
/// (default 20, 3 on the CPU), --warmup N (default 3, 1 on the CPU), --profile-steps N (default 2; 0 skips), --top N
/// (default 12), --device D (default cuda:0 when present), --json FILE, -T N (default 8), --lm-dim, --lm-layers,
/// --lm-heads, --lm-seq, --lm-batch, --on-n (default 4096), --on-t (500), --on-b (16).
/// </summary>
internal static class TrainBench
{
    private static readonly string[] ValueOptions =
    {
        "--models", "--batch", "--steps", "--warmup", "--profile-steps", "--top", "--device", "--json", "-T",
        "--lm-dim", "--lm-layers", "--lm-heads", "--lm-seq", "--lm-batch", "--on-n", "--on-t", "--on-b",
    };

    /// <summary>Parsed options.</summary>
    internal sealed record Options(string[] Models, int[] Batches, int Steps, int Warmup, int ProfileSteps, int Top,
        Device Device, string? Json, TrainSizes Sizes);

    public static int Run(string[] args)
    {
        Options o;
        try { o = Parse(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"train: {e.Message}");
            Console.Error.WriteLine("usage: train [--models plif-csnn,csnn,lm,on] [--batch 16,128] [--steps N] " +
                "[--warmup N] [--profile-steps N] [--top N] [--device D] [--json FILE] [-T N] [--lm-dim N] " +
                "[--lm-layers N] [--lm-heads N] [--lm-seq N] [--lm-batch N] [--on-n N] [--on-t N] [--on-b N]");
            return 2;
        }
        var report = Measure(o, Console.Out);
        if (o.Json is { } file)
        {
            var full = Path.GetFullPath(file);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, ToJson(report));
            Console.WriteLine($"wrote {file}");
        }
        return report.Cases.Any(c => c.Error != null) ? 1 : 0;
    }

    /// <summary>Parses the options; bad input fails with an <see cref="ArgumentException"/> naming the option.</summary>
    internal static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!ValueOptions.Contains(args[i]))
                throw new ArgumentException($"unknown option '{args[i]}' (options: {string.Join(", ", ValueOptions)})");
            if (i + 1 >= args.Length) throw new ArgumentException($"option '{args[i]}' needs a value");
            values[args[i]] = args[++i];
        }
        int Int(string name, int dflt, int min)
        {
            if (!values.TryGetValue(name, out var s)) return dflt;
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                throw new ArgumentException($"{name}: expected an integer >= {min}, got '{s}'");
            return v;
        }
        Device device;
        if (values.TryGetValue("--device", out var d))
        {
            try { device = Device.Parse(d); }
            catch (ArgumentException e) { throw new ArgumentException($"--device: {e.Message}"); }
        }
        else device = DeviceCatalog.CudaDeviceCount > 0 ? Device.Cuda(0) : Device.Cpu;
        bool cpu = device.Type == DeviceType.Cpu;
        var models = (values.GetValueOrDefault("--models") ?? string.Join(",", TrainWorkload.Models))
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (models.Length == 0) throw new ArgumentException("--models: expected at least one model");
        foreach (var m in models)
            if (!TrainWorkload.Models.Contains(m))
                throw new ArgumentException(
                    $"--models: expected a list of {string.Join(", ", TrainWorkload.Models)}, got '{m}'");
        var batches = (values.GetValueOrDefault("--batch") ?? "16,128")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int b) && b > 0
                ? b : throw new ArgumentException($"--batch: expected positive integers separated by commas, got '{s}'"))
            .ToArray();
        if (batches.Length == 0) throw new ArgumentException("--batch: expected at least one batch size");
        var sizes = new TrainSizes(Int("-T", 8, 1), Int("--lm-dim", 384, 1), Int("--lm-layers", 6, 1),
            Int("--lm-heads", 6, 1), Int("--lm-seq", 64, 1), Int("--lm-batch", 32, 1), Int("--on-n", 4096, 1),
            Int("--on-t", 500, 1), Int("--on-b", 16, 1));
        return new Options(models, batches, Int("--steps", cpu ? 3 : 20, 1), Int("--warmup", cpu ? 1 : 3, 0),
            Int("--profile-steps", 2, 0), Int("--top", 12, 1), device, values.GetValueOrDefault("--json"), sizes);
    }

    /// <summary>Runs every workload of <paramref name="o"/>, printing a line per workload and its top ops to
    /// <paramref name="log"/>; a workload that fails is reported with its error and the rest still run.</summary>
    internal static TrainReport Measure(Options o, TextWriter log)
    {
        var be = BackendRegistry.Get(o.Device);
        string name = DeviceCatalog.Devices.FirstOrDefault(i => i.Device == o.Device)?.Name
            ?? (o.Device.Type == DeviceType.Cpu ? $"CPU, {Threads.Count} threads" : o.Device.ToString());
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: {o.Device} ({name}); {o.Warmup} warm-up, {o.Steps} timed, {o.ProfileSteps} profiled steps"));
        var cases = new List<TrainCase>();
        foreach (var model in o.Models)
            foreach (int batch in model is "plif-csnn" or "csnn" ? o.Batches : new[] { 0 })
            {
                var c = RunCase(model, batch, o, be);
                cases.Add(c);
                Print(c, o.Top, log);
            }
        return new TrainReport("train", o.Device.ToString(), name,
            DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), cases);
    }

    private static TrainCase RunCase(string model, int batch, Options o, IBackend be)
    {
        var ilgpu = be as IlgpuBackend;
        TrainWorkload? w = null;
        try
        {
            w = TrainWorkload.Create(model, batch, o.Sizes, o.Device);
            for (int i = 0; i < o.Warmup; i++) w.Step();
            be.Synchronize();
            ilgpu?.Memory.ResetPeak();
            var wall = new double[o.Steps];
            double host = 0;
            long launches;
            using (var counter = LaunchCounter.Start())
            {
                for (int i = 0; i < o.Steps; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    w.Step();
                    host += Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    be.Synchronize();
                    wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                launches = counter.Launches;
            }
            long? peak = ilgpu?.Memory.PeakBytes;
            double mean = wall.Average();
            var rows = new List<TrainOpRow>();
            double profiledMs = 0;
            if (o.ProfileSteps > 0)
            {
                using var prof = OpProfile.Start(o.Device);
                for (int i = 0; i < o.ProfileSteps; i++) w.Step();
                prof.Dispose();
                double total = prof.TotalDeviceMs, n = o.ProfileSteps;
                profiledMs = total / n;
                rows = prof.Ops.Take(o.Top).Select(r => new TrainOpRow(r.Op, r.Count / n, r.HostMs / n,
                    r.DeviceMs / n, total > 0 ? r.DeviceMs / total : 0, r.Launches / n)).ToList();
            }
            double samplesPerSec = w.SamplesPerStep / (mean / 1000);
            return new TrainCase(model, w.Batch, w.T, o.Warmup, o.Steps, mean, Median(wall), host / o.Steps,
                samplesPerSec, w.EpochSamples is int e ? e / samplesPerSec : null, peak, PeakRssMib(),
                (double)launches / o.Steps, o.ProfileSteps, o.ProfileSteps > 0, profiledMs, rows, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // One failing workload (a device out of memory, a missing kernel) must not cost the others' figures.
            return new TrainCase(model, batch, o.Sizes.T, o.Warmup, o.Steps, 0, 0, 0, 0, null, null, PeakRssMib(), 0,
                0, false, 0, new List<TrainOpRow>(), $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            w?.Dispose();
            try { be.Synchronize(); } catch (Exception) { /* already reported as the case's error */ }
        }
    }

    private static double Median(double[] v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static void Print(TrainCase c, int top, TextWriter log)
    {
        var inv = CultureInfo.InvariantCulture;
        string head = c.Model + (c.Model is "plif-csnn" or "csnn" ? $" b{c.Batch}" : "");
        if (c.Error != null) { log.WriteLine($"{head}: FAILED {c.Error}"); return; }
        string peak = c.PeakDeviceBytes is long p ? string.Create(inv, $"{p / 1073741824.0:F2} GiB") : "n/a (cpu)";
        string epoch = c.SecondsPerEpoch is double s ? string.Create(inv, $", {s:F1} s/epoch") : "";
        log.WriteLine(string.Create(inv, $"{head}: {c.MsPerStep:F2} ms/step (median {c.MedianMsPerStep:F2}, host ")
            + string.Create(inv, $"{c.HostMsPerStep:F2}), {c.SamplesPerSecond:F0} samples/s{epoch}, peak {peak}, ")
            + string.Create(inv, $"{c.KernelsPerStep:F0} launches/step, peak RSS {c.PeakRssMib:F0} MiB"));
        if (c.ProfiledSteps == 0) return;
        log.WriteLine(string.Create(inv, $"  profiled (synchronised per op): {c.ProfiledMsPerStep:F2} ms/step"));
        log.WriteLine($"  {"op",-30} {"count",6} {"host ms",8} {"device ms",10} {"share",6} {"launches",9}");
        foreach (var r in c.TopOps.Take(top))
            log.WriteLine(string.Create(inv, $"  {r.Op,-30} {r.Count,6:F0} {r.HostMs,8:F3} {r.DeviceMs,10:F3} ")
                + string.Create(inv, $"{100 * r.Share,5:F1}% {r.Launches,9:F0}"));
    }

    /// <summary>The report as indented JSON with snake_case names.</summary>
    internal static string ToJson(TrainReport r) => JsonSerializer.Serialize(r, new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    });

    // VmHWM of /proc/self/status (Linux), else the working set now.
    private static double PeakRssMib()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return Environment.WorkingSet / 1048576.0;
    }
}
