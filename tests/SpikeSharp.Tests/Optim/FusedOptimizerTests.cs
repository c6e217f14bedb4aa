using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Optim;

/// <summary>The fused multi-tensor optimiser steps give bitwise the trajectories of the unfused per-parameter
/// kernels they replaced, with fewer launches, and keep their checkpoints.</summary>
public class FusedOptimizerTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // Ten parameters (more than one ILGPU launch holds), odd sizes (SIMD body and scalar tail), one of them
    // without a gradient on the first step (its own step count and bias correction afterwards).
    private static readonly int[] Sizes = { 1, 3, 8, 17, 33, 64, 100, 5, 257, 2 };
    private const int Late = 3;
    private const int Steps = 4;

    private static float[] Data(int n, int seed, float scale)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static List<Tensor> MakeParams(Device d) => Sizes.Select((n, i) =>
    {
        var p = Tensor.FromArray(Data(n, 100 + i, 1f), null, d).Persist();
        p.RequiresGrad = true;
        return p;
    }).ToList();

    private static void SetGrads(List<Tensor> ps, int step, Device d)
    {
        for (int i = 0; i < ps.Count; i++)
        {
            ps[i].Grad?.Dispose();
            ps[i].Grad = step == 0 && i == Late ? null
                : Tensor.FromArray(Data(Sizes[i], 1000 * step + i, 0.5f), null, d).Persist();
        }
    }

    public static IEnumerable<object[]> Rules() => TestDevices.Names.SelectMany(d => new[]
    {
        new object[] { d[0], "adam" }, new object[] { d[0], "adamw" }, new object[] { d[0], "sgd" },
        new object[] { d[0], "sgd-momentum" }, new object[] { d[0], "sgd-nesterov" },
    });

    private static Optimizer Make(string rule, List<Tensor> ps) => rule switch
    {
        "adam" => new Adam(ps, 0.01f, weightDecay: 0.05f),
        "adamw" => new AdamW(ps, 0.01f, weightDecay: 0.05f),
        "sgd" => new Sgd(ps, 0.1f, weightDecay: 0.01f),
        "sgd-momentum" => new Sgd(ps, 0.1f, momentum: 0.9f, dampening: 0.1f, weightDecay: 0.01f),
        _ => new Sgd(ps, 0.1f, momentum: 0.9f, weightDecay: 0.01f, nesterov: true),
    };

    // The optimisers before fusion: three (Adam) or two (SGD with momentum) elementwise launches per parameter.
    private static void ReferenceStep(string rule, IBackend be, Buf p, Buf g, Buf m, Buf v, long t)
    {
        bool adam = rule.StartsWith("adam", StringComparison.Ordinal), decoupled = rule == "adamw";
        if (adam)
        {
            float l2 = decoupled ? 0f : 0.05f;
            be.Map(new AdamFirstMomentOp { Beta1 = 0.9f, WeightDecay = l2 }, m, g, p, m);
            be.Map(new AdamSecondMomentOp { Beta2 = 0.999f, WeightDecay = l2 }, v, g, p, v);
            be.Map(new AdamStepOp
            {
                Lr = 0.01f, Eps = 1e-8f, Correction1 = (float)(1 - Math.Pow(0.9f, t)),
                Correction2 = (float)(1 - Math.Pow(0.999f, t)), DecoupledDecay = decoupled ? 0.05f : 0f,
            }, p, m, v, p);
            return;
        }
        if (rule == "sgd") { be.Map(new SgdOp { Lr = 0.1f, WeightDecay = 0.01f }, p, g, p); return; }
        bool nesterov = rule == "sgd-nesterov";
        float damp = nesterov ? 0f : 0.1f;
        be.Map(new SgdMomentumOp { Momentum = 0.9f, Dampening = damp, WeightDecay = 0.01f, First = t == 1 ? 1 : 0 },
            m, g, p, m);
        be.Map(new SgdMomentumStepOp { Lr = 0.1f, Momentum = 0.9f, WeightDecay = 0.01f, Nesterov = nesterov ? 1 : 0 },
            p, g, m, p);
    }

    [Theory, MemberData(nameof(Rules))]
    public void TrajectoryIsBitwiseThatOfTheUnfusedKernels(string dev, string rule)
    {
        var d = Device.Parse(dev);
        var ps = MakeParams(d);
        var refs = MakeParams(d);
        var ms = Sizes.Select(n => Tensor.Zeros(new[] { n }, d).Persist()).ToList();
        var vs = Sizes.Select(n => Tensor.Zeros(new[] { n }, d).Persist()).ToList();
        var steps = new long[Sizes.Length];
        using var opt = Make(rule, ps);
        for (int s = 0; s < Steps; s++)
        {
            SetGrads(ps, s, d);
            opt.Step();
            SetGrads(refs, s, d);
            for (int i = 0; i < Sizes.Length; i++)
            {
                if (refs[i].Grad == null) continue;
                ReferenceStep(rule, refs[i].Backend, refs[i].Buf, refs[i].Grad!.Buf, ms[i].Buf, vs[i].Buf, ++steps[i]);
            }
            for (int i = 0; i < Sizes.Length; i++)
                Assert.True(refs[i].ToArray().SequenceEqual(ps[i].ToArray()),
                    $"{rule} on {dev}: parameter {i} ({Sizes[i]} elements) differs after step {s + 1}");
        }
        var state = opt.StateDict();
        Assert.Equal(Steps - 1, state.Scalars[$"{Late}.step"]);
        if (rule != "sgd")
        {
            string slot = rule.StartsWith("adam", StringComparison.Ordinal) ? "exp_avg" : "momentum_buffer";
            for (int i = 0; i < Sizes.Length; i++)
                Assert.True(ms[i].ToArray().SequenceEqual(state.Tensors[$"{i}.{slot}"].ToArray()), $"{slot} of {i}");
        }
        else Assert.Empty(state.Tensors);
        foreach (var t in ps.Concat(refs)) { t.Grad?.Dispose(); t.Dispose(); }
        foreach (var t in ms.Concat(vs)) t.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void AStepTakesOneLaunchOnTheCpuAndOnePerEightParametersOnIlgpu(string dev)
    {
        var d = Device.Parse(dev);
        var ps = MakeParams(d);
        var kernels = BackendRegistry.Get(d).Require<IOptimizerKernels>("test");
        using var opt = new Adam(ps, 0.01f);
        SetGrads(ps, 1, d); // every parameter has a gradient: one step count, one group
        long before = kernels.Launches;
        opt.Step();
        long expected = d == Device.Cpu ? 1 : (Sizes.Length + 7) / 8;
        Assert.Equal(expected, kernels.Launches - before);
        foreach (var t in ps) { t.Grad?.Dispose(); t.Dispose(); }
    }

    [Theory, MemberData(nameof(Devices))]
    public void ACheckpointResumesTheSameTrajectory(string dev)
    {
        var d = Device.Parse(dev);
        var full = MakeParams(d);
        using (var opt = new AdamW(full.Select((p, i) => ($"p{i}", p)), 0.02f))
            for (int s = 0; s < Steps; s++) { SetGrads(full, s, d); opt.Step(); }
        var ps = MakeParams(d);
        OptimizerState saved;
        using (var opt = new AdamW(ps.Select((p, i) => ($"p{i}", p)), 0.02f))
        {
            for (int s = 0; s < 2; s++) { SetGrads(ps, s, d); opt.Step(); }
            // A copy on the CPU, as a checkpoint file would restore it.
            var live = opt.StateDict();
            saved = new OptimizerState();
            foreach (var (k, t) in live.Tensors) saved.Tensors[k] = t.To(Device.Cpu).Persist();
            foreach (var (k, v) in live.Scalars) saved.Scalars[k] = v;
        }
        using (var opt = new AdamW(ps.Select((p, i) => ($"p{i}", p)), 0.5f))
        {
            opt.LoadStateDict(saved);
            for (int s = 2; s < Steps; s++) { SetGrads(ps, s, d); opt.Step(); }
        }
        for (int i = 0; i < Sizes.Length; i++)
            Assert.True(full[i].ToArray().SequenceEqual(ps[i].ToArray()), $"parameter {i} after resuming");
        foreach (var t in full.Concat(ps)) { t.Grad?.Dispose(); t.Dispose(); }
        foreach (var t in saved.Tensors.Values) t.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void AMismatchedSlotIsRefusedBeforeAnyUpdate(string dev)
    {
        var d = Device.Parse(dev);
        var kernels = BackendRegistry.Get(d).Require<IOptimizerKernels>("test");
        using var p = Tensor.FromArray(new[] { 1f, 2f, 3f }, null, d);
        using var g = Tensor.FromArray(new[] { 1f, 1f }, null, d);
        using var m = Tensor.Zeros(new[] { 3 }, d);
        var rule = new SgdFusedStep { Lr = 1f, HasMomentum = 1, Momentum = 0.5f };
        Expect.Throws<ArgumentException>(() => kernels.Step(rule, new[] { new ParamSlot(p.Buf, g.Buf, m.Buf) }),
            "the gradient of slot 0 has 2 elements, the parameter 3");
        Expect.Throws<ArgumentException>(() => kernels.Step(rule, new[] { new ParamSlot(p.Buf, m.Buf) }),
            "slot 0 has no first state slot buffer");
        using var half = Tensor.Zeros(new[] { 3 }, d, DType.Float16);
        Expect.Throws<ArgumentException>(() => kernels.Step(rule, new[] { new ParamSlot(p.Buf, half.Buf, m.Buf) }),
            "the gradient of slot 0 must be float32, got float16");
        Assert.Equal(new[] { 1f, 2f, 3f }, p.ToArray());
    }

    [Fact]
    public void AGradientOfAnotherShapeFailsTheStepWithoutUpdating()
    {
        var a = Tensor.FromArray(new[] { 1f, 2f }).Persist(); a.RequiresGrad = true;
        var b = Tensor.FromArray(new[] { 3f, 4f }, new[] { 2, 1 }).Persist(); b.RequiresGrad = true;
        a.Grad = Tensor.Ones(new[] { 2 }).Persist();
        b.Grad = Tensor.Ones(new[] { 2 }).Persist();
        using var opt = new Sgd(new[] { ("a", a), ("b", b) }, 1f);
        Expect.Throws<InvalidOperationException>(() => opt.Step(), "gradient of 'b' has shape (2), the parameter (2, 1)");
        Assert.Equal(new[] { 1f, 2f }, a.ToArray());
        Assert.Equal(0, opt.StateDict().Scalars["a.step"]);
        foreach (var t in new[] { a, b }) { t.Grad!.Dispose(); t.Dispose(); }
    }
}
