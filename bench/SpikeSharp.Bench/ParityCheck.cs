using SpikeSharp.Neurons;

namespace SpikeSharp.Bench;

/// <summary>
/// Runs a set of ops forward and backward on a device and on the CPU from the same seeded inputs (the RNG is
/// counter-based, so both devices draw the same numbers) and reports the relative error of every output and
/// gradient. The CPU backend is the specification; a GPU machine has no .NET SDK to run the test suite, so this
/// is how CUDA kernels are checked there.
/// </summary>
public static class ParityCheck
{
    private sealed record Case(string Name, int[][] Shapes, Func<Tensor[], Tensor> F, double Tol = 1e-4);

    public static int Run(Device device, TextWriter o)
    {
        var cases = new List<Case>
        {
            new("add+mul broadcast", new[] { new[] { 333, 77 }, new[] { 77 } }, x => (x[0] + x[1]) * x[0]),
            new("exp/log/sqrt/tanh/sigmoid", new[] { new[] { 1000, 33 } }, x => x[0].Sigmoid().AddScalar(0.5f).Log() + x[0].Tanh() + x[0].Abs().AddScalar(1f).Sqrt()),
            new("sum/mean/max dims", new[] { new[] { 17, 65, 33 } }, x => x[0].Sum(1) + x[0].Mean(1) + x[0].Max(1)),
            new("matmul 2-D", new[] { new[] { 129, 257 }, new[] { 257, 65 } }, x => Tensor.Matmul(x[0], x[1])),
            new("matmul batched T", new[] { new[] { 3, 65, 33 }, new[] { 3, 17, 33 } }, x => Tensor.Matmul(x[0], x[1], false, true)),
            new("linear", new[] { new[] { 7, 9, 100 }, new[] { 50, 100 }, new[] { 50 } }, x => Tensor.Linear(x[0], x[1], x[2])),
            new("softmax+cross-entropy", new[] { new[] { 257, 10 } }, x => Tensor.CrossEntropy(x[0], Labels(257, 10, x[0].Device)).Reshape(1)),
            new("permute/narrow/cat", new[] { new[] { 5, 6, 7 } }, x => Tensor.Cat(new[] { x[0].Permute(2, 0, 1).Narrow(1, 1, 3), x[0].Permute(2, 0, 1) }, 1)),
            new("conv2d", new[] { new[] { 3, 4, 13, 11 }, new[] { 8, 4, 3, 3 } }, x => Tensor.Conv2d(x[0], x[1], null, (2, 2), (1, 1))),
            new("maxpool2d", new[] { new[] { 2, 3, 8, 8 } }, x => Tensor.MaxPool2d(x[0], (2, 2))),
            new("batchnorm2d (train)", new[] { new[] { 4, 6, 7, 9 }, new[] { 6 }, new[] { 6 } }, x => Tensor.BatchNorm(x[0], null, null, x[1], x[2], training: true)),
            new("layernorm", new[] { new[] { 33, 70 }, new[] { 70 }, new[] { 70 } }, x => Tensor.LayerNorm(x[0], 1, x[1], x[2])),
            new("layernorm·s (D 385)", new[] { new[] { 37, 385 }, new[] { 385 }, new[] { 385 }, new[] { 1 } },
                x => x[0].ScaledLayerNorm(x[1], x[2], x[3])),
            new("avgpool2d", new[] { new[] { 2, 3, 9, 8 } }, x => Tensor.AvgPool2d(x[0], (2, 2))),
            new("dropout (same seed)", new[] { new[] { 5, 7, 33 } }, x => Tensor.Dropout(x[0], 0.3f, true, new Generator(5), sharedOverTime: true)),
            new("embedding", new[] { new[] { 50, 16 } }, x => x[0].Embedding(Labels(77, 50, x[0].Device))),
            new("mse", new[] { new[] { 65, 33 }, new[] { 65, 33 } }, x => Tensor.Mse(x[0], x[1]).Reshape(1)),
            new("causal accumulation", new[] { new[] { 37, 2, 3, 8 }, new[] { 37, 2, 3, 8 }, new[] { 37, 2, 3, 8 } },
                x => SpikeSharp.Attention.CausalAccumulation.Forward(x[0], x[1], x[2]).Output),
            new("plif fused (batch 3)", new[] { new[] { 37, 3, 50 }, new[] { 50 } }, x => SpikingFunctions.Plif(x[0].MulScalar(0.7f).AddScalar(0.3f), null,
                x[1].Sigmoid(), Tensor.Full(new[] { 50 }, 1f, DType.Float32, x[0].Device)).Spikes, 1e-4),
            new("alif fused", new[] { new[] { 37, 100 } }, x => SpikingFunctions.Alif(x[0].MulScalar(0.7f).AddScalar(0.3f), null, null,
                Full(0.8f, x[0].Device), Full(1f, x[0].Device), Full(0.2f, x[0].Device), Full(0.9f, x[0].Device)).Spikes, 1e-4),
            new("lif fused", new[] { new[] { 37, 1000 } }, x => SpikingFunctions.Lif(x[0].MulScalar(0.7f).AddScalar(0.3f), null,
                Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, x[0].Device), Tensor.Full(new[] { 1 }, 1f, DType.Float32, x[0].Device)).Spikes, 1e-4),
            // The surrogate as a type argument (what a user's own ISurrogate struct takes).
            new("lif fused <FastSigmoid>", new[] { new[] { 37, 1000 } }, x => SpikingFunctions.Lif<FastSigmoidSurrogate>(
                x[0].MulScalar(0.7f).AddScalar(0.3f), null, Full(0.8f, x[0].Device), Full(1f, x[0].Device)).Spikes, 1e-4),
            // The generic neuron-model family (INeuronModelDriver).
            new("cubalif model", new[] { new[] { 37, 3, 50 } }, x => NeuronModels.Run<CubaLifModel>(
                x[0].MulScalar(0.7f).AddScalar(0.3f), null,
                new[] { Full(0.8f, x[0].Device), Full(0.7f, x[0].Device), Full(1f, x[0].Device) }).Output, 1e-4),
            new("li model", new[] { new[] { 37, 3, 50 } }, x => NeuronModels.Run<LiModel>(
                x[0], null, new[] { Full(0.9f, x[0].Device) }).Output, 1e-4),
        };
        int failed = 0;
        o.WriteLine($"parity {device} vs cpu");
        o.WriteLine($"{"case",-28} {"output",10} {"grads",10}  ok");
        foreach (var c in cases)
        {
            try
            {
                var (outErr, gradErr) = Compare(c, device);
                bool ok = outErr < c.Tol && gradErr < c.Tol;
                if (!ok) failed++;
                o.WriteLine($"{c.Name,-28} {outErr,10:E2} {gradErr,10:E2}  {(ok ? "yes" : "NO")}");
            }
            catch (Exception e)
            {
                failed++;
                o.WriteLine($"{c.Name,-28} failed: {e.GetType().Name}: {e.Message}");
            }
        }
        o.WriteLine(failed == 0 ? "parity: all cases match" : $"parity: {failed} case(s) FAILED");
        return failed;
    }

    private static Tensor Full(float v, Device d) => Tensor.Full(new[] { 1 }, v, DType.Float32, d);

    private static Tensor Labels(int n, int classes, Device d) =>
        Tensor.FromArray(Enumerable.Range(0, n).Select(i => (i * 7) % classes).ToArray(), new[] { n }, d);

    private static (double, double) Compare(Case c, Device device)
    {
        var (yc, gc) = Eval(c, Device.Cpu);
        var (yd, gd) = Eval(c, device);
        double ge = 0;
        for (int i = 0; i < gc.Length; i++) ge = Math.Max(ge, RelErr(gc[i], gd[i]));
        return (RelErr(yc, yd), ge);
    }

    private static (float[] y, float[][] g) Eval(Case c, Device d)
    {
        using var scope = TensorScope.Begin();
        var xs = c.Shapes.Select((s, i) => Tensor.Randn(s, new Generator((ulong)(11 + i)), d)).ToArray();
        foreach (var x in xs) x.RequiresGrad = true;
        var y = c.F(xs);
        var w = Tensor.Randn(y.Shape, new Generator(99), d);
        (y * w).Sum().Backward();
        return (y.ToArray(), xs.Select(x => x.Grad?.ToArray() ?? Array.Empty<float>()).ToArray());
    }

    private static double RelErr(float[] a, float[] b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; num += d * d; den += (double)a[i] * a[i]; }
        if (double.IsNaN(num)) return double.PositiveInfinity;
        return Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-30);
    }
}
