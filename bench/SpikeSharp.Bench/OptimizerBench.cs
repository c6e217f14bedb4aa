using System.Diagnostics;
using System.Globalization;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Kernels;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;

namespace SpikeSharp.Bench;

/// <summary>
/// <c>optim</c>: the optimiser step and the allocator. Times Adam's step over a model's parameters with the fused
/// multi-tensor kernel (now) and with the three elementwise launches per parameter it replaced (before), counts
/// launches, reports the largest difference between the two, then runs a few training steps and prints the caching
/// allocator's peak and reserved bytes. Options: --model plif-csnn|csnn|lm (default plif-csnn), --device D
/// (default cpu), --steps N (timed optimiser steps, default 50), --batch N and -T N (training steps, default 32, 8).
/// </summary>
internal static class OptimizerBench
{
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
        int steps = Int("--steps", 50), batch = Int("--batch", 32), t = Int("-T", 8);
        var inv = CultureInfo.InvariantCulture;
        var be = BackendRegistry.Get(device);
        var gen = new Generator(0);
        using var net = model == "lm"
            ? new SpikingLanguageModel(new SpikingLmConfig(96), gen: gen, device: device)
            : MemoryBench.Create(model, gen, device);
        var ps = net.NamedParameters().ToList();
        long elements = ps.Sum(p => (long)p.Param.Numel);
        foreach (var (_, p) in ps) p.Grad = Tensor.Randn(p.Shape, gen, device, 0f, 1e-3f).Persist();

        // Before: m, v, p each rewritten by its own launch, per parameter.
        var ms = ps.Select(p => Tensor.Zeros(p.Param.Shape, device).Persist()).ToList();
        var vs = ps.Select(p => Tensor.Zeros(p.Param.Shape, device).Persist()).ToList();
        var copies = ps.Select(p => p.Param.Clone().Persist()).ToList();
        long step = 0;
        void Unfused()
        {
            step++;
            for (int i = 0; i < ps.Count; i++)
            {
                Buf p = copies[i].Buf, g = ps[i].Param.Grad!.Buf, m = ms[i].Buf, v = vs[i].Buf;
                be.Map(new AdamFirstMomentOp { Beta1 = 0.9f }, m, g, p, m);
                be.Map(new AdamSecondMomentOp { Beta2 = 0.999f }, v, g, p, v);
                be.Map(new AdamStepOp
                {
                    Lr = 1e-3f, Eps = 1e-8f, Correction1 = (float)(1 - Math.Pow(0.9f, step)),
                    Correction2 = (float)(1 - Math.Pow(0.999f, step)),
                }, p, m, v, p);
            }
        }
        using var adam = new Adam(ps, 1e-3f);
        var kernels = be.Require<IOptimizerKernels>("optim bench");
        double unfusedMs = Time(be, Unfused, steps);
        long launches0 = kernels.Launches;
        double fusedMs = Time(be, adam.Step, steps);
        double launchesPerStep = (kernels.Launches - launches0) / (double)(steps + 1);
        // The GPU compiler may contract multiply-adds differently in one kernel than in three: report, not require.
        double maxDiff = ps.Select((p, i) => p.Param.ToArray().Zip(copies[i].ToArray(), (a, b) => Math.Abs(a - b))
            .DefaultIfEmpty(0f).Max()).Max();
        Console.WriteLine(string.Create(inv, $"optim: Adam over {model} ({ps.Count} parameters, {elements} elements) "
            + $"on {device}, {steps} steps"));
        Console.WriteLine(string.Create(inv, $"before (3 launches per parameter, {3 * ps.Count} per step): "
            + $"{unfusedMs:F3} ms/step"));
        Console.WriteLine(string.Create(inv, $"fused multi-tensor ({launchesPerStep:F0} launches per step): "
            + $"{fusedMs:F3} ms/step ({unfusedMs / fusedMs:F2}x); largest difference from before: {maxDiff:G3}"));
        foreach (var x in ms.Concat(vs).Concat(copies)) x.Dispose();
        foreach (var (_, p) in ps) { p.Grad?.Dispose(); p.Grad = null; }

        if (model != "lm" && be is IlgpuBackend ib)
        {
            ib.Memory.EmptyCache();
            ib.Memory.ResetPeak();
            var sw = Stopwatch.StartNew();
            MemoryBench.Measure(model, device, batch, t, steps: 3);
            Console.WriteLine(string.Create(inv, $"allocator after 3 training steps of {model} (batch {batch}, T {t}, "
                + $"{sw.Elapsed.TotalSeconds:F1} s): peak {Mib(ib.Memory.PeakBytes)} MiB allocated, peak "
                + $"{Mib(ib.Memory.PeakReservedBytes)} MiB reserved, {Mib(ib.Memory.ReservedBytes)} MiB reserved now "
                + $"in {ib.Memory.Segments} segments"));
        }
        return 0;
    }

    private static string Mib(long b) => (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);

    // Mean wall time of one call after a warm-up call, the device drained before and after.
    private static double Time(IBackend be, Action run, int steps)
    {
        run();
        be.Synchronize();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) run();
        be.Synchronize();
        return sw.Elapsed.TotalMilliseconds / steps;
    }
}
