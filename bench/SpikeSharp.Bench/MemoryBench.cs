using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;

namespace SpikeSharp.Bench;

/// <summary>
/// <c>memory</c>: where the bytes of a training step are. Runs a few steps of a Fashion-MNIST-shaped conv network
/// (forward, rate MSE, backward, Adam), or of the spiking LM of <c>train lm</c> (defaults 384×6×6; -T is the window,
/// 64 there), under a <see cref="MemoryProfile"/> and prints, for the last step: live tensor
/// bytes after the forward pass and after the backward pass, the step's high-water mark of live tensor bytes, the ops
/// holding it, the process's peak RSS and the step time.
/// Options: --model plif-csnn|csnn|lm (default plif-csnn), --batch N (default 32), -T N (default 8), --steps N
/// (default 2), --device D (default cpu), --top N (default 15), --eval (forward and loss under NoGrad in evaluation
/// mode, as the trainer evaluates), --out FILE (JSON).
/// </summary>
internal static class MemoryBench
{
    internal sealed record OpRow(string Op, double AtPeakMb, double PeakMb, double AllocatedMb, long Count);

    internal sealed record Result(string Model, string Pass, string Device, int Batch, int T, double AfterForwardMb,
        double AfterBackwardMb, double PeakMb, double AllocatedMb, double StepSeconds, double PeakRssMb,
        double AllocatorPeakMb, List<OpRow> Ops);

    public static int Run(string[] args)
    {
        string? Opt(string name)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        int Int(string name, int dflt) => Opt(name) is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : dflt;
        string model = Opt("--model") ?? "plif-csnn";
        var device = Device.Parse(Opt("--device") ?? "cpu");
        int batch = Int("--batch", 32), t = Int("-T", 8), steps = Int("--steps", 2), top = Int("--top", 15);
        bool eval = args.Contains("--eval");
        var r = Measure(model, device, batch, t, steps, eval);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"memory: {model} {r.Pass} on {device}, batch {batch}, T {t}, step {steps} of {steps}"));
        Console.WriteLine(string.Create(inv, $"live after forward {r.AfterForwardMb:F1} MB, after backward "
            + $"{r.AfterBackwardMb:F1} MB, step peak {r.PeakMb:F1} MB, allocated {r.AllocatedMb:F1} MB"));
        Console.WriteLine(string.Create(inv, $"step {r.StepSeconds:F2} s, process peak RSS {r.PeakRssMb:F0} MB")
            + (r.AllocatorPeakMb > 0 ? string.Create(inv, $", allocator peak {r.AllocatorPeakMb:F1} MB") : ""));
        Console.WriteLine($"{"op",-34} {"at peak MB",11} {"peak MB",9} {"alloc MB",10} {"count",7}");
        foreach (var o in r.Ops.Take(top))
            Console.WriteLine(string.Create(inv,
                $"{o.Op,-34} {o.AtPeakMb,11:F1} {o.PeakMb,9:F1} {o.AllocatedMb,10:F1} {o.Count,7}"));
        if (Opt("--out") is { } outFile)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            File.WriteAllText(outFile, JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {outFile}");
        }
        return 0;
    }

    /// <summary>Runs <paramref name="steps"/> training steps (evaluation steps: forward and loss without gradients,
    /// when <paramref name="eval"/>) and profiles the last.</summary>
    internal static Result Measure(string model, Device device, int batch, int t, int steps, bool eval = false)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "--steps: expected at least 1");
        var gen = new Generator(0);
        bool lm = model == "lm";
        using var net = lm
            ? new SpikingLanguageModel(new SpikingLmConfig(LmVocab), gen: gen, device: device)
            : Create(model, gen, device);
        var opt = new Adam(net.NamedParameters());
        // The LM reads (T, B) characters and predicts the next one; T is the window (64 in train lm).
        var rnd = new Random(0);
        int[] Chars(int n) => Enumerable.Range(0, n).Select(_ => rnd.Next(LmVocab)).ToArray();
        using var x = (lm ? Tensor.FromArray(Chars(t * batch), new[] { t, batch }, device)
            : Tensor.Rand(new[] { t, batch, 1, 28, 28 }, gen, device)).Persist();
        var classes = lm ? Chars(t * batch) : Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        using var labels = Tensor.FromArray(classes, device: device).Persist();
        Result? last = null;
        for (int s = 0; s < steps; s++)
        {
            var ilgpu = BackendRegistry.Get(device) as Backends.Ilgpu.IlgpuBackend;
            ilgpu?.Memory.ResetPeak();
            var sw = Stopwatch.StartNew();
            using var prof = MemoryProfile.Start();
            long afterForward, afterBackward;
            using (TensorScope.Begin())
            using (eval ? Tape.NoGrad() : null)
            {
                if (eval) net.Eval();
                net.ResetState();
                var y = net.Forward(x);
                var loss = lm ? Tensor.CrossEntropy(y.Reshape(-1, LmVocab), labels) : Functional.RateMse(y, labels);
                afterForward = prof.LiveBytes;
                if (!eval)
                {
                    opt.ZeroGrad();
                    loss.Backward();
                    opt.Step();
                }
                afterBackward = prof.LiveBytes;
                loss.Item();
            }
            BackendRegistry.Get(device).Synchronize();
            double secs = sw.Elapsed.TotalSeconds;
            static double Mb(long b) => b / 1048576.0;
            var ops = prof.Ops.Select(o => new OpRow(o.Op, Mb(o.LiveAtPeakBytes), Mb(o.PeakLiveBytes),
                Mb(o.AllocatedBytes), o.Allocations)).ToList();
            last = new Result(model, eval ? "eval" : "train", device.ToString(), batch, t, Mb(afterForward),
                Mb(afterBackward), Mb(prof.PeakBytes), Mb(prof.AllocatedBytes), secs, PeakRssMb(),
                ilgpu != null ? Mb(ilgpu.Memory.PeakBytes) : 0, ops);
        }
        return last!;
    }

    // VmHWM of /proc/self/status (Linux), else the working set now.
    private static double PeakRssMb()
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

    // Characters of the bundled LM corpus are about this many.
    private const int LmVocab = 96;

    /// <summary>The Fashion-MNIST conv networks of <c>train fashion-mnist</c> (built here so the bench does not
    /// depend on the trainer): inputs (T, B, 1, 28, 28), outputs (T, B, 10).</summary>
    internal static Module Create(string model, Generator gen, Device device)
    {
        Conv2d Conv(int cin, int cout) => new(cin, cout, 3, padding: 1, bias: false, gen: gen, device: device);
        return model switch
        {
            "csnn" => new Sequential(
                new MultiStep(Conv(1, 32), new BatchNorm2d(32, device: device)),
                new Lif(device: device),
                new MultiStep(new MaxPool2d((2, 2)), Conv(32, 64), new BatchNorm2d(64, device: device)),
                new Lif(device: device),
                new MultiStep(new MaxPool2d((2, 2)), new Flatten(1),
                    new Linear(64 * 7 * 7, 256, gen: gen, device: device)),
                new Lif(device: device),
                new MultiStep(new Linear(256, 10, gen: gen, device: device))),
            "plif-csnn" => new Sequential(
                new MultiStep(Conv(1, 128), new BatchNorm2d(128, device: device)),
                new Plif(128 * 28 * 28, decay: 0.5f, device: device),
                new MultiStep(new MaxPool2d((2, 2)), Conv(128, 128), new BatchNorm2d(128, device: device)),
                new Plif(128 * 14 * 14, decay: 0.5f, device: device),
                new MultiStep(new MaxPool2d((2, 2)), new Flatten(1)),
                new Dropout(0.5f, sharedOverTime: true, gen: gen),
                new MultiStep(new Linear(128 * 7 * 7, 2048, gen: gen, device: device)),
                new Plif(2048, decay: 0.5f, device: device),
                new Dropout(0.5f, sharedOverTime: true, gen: gen),
                new MultiStep(new Linear(2048, 100, gen: gen, device: device)),
                new Plif(100, decay: 0.5f, device: device),
                new Voting(10)),
            _ => throw new ArgumentException($"--model: expected plif-csnn, csnn or lm, got '{model}'", nameof(model)),
        };
    }

    // Average-pool voting (…, G·k) → (…, k), as the trainer's VotingPool.
    private sealed class Voting(int classes) : Module
    {
        public override Tensor Forward(Tensor x)
        {
            int f = x.Size(-1);
            var shape = x.Shape;
            return x.Reshape(shape.Take(shape.Length - 1).Append(classes).Append(f / classes).ToArray()).Mean(-1);
        }
    }
}
