using SpikeSharp.Neurons;
using static SpikeSharp.Tests.Neurons.UnfusedReference;

namespace SpikeSharp.Tests.Neurons;

/// <summary>Every gradient of the fused neurons against autograd through the unfused reference.</summary>
public class NeuronGradTests
{
    public static IEnumerable<object[]> Cases() =>
        from d in TestDevices.Names
        from k in Enum.GetValues<Kind>()
        from s in Enum.GetValues<SurrogateKind>()
        select new object[] { d[0], k, s };

    [Theory, MemberData(nameof(Cases))]
    public void MatchesUnfused(string dev, Kind kind, SurrogateKind sur)
    {
        var d = Device.Parse(dev);
        foreach (var reset in new[] { ResetMode.Hard, ResetMode.Soft })
            foreach (var detach in new[] { true, false })
                // (T, B) with F = 5: multi-word saved h with a tail through the four-neuron forward kernel (N = 20);
                // T ≤ 16: recompute mode, words shared by 2 (T = 12, four-neuron kernel) or 4 neighbours (T = 5 and 1,
                // one-neuron kernel with N = 15: a partial word group). The one-neuron kernels at T = 37 are
                // checked against the CPU driver in NeuronKernelTests.
                foreach (var (T, B) in new[] { (37, 4), (12, 4), (5, 3), (1, 3) })
                {
                    var o = new SpikingOptions { Surrogate = sur, Reset = reset, DetachReset = detach, VReset = reset == ResetMode.Hard ? 0.1f : 0f };
                    double err = Compare(d, kind, o, T, B, F: 5, seed: T + B + (int)sur * 7);
                    Assert.True(err < 1e-5, $"{kind} {sur} {reset} detach={detach} T={T}: rel err {err:E2}");
                }
    }

    [Theory, MemberData(nameof(Devices))]
    public void HalfSavedStateIsClose(string dev)
    {
        var d = Device.Parse(dev);
        foreach (var kind in Enum.GetValues<Kind>())
        {
            var o = new SpikingOptions { SavedDType = DType.Float16, Reset = ResetMode.Soft };
            foreach (var (T, B) in new[] { (37, 3), (37, 4), (12, 4) })
            {
                double err = Compare(d, kind, o, T, B, 5, seed: 11);
                Assert.True(err < 1e-2, $"{kind} float16 h T={T} B={B}: rel err {err:E2}");
            }
        }
    }

    public static IEnumerable<object[]> Devices => TestDevices.Names;

    /// <summary>A fused function with a surrogate type of the test's choosing, and that surrogate's derivative.
    /// </summary>
    internal sealed record SurrogateUnderTest(Func<Kind, Tensor[], SpikingOptions, SpikingResult> Fused,
        Func<float, float, float> Grad)
    {
        /// <summary>The generic overloads with <typeparamref name="TS"/>; the arguments are x, v0, a0, decay,
        /// threshold, beta, decayA, alpha.</summary>
        public static SurrogateUnderTest Of<TS>() where TS : struct, ISurrogate => new((kind, t, o) => kind switch
        {
            Kind.Lif => SpikingFunctions.Lif<TS>(t[0], t[1], t[3], t[4], o, t[7]),
            Kind.Plif => SpikingFunctions.Plif<TS>(t[0], t[1], t[3], t[4], o, t[7]),
            Kind.If => SpikingFunctions.If<TS>(t[0], t[1], t[4], o, t[7]),
            _ => SpikingFunctions.Alif<TS>(t[0], t[1], t[2], t[3], t[4], t[5], t[6], o, t[7]),
        }, (z, alpha) => default(TS).Grad(z, alpha));
    }

    /// <summary>Max over all gradients of max|fused − ref| / max|ref|. <paramref name="surrogate"/>: the generic
    /// overloads with a surrogate type (null: the overloads that read options.Surrogate).</summary>
    internal static double Compare(Device dev, Kind kind, SpikingOptions o, int T, int B, int F, int seed,
        SurrogateUnderTest? surrogate = null)
    {
        using var scope = TensorScope.Begin();
        var rnd = new Random(seed);
        Tensor Make(float[] v, int[] shape, Device d) { var t = Tensor.FromArray(v, shape, d); t.RequiresGrad = true; return t; }
        float[] R(int n, float lo, float hi) => Enumerable.Range(0, n).Select(_ => lo + (float)rnd.NextDouble() * (hi - lo)).ToArray();
        int pf = kind == Kind.Plif ? F : 1;
        var xs = R(T * B * F, -0.4f, 1.1f); var v0s = R(B * F, -0.2f, 0.8f); var a0s = R(B * F, 0f, 0.5f);
        var ds = R(pf, 0.6f, 0.95f); var ths = R(pf, 0.7f, 1.1f); var bs = R(1, 0.1f, 0.4f); var das = R(1, 0.6f, 0.9f); var als = R(1, 1.5f, 3f);
        // Positive loss weights: parameter gradients are sums over T·N terms, and sign cancellation there would
        // measure float32 summation order rather than the kernels.
        var ws = R(T * B * F, 0.2f, 1f); var wv = R(B * F, 0.2f, 1f); var wa = R(B * F, 0.2f, 1f);
        int[] xShape = { T, B, F }, sShape = { B, F };

        // The unfused reference runs on the CPU (the specification); the fused function on the device under test.
        (Tensor[] leaves, float[][] grads) Go(bool fused)
        {
            var d = fused ? dev : Device.Cpu;
            var x = Make(xs, xShape, d); var v0 = Make(v0s, sShape, d); var a0 = Make(a0s, sShape, d);
            var dec = Make(ds, new[] { pf }, d); var th = Make(ths, new[] { pf }, d); var be = Make(bs, new[] { 1 }, d); var da = Make(das, new[] { 1 }, d);
            var al = Make(als, new[] { 1 }, d);
            bool alif = kind == Kind.Alif, leaky = kind != Kind.If;
            Tensor s, v; Tensor? a;
            if (fused)
            {
                var r = surrogate != null ? surrogate.Fused(kind, new[] { x, v0, a0, dec, th, be, da, al }, o) : kind switch
                {
                    Kind.Lif => SpikingFunctions.Lif(x, v0, dec, th, o, al),
                    Kind.Plif => SpikingFunctions.Plif(x, v0, dec, th, o, al),
                    Kind.If => SpikingFunctions.If(x, v0, th, o, al),
                    _ => SpikingFunctions.Alif(x, v0, a0, dec, th, be, da, o, al),
                };
                (s, v, a) = (r.Spikes, r.V, r.A);
            }
            else (s, v, a) = UnfusedReference.Run(kind, x, v0, alif ? a0 : null, leaky ? dec : null, th, alif ? be : null, alif ? da : null, al, o, surrogate?.Grad);
            var loss = (s * Tensor.FromArray(ws, xShape, d)).Sum() + (v * Tensor.FromArray(wv, sShape, d)).Sum();
            if (a != null) loss = loss + (a * Tensor.FromArray(wa, sShape, d)).Sum();
            loss.Backward();
            var leaves = new List<Tensor> { x, v0, th, al };
            if (leaky) leaves.Add(dec);
            if (alif) leaves.AddRange(new[] { a0, be, da });
            return (leaves.ToArray(), leaves.Select(l => l.Grad?.ToArray() ?? new float[l.Numel]).ToArray());
        }

        var (_, gf) = Go(true);
        var (names, gr) = Go(false);
        double worst = 0;
        for (int i = 0; i < gf.Length; i++)
        {
            // Parameter gradients (i >= 2) are sums of T·N per-step terms the size of x's gradient; where they
            // cancel, float32 summation order alone moves them by ~1e-6 of a term, so they are measured against
            // the larger of their own size and the size of the terms.
            double scale = Math.Max(1e-6, gr[i].Max(Math.Abs));
            if (i >= 2) scale = Math.Max(scale, gr[0].Max(Math.Abs));
            double e = gf[i].Zip(gr[i], (p, q) => Math.Abs(p - q)).Max() / scale;
            worst = Math.Max(worst, e);
            if (Environment.GetEnvironmentVariable("NEURON_DEBUG") != null) Console.Error.WriteLine($"grad {i}: {e:E2} scale {scale}");
        }
        return worst;
    }
}
