namespace SpikeSharp.Tests;

/// <summary>
/// Finite-difference gradient checks. The loss is L = Σ w ⊙ f(inputs) with fixed random weights w; the
/// analytic gradient from Backward() is compared with central differences of L, each evaluated in float32
/// on the device and accumulated in float64 on the host.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-3, double tol = 2e-2, int maxProbe = 40, int seed = 1)
    {
        foreach (var t in inputs) t.RequiresGrad = true;
        // The ILGPU CPU emulation launches slowly: probe a few elements there; the CPU backend probes fully.
        if (inputs.Length > 0 && inputs[0].Device.Type == DeviceType.IlgpuCpu) maxProbe = Math.Min(maxProbe, 4);
        Tensor y0;
        using (Autograd.Tape.NoGrad()) y0 = f(inputs);
        var rnd = new Random(seed);
        var w = Enumerable.Range(0, y0.Numel).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var wt = Tensor.FromArray(w, y0.Shape, y0.Device);
        var loss = (f(inputs) * wt).Sum();
        loss.Backward();
        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            Assert.True(x.Grad != null, $"input {k} got no gradient");
            var g = x.Grad!.ToArray();
            var data = x.ToArray();
            var idx = Enumerable.Range(0, data.Length).OrderBy(_ => rnd.Next()).Take(maxProbe).ToArray();
            foreach (var i in idx)
            {
                double Eval(float v)
                {
                    var d = (float[])data.Clone(); d[i] = v;
                    x.Backend.Upload<float>(d, x.Buf);
                    using (Autograd.Tape.NoGrad())
                    {
                        var yy = f(inputs).ToArray();
                        double s = 0; for (int j = 0; j < yy.Length; j++) s += (double)yy[j] * w[j];
                        return s;
                    }
                }
                double num = (Eval(data[i] + (float)eps) - Eval(data[i] - (float)eps)) / (2 * eps);
                x.Backend.Upload<float>(data, x.Buf);
                double err = Math.Abs(num - g[i]) / Math.Max(1.0, Math.Abs(num));
                Assert.True(err < tol, $"input {k} element {i}: analytic {g[i]}, numeric {num} (rel err {err:E2})");
            }
        }
    }

    public static Tensor Rand(Device d, int seed, params int[] shape) => Tensor.Randn(shape, new Generator((ulong)seed), d);
}
