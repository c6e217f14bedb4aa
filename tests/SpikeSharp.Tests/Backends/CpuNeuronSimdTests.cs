using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Backends;

/// <summary>The CPU driver's 8-wide forward step (shared parameters) gives the scalar <see cref="NeuronMath"/>
/// values to the bit, and still reports a non-finite input.</summary>
public class CpuNeuronSimdTests
{
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public void VectorStepsEqualTheScalarMath(bool leaky, bool soft)
    {
        if (leaky) Check<LifNeuron>(soft); else Check<IfNeuron>(soft);
    }

    private static void Check<TN>(bool soft) where TN : struct, INeuron
    {
        using var scope = TensorScope.Begin();
        int T = 5, N = 8 * 5 + 3; // vector steps and a scalar tail
        var r = new Random(3);
        var x = Enumerable.Range(0, T * N).Select(_ => (float)(r.NextDouble() * 1.6 - 0.3)).ToArray();
        var v0 = Enumerable.Range(0, N).Select(_ => (float)(r.NextDouble() * 0.5)).ToArray();
        var p = new NeuronParams
        {
            Decay = 0.8123f, Threshold = 0.9137f, Soft = soft ? 1 : 0, VReset = 0.1f, Alpha = 1f,
        };
        Tensor C(float[] v) => Tensor.FromArray(v, null, Device.Cpu);
        var spikes = Tensor.Empty(new[] { T * N }); var vt = Tensor.Empty(new[] { N });
        var h = Tensor.Empty(new[] { T * N });
        var fa = new NeuronForwardArgs
        {
            T = T, N = N, X = C(x).Buf, V0 = C(v0).Buf, Decay = C(new[] { p.Decay }).Buf,
            Threshold = C(new[] { p.Threshold }).Buf, Beta = C(new[] { 0f }).Buf, DecayA = C(new[] { 0f }).Buf,
            Soft = p.Soft, VReset = p.VReset, Spikes = spikes.Buf, VT = vt.Buf, H = h.Buf,
        };
        Assert.True(CpuNeuronDriver.Instance.NeuronForward<TN>(fa));
        var u = (float[])v0.Clone();
        var es = new float[T * N]; var eh = new float[T * N];
        float a = 0f;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++)
                es[t * N + n] = NeuronMath.Forward<TN>(p, x[t * N + n], ref u[n], ref a, out eh[t * N + n]);
        Assert.Equal(es, spikes.ToArray());
        Assert.Equal(eh, h.ToArray());
        Assert.Equal(u, vt.ToArray());

        // A non-finite input in a vector step is reported.
        x[2 * N + 4] = float.PositiveInfinity;
        fa.X = C(x).Buf;
        Assert.False(CpuNeuronDriver.Instance.NeuronForward<TN>(fa));
    }
}

/// <summary>The vector backward steps (arctan surrogate) and the vector replay of recompute mode give the scalar
/// math's input gradient to the bit, with per-neuron parameters, for both resets and both reset-gradient modes.
/// </summary>
public class CpuNeuronSimdBackwardTests
{
    [Theory]
    [InlineData(false, 1, false)]
    [InlineData(true, 0, false)]
    [InlineData(false, 0, true)]
    [InlineData(true, 1, true)]
    public void VectorBackwardEqualsTheScalarMath(bool soft, int detach, bool recompute)
    {
        using var scope = TensorScope.Begin();
        int T = 5, N = 8 * 3 + 5;
        var r = new Random(11);
        float[] R(int n, float lo, float hi) =>
            Enumerable.Range(0, n).Select(_ => lo + (float)r.NextDouble() * (hi - lo)).ToArray();
        var x = R(T * N, -0.3f, 1.3f); var v0 = R(N, 0f, 0.5f); var gs = R(T * N, -1f, 1f); var gv = R(N, -1f, 1f);
        var dec = R(N, 0.5f, 0.95f); var th = R(N, 0.8f, 1.1f); var al = R(N, 1.5f, 2.5f);
        Tensor C(float[] v) => Tensor.FromArray(v, null, Device.Cpu);
        var spikes = Tensor.Empty(new[] { T * N }); var vt = Tensor.Empty(new[] { N });
        var h = Tensor.Empty(new[] { T * N });
        var bits = Tensor.Empty(new[] { (N + 3) / 4 }, DType.Int32);
        var fa = new NeuronForwardArgs
        {
            T = T, N = N, X = C(x).Buf, V0 = C(v0).Buf, Decay = C(dec).Buf, Threshold = C(th).Buf,
            Beta = C(new[] { 0f }).Buf, DecayA = C(new[] { 0f }).Buf, Soft = soft ? 1 : 0, VReset = 0.1f,
            Spikes = spikes.Buf, VT = vt.Buf,
            H = recompute ? null : h.Buf, HOut = recompute ? h.Buf : null, Bits = bits.Buf,
        };
        Assert.True(CpuNeuronDriver.Instance.NeuronForward<LifNeuron>(fa));
        var gx = Tensor.Empty(new[] { T * N }); var gv0 = Tensor.Empty(new[] { N });
        var gth = Tensor.Empty(new[] { N });
        var ba = new NeuronBackwardArgs
        {
            T = T, N = N, GSpikes = C(gs).Buf, GVT = C(gv).Buf, H = recompute ? null : h.Buf,
            X = recompute ? fa.X : null,
            Bits = bits.Buf, V0 = fa.V0, Decay = fa.Decay, Threshold = fa.Threshold, Beta = fa.Beta, DecayA = fa.DecayA,
            Alpha = C(al).Buf, Soft = fa.Soft, VReset = 0.1f, DetachReset = detach, GX = gx.Buf, GV0 = gv0.Buf,
            GThreshold = gth.Buf,
        };
        CpuNeuronDriver.Instance.NeuronBackward<LifNeuron, ArctanTetherSurrogate>(ba);

        // The scalar math, neuron by neuron.
        var hs = h.ToArray(); var ss = spikes.ToArray();
        var egx = new float[T * N]; var egv0 = new float[N]; var egth = new float[N];
        for (int n = 0; n < N; n++)
        {
            var p = new NeuronParams
            {
                Decay = dec[n], Threshold = th[n], Alpha = al[n], Soft = fa.Soft, VReset = 0.1f, DetachReset = detach,
            };
            float gU = gv[n], gA = 0f; var acc = new ParamGrads();
            for (int t = T - 1; t >= 0; t--)
                egx[t * N + n] = NeuronMath.Backward<LifNeuron, ArctanTetherSurrogate>(p, gs[t * N + n], hs[t * N + n],
                    ss[t * N + n], 0f, ref gU, ref gA, ref acc);
            egv0[n] = gU; egth[n] = acc.Threshold;
        }
        Assert.Equal(egx, gx.ToArray());
        Assert.Equal(egv0, gv0.ToArray());
        Assert.Equal(egth, gth.ToArray());
    }
}
