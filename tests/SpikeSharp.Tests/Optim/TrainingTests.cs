using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Optim;

public class TrainingTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    /// <summary>60 steps through a whole model: the CPU backend and CUDA, not the emulation.</summary>
    public static IEnumerable<object[]> TrainingDevices => TestDevices.TrainingNames;

    [Theory, MemberData(nameof(TrainingDevices))]
    public void TwoLayerMlpLearnsSeparableProblem(string dev)
    {
        var d = Device.Parse(dev);
        // Two Gaussian blobs per class on a ring, 3 classes: linearly separable enough for a small MLP.
        var rnd = new Random(0);
        int n = 96;
        var xs = new float[n * 2]; var ys = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % 3; double ang = c * 2 * Math.PI / 3;
            xs[2 * i] = (float)(2 * Math.Cos(ang) + 0.3 * (rnd.NextDouble() - 0.5));
            xs[2 * i + 1] = (float)(2 * Math.Sin(ang) + 0.3 * (rnd.NextDouble() - 0.5));
            ys[i] = c;
        }
        using var x = Tensor.FromArray(xs, new[] { n, 2 }, d);
        using var y = Tensor.FromArray(ys, null, d);
        var g = new Generator(1);
        using var net = new Sequential(new Linear(2, 16, gen: g, device: d), new Relu(), new Linear(16, 3, gen: g, device: d));
        using var opt = new AdamW(net.NamedParameters(), 0.05f);
        var sched = new CosineLr(opt, totalSteps: 60, warmupSteps: 5);
        float first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = Functional.CrossEntropy(net.Forward(x), y);
            if (step == 0) first = loss.Item();
            loss.Backward();
            GradClip.ClipGradNorm(net.Parameters(), 5f)?.Dispose();
            opt.Step();
            sched.Step();
            if (step == 59) last = loss.Item();
        }
        Assert.True(last < 0.1f && last < first / 5, $"loss went from {first} to {last}");
        using (var scope = TensorScope.Begin())
        {
            Assert.Equal(1f, Functional.Accuracy(net.Forward(x), y).Item());
            var logits = net.Forward(x);
            var seq = logits.Unsqueeze(0).Mul(Tensor.Ones(new[] { 4, 1, 1 }, d)); // T = 4 equal steps
            Assert.Equal(Functional.CrossEntropy(logits, y).Item(), Functional.RateCrossEntropy(seq, y).Item(), 5);
            // Rates of equal steps are the step itself: mean over B and C of (sigmoid(logit) − one-hot)².
            var z = logits.ToArray();
            double mse = Enumerable.Range(0, z.Length)
                .Select(i => 1 / (1 + Math.Exp(-z[i])) - (i % 3 == ys[i / 3] ? 1 : 0)).Average(v => v * v);
            Assert.Equal(mse, Functional.RateMse(seq.Sigmoid(), y).Item(), 5);
        }
    }

    private sealed class Relu : Module { public override Tensor Forward(Tensor x) => x.Relu(); }

    [Theory, MemberData(nameof(Devices))]
    public void LossesMatchHandComputation(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var logits = Tensor.FromArray(new[] { 1f, 2f, 0f, 0f, 0f, 3f }, new[] { 2, 3 }, d);
        var labels = Tensor.FromArray(new[] { 1, 0 }, null, d);
        double l0 = -(2 - Math.Log(Math.Exp(1) + Math.Exp(2) + 1)), l1 = -(0 - Math.Log(2 + Math.Exp(3)));
        Assert.Equal((l0 + l1) / 2, Functional.CrossEntropy(logits, labels).Item(), 5);
        Assert.Equal(0.5f, Functional.Accuracy(logits, labels).Item());
        // Rates (T = 2): sample 0 fires [1, .5, 0], sample 1 [0, 0, 1]; targets one-hot(1), one-hot(0).
        var spikes = Tensor.FromArray(new[] { 1f, 1f, 0f, 0f, 0f, 1f, 1f, 0f, 0f, 0f, 0f, 1f }, new[] { 2, 2, 3 }, d);
        double mse = (1 + 0.25 + 0 + 1 + 0 + 1) / 6.0;
        Assert.Equal(mse, Functional.RateMse(spikes, labels).Item(), 5);
        GradCheck.Check(t => Functional.CrossEntropy(t[0], labels).Reshape(1), new[] { GradCheck.Rand(d, 1, 4 / 2, 3) });
    }
}
