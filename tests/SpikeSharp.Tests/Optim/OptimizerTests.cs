using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Optim;

public class OptimizerTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    private static readonly float[] P0 = { 1f, -2f, 0.5f };
    private static readonly float[][] Grads = { new[] { 0.1f, -0.3f, 2f }, new[] { -0.5f, 0.2f, 1f }, new[] { 0.3f, 0.3f, -1f } };

    // Runs 3 steps with the given gradients; returns the parameter after each step.
    private static List<float[]> Run(Device d, Func<Tensor, Optimizer> make)
    {
        var p = Tensor.FromArray(P0, null, d).Persist();
        p.RequiresGrad = true;
        using var opt = make(p);
        var res = new List<float[]>();
        foreach (var g in Grads)
        {
            p.Grad?.Dispose();
            p.Grad = Tensor.FromArray(g, null, d).Persist();
            opt.Step();
            res.Add(p.ToArray());
        }
        p.Grad?.Dispose(); p.Dispose();
        return res;
    }

    private static void AssertClose(double[] expect, float[] got)
    {
        for (int i = 0; i < expect.Length; i++) Assert.True(Math.Abs(expect[i] - got[i]) < 1e-5, $"element {i}: expected {expect[i]}, got {got[i]}");
    }

    [Theory, MemberData(nameof(Devices))]
    public void SgdMomentumAndNesterov(string dev)
    {
        var d = Device.Parse(dev);
        foreach (var nesterov in new[] { false, true })
        {
            double lr = 0.1, mu = 0.9, wd = 0.01;
            var got = Run(d, p => new Sgd(new[] { p }, 0.1f, 0.9f, weightDecay: 0.01f, nesterov: nesterov));
            var p = P0.Select(v => (double)v).ToArray(); var b = new double[3];
            for (int s = 0; s < 3; s++)
            {
                for (int i = 0; i < 3; i++)
                {
                    double g = Grads[s][i] + wd * p[i];
                    b[i] = s == 0 ? g : mu * b[i] + g;
                    p[i] -= lr * (nesterov ? g + mu * b[i] : b[i]);
                }
                AssertClose(p, got[s]);
            }
        }
        var plain = Run(d, p => new Sgd(new[] { p }, 0.5f));
        AssertClose(P0.Select((v, i) => (double)v - 0.5 * (Grads[0][i] + Grads[1][i] + Grads[2][i])).ToArray(), plain[2]);
    }

    [Theory, MemberData(nameof(Devices))]
    public void AdamAndAdamW(string dev)
    {
        var d = Device.Parse(dev);
        foreach (var decoupled in new[] { false, true })
        {
            double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
            var got = Run(d, p => decoupled ? new AdamW(new[] { p }, 0.01f, weightDecay: 0.1f) : new Adam(new[] { p }, 0.01f, weightDecay: 0.1f));
            var p = P0.Select(v => (double)v).ToArray(); var m = new double[3]; var v = new double[3];
            for (int s = 0; s < 3; s++)
            {
                int t = s + 1;
                for (int i = 0; i < 3; i++)
                {
                    double g = Grads[s][i] + (decoupled ? 0 : wd * p[i]);
                    if (decoupled) p[i] *= 1 - lr * wd;
                    m[i] = b1 * m[i] + (1 - b1) * g;
                    v[i] = b2 * v[i] + (1 - b2) * g * g;
                    p[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
                }
                AssertClose(p, got[s]);
            }
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void StateDictResumesIdentically(string dev)
    {
        var d = Device.Parse(dev);
        var full = Run(d, p => new Adam(new[] { ("w", p) }, 0.01f));
        // Two steps, save, continue in a fresh optimiser from the saved state.
        var p = Tensor.FromArray(P0, null, d).Persist(); p.RequiresGrad = true;
        var opt = new Adam(new[] { ("w", p) }, 0.01f);
        for (int s = 0; s < 2; s++) { p.Grad?.Dispose(); p.Grad = Tensor.FromArray(Grads[s], null, d).Persist(); opt.Step(); }
        var state = opt.StateDict();
        Assert.Equal(new[] { "w.exp_avg", "w.exp_avg_sq" }, state.Tensors.Keys);
        Assert.Equal(2, state.Scalars["w.step"]);
        var opt2 = new Adam(new[] { ("w", p) }, 0.5f);
        opt2.LoadStateDict(state);
        Assert.Equal(0.01f, opt2.Lr);
        Assert.Equal(2, opt2.StepCount);
        p.Grad?.Dispose(); p.Grad = Tensor.FromArray(Grads[2], null, d).Persist();
        opt2.Step();
        AssertClose(full[2].Select(v => (double)v).ToArray(), p.ToArray());

        var bad = new OptimizerState();
        bad.Tensors["w.exp_avg"] = Tensor.Zeros(new[] { 4 }, d);
        var e = Assert.Throws<ArgumentException>(() => opt2.LoadStateDict(bad));
        Assert.Contains("'w.exp_avg'", e.Message);
        var unknown = new OptimizerState();
        unknown.Tensors["v.exp_avg"] = Tensor.Zeros(new[] { 3 }, d);
        Expect.Throws<ArgumentException>(() => opt2.LoadStateDict(unknown),
            "'v.exp_avg' names no parameter", "(has: w)");
        opt.Dispose(); opt2.Dispose(); p.Grad?.Dispose(); p.Dispose();
    }

    [Fact]
    public void Schedules()
    {
        var p = Tensor.Zeros(new[] { 1 }).Persist(); p.RequiresGrad = true;
        using var opt = new Sgd(new[] { p }, 1f);
        var cos = new CosineLr(opt, totalSteps: 10, warmupSteps: 2, minLr: 0.1f);
        var lrs = new List<float> { opt.Lr };
        for (int i = 0; i < 11; i++) { cos.Step(); lrs.Add(opt.Lr); }
        Assert.Equal(0.5f, lrs[0], 6);
        Assert.Equal(1f, lrs[1], 6);
        Assert.Equal(1f, lrs[2], 6);
        Assert.Equal(0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * 3 / 8)), lrs[5], 5);
        Assert.Equal(0.1f, lrs[10], 6);
        Assert.Equal(0.1f, lrs[11], 6);
        for (int i = 3; i < 10; i++) Assert.True(lrs[i] < lrs[i - 1]);

        using var opt2 = new Sgd(new[] { p }, 0.8f);
        var st = new StepLr(opt2, stepSize: 3, gamma: 0.5f);
        var l2 = new List<float> { opt2.Lr };
        for (int i = 0; i < 6; i++) { st.Step(); l2.Add(opt2.Lr); }
        Assert.Equal(new[] { 0.8f, 0.8f, 0.8f, 0.4f, 0.4f, 0.4f, 0.2f }, l2);
        p.Dispose();
    }

    [Theory, MemberData(nameof(Devices))]
    public void ClipGradNormScalesOnDevice(string dev)
    {
        var d = Device.Parse(dev);
        var a = Tensor.Zeros(new[] { 2 }, d).Persist(); a.RequiresGrad = true;
        var b = Tensor.Zeros(new[] { 1 }, d).Persist(); b.RequiresGrad = true;
        a.Grad = Tensor.FromArray(new[] { 3f, 0f }, null, d).Persist();
        b.Grad = Tensor.FromArray(new[] { 4f }, null, d).Persist();
        using (var norm = GradClip.ClipGradNorm(new[] { a, b }, 1f)!) Assert.Equal(5f, norm.Item(), 5);
        Assert.Equal(0.6f, a.Grad.ToArray()[0], 5);
        Assert.Equal(0.8f, b.Grad.ToArray()[0], 5);
        using (var norm = GradClip.ClipGradNorm(new[] { a, b }, 10f)!) Assert.Equal(1f, norm.Item(), 4);
        Assert.Equal(0.6f, a.Grad.ToArray()[0], 5); // under the limit: untouched
        foreach (var t in new[] { a, b }) { t.Grad!.Dispose(); t.Dispose(); }
    }
}
