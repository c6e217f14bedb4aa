using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using SpikeSharp.Backends;
using SpikeSharp.Neurons;
using SpikeSharp.Neurons.Ilgpu;

namespace SpikeSharp.Tests.Neurons;

/// <summary>The ILGPU kernels, run on ILGPU's CPU accelerator (warp 32), against the CPU driver.</summary>
public class NeuronKernelTests : IDisposable
{
    private readonly Context _ctx = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
    private readonly Accelerator _acc;
    public NeuronKernelTests() => _acc = _ctx.CreateCPUAccelerator(0);
    public void Dispose() { _acc.Dispose(); _ctx.Dispose(); }

    [Theory]
    [InlineData(0, false, false)]
    [InlineData(1, true, false)]
    [InlineData(2, false, true)]
    [InlineData(3, true, true)]
    [InlineData(3, false, false)]
    public void KernelsMatchCpuDriver(int kind, bool soft, bool half)
    {
        switch (kind)
        {
            case 0: Run<LifNeuron, ArctanTetherSurrogate>(1, soft, half); break;
            case 1: Run<LifNeuron, SigmoidSurrogate>(5, soft, half); break; // PLIF: per-feature vectors
            case 2: Run<IfNeuron, TriangleSurrogate>(1, soft, half); break;
            default: Run<AlifNeuron, FastSigmoidSurrogate>(1, soft, half); break;
        }
    }

    private void Run<TN, TS>(int F, bool soft, bool half) where TN : struct, INeuron where TS : struct, ISurrogate
    {
        using var scope = TensorScope.Begin();
        int T = 37, N = 260, W = 2; // two blocks, the second partial
        var rnd = new Random(7);
        float[] R(int n, float lo, float hi) => Enumerable.Range(0, n).Select(_ => lo + (float)rnd.NextDouble() * (hi - lo)).ToArray();
        var x = R(T * N, -0.4f, 1.1f); var v0 = R(N, 0f, 0.5f); var a0 = R(N, 0f, 0.3f);
        var dec = R(F, 0.6f, 0.95f); var th = R(F, 0.8f, 1.1f); var be = R(1, 0.1f, 0.3f); var da = R(1, 0.7f, 0.9f); var al = R(1, 1.5f, 2.5f);
        var gs = R(T * N, -1f, 1f); var gv = R(N, -1f, 1f); var ga = R(N, -1f, 1f);
        var hd = half ? DType.Float16 : DType.Float32;

        // CPU driver reference.
        Tensor C(float[] v) => Tensor.FromArray(v, null, Device.Cpu);
        var cs = Tensor.Empty(new[] { T * N }); var cv = Tensor.Empty(new[] { N }); var ca = Tensor.Empty(new[] { N });
        var ch = Tensor.Empty(new[] { half ? 2 * ((T + 1) / 2) * N : T * N }, hd); var cb = Tensor.Empty(new[] { W * N }, DType.Int32); var cc = Tensor.Empty(new[] { W * N });
        var fa = new NeuronForwardArgs
        {
            T = T, N = N, X = C(x).Buf, V0 = C(v0).Buf, A0 = C(a0).Buf, Decay = C(dec).Buf, Threshold = C(th).Buf, Beta = C(be).Buf, DecayA = C(da).Buf,
            Soft = soft ? 1 : 0, VReset = 0.1f, Spikes = cs.Buf, VT = cv.Buf, AT = ca.Buf, H = ch.Buf, Bits = cb.Buf, AChk = cc.Buf,
        };
        Assert.True(CpuNeuronDriver.Instance.NeuronForward<TN>(fa));

        // Kernels.
        var D = (float[] v) => _acc.Allocate1D(v).View;
        var E = (int n) => _acc.Allocate1D<float>(n).View;
        ArrayView<int> flags = _acc.Allocate1D(new int[1]).View;
        var h16 = _acc.Allocate1D<ILGPU.Half>(half ? 2 * ((T + 1) / 2) * N : 2).View; var h32 = E(half ? 1 : T * N);
        ArrayView<int> bits = _acc.Allocate1D<int>(W * N).View;
        var fv = new FwdViews
        {
            X = D(x), V0 = D(v0), A0 = D(a0), Decay = D(dec), Threshold = D(th), Beta = D(be), DecayA = D(da), Spikes = E(T * N), VT = E(N), AT = E(N),
            H32 = h32, H16 = h16, HOut = E(1), AChk = E(W * N), Bits = bits, Flags = flags,
            T = T, N = N, HasV0 = 1, HasA0 = 1, HasAT = 1, HasH32 = half ? 0 : 1, HasH16 = half ? 1 : 0, HasBits = 1, Soft = soft ? 1 : 0, VReset = 0.1f,
            Lanes = 1, Width = 32, WordsPerRow = N,
        };
        NeuronKernels.LaunchForward<TN>(_acc, _acc.DefaultStream, fv);
        if (half)
        {
            // The kernel rounds the saved h to nearest even (HalfBits) as System.Half does in the CPU driver: same bits.
            var kh = Get<ILGPU.Half>(h16).Select(v => BitConverter.HalfToUInt16Bits((System.Half)(float)v)).ToArray();
            var hc = ch.ToArray<System.Half>().Select(BitConverter.HalfToUInt16Bits).ToArray();
            for (int i = 0; i < kh.Length; i++)
                if ((i / 2 / N) * 2 + i % 2 < T) // float16 h in step pairs (HalfPairs); the odd half of the last pair is unused when T is odd
                    Assert.True(kh[i] == hc[i], $"h16 {i}: kernel 0x{kh[i]:x4}, cpu 0x{hc[i]:x4}");
        }
        var cgx = Tensor.Empty(new[] { T * N }); var cgv0 = Tensor.Empty(new[] { N }); var cga0 = Tensor.Empty(new[] { N });
        var cgp = Enumerable.Range(0, 5).Select(i => Tensor.Empty(new[] { i < 2 ? F : 1 })).ToArray();
        var ba = new NeuronBackwardArgs
        {
            T = T, N = N, GSpikes = C(gs).Buf, GVT = C(gv).Buf, GAT = C(ga).Buf, H = ch.Buf, Bits = cb.Buf, AChk = cc.Buf, V0 = fa.V0,
            Decay = fa.Decay, Threshold = fa.Threshold, Beta = fa.Beta, DecayA = fa.DecayA, Alpha = C(al).Buf, Soft = fa.Soft, VReset = 0.1f,
            DetachReset = soft ? 0 : 1, GX = cgx.Buf, GV0 = cgv0.Buf, GA0 = cga0.Buf,
            GDecay = cgp[0].Buf, GThreshold = cgp[1].Buf, GBeta = cgp[2].Buf, GDecayA = cgp[3].Buf, GAlpha = cgp[4].Buf,
        };
        CpuNeuronDriver.Instance.NeuronBackward<TN, TS>(ba);
        // Every batch depth of the saved-h backward kernel (4, 8 or 16 steps of loads in flight).
        foreach (int depth in new[] { 4, 8, 16 })
        {
            var gp = Enumerable.Range(0, 5).Select(i => (ArrayView<float>)D(new float[i < 2 ? F : 1])).ToArray();
            var bv = new BwdViews
            {
                GSpikes = D(gs), GVT = D(gv), GAT = D(ga), H32 = h32, H16P = ((ArrayView<ILGPU.Half>)h16).Cast<Half2>(), AChk = fv.AChk, V0 = fv.V0, Decay = fv.Decay, Threshold = fv.Threshold,
                Beta = fv.Beta, DecayA = fv.DecayA, Alpha = D(al), GX = E(T * N), GV0 = E(N), GA0 = E(N),
                GDecay = gp[0], GThreshold = gp[1], GBeta = gp[2], GDecayA = gp[3], GAlpha = gp[4], Bits = bits, Flags = flags,
                T = T, N = N, HasGVT = 1, HasGAT = 1, HalfH = half ? 1 : 0, HasV0 = 1, HasGV0 = 1, HasGA0 = 1, Soft = fv.Soft,
                DetachReset = ba.DetachReset, VReset = 0.1f, HasGDecay = 1, HasGThreshold = 1, HasGBeta = 1, HasGDecayA = 1, HasGAlpha = 1,
                HasAlpha = 1, Lanes = 1, Width = 32, WordsPerRow = N,
            };
            NeuronKernels.LaunchBackward<TN, TS>(_acc, _acc.DefaultStream, bv, depth);
            _acc.Synchronize();

            Assert.Equal(0, Get(flags)[0]);
            Assert.Equal(cs.ToArray(), Get(fv.Spikes));
            Assert.Equal(cb.ToArray<int>(), Get(bits));
            Assert.Equal(cv.ToArray(), Get(fv.VT));
            if (default(TN).Adaptive) { Assert.Equal(ca.ToArray(), Get(fv.AT)); Assert.Equal(cc.ToArray(), Get(fv.AChk)); }
            double tol = 1e-5;
            Close(cgx.ToArray(), Get(bv.GX), tol);
            Close(cgv0.ToArray(), Get(bv.GV0), tol);
            if (default(TN).Adaptive) Close(cga0.ToArray(), Get(bv.GA0), tol);
            for (int i = 0; i < 5; i++) Close(cgp[i].ToArray(), Get(gp[i]), Math.Max(tol, 1e-4), $"param {i} ");
        }
    }

    private static T[] Get<T>(ArrayView<T> v) where T : unmanaged { var a = new T[v.Length]; v.CopyToCPU(a); return a; }

    private static void Close(float[] e, float[] a, double tol, string what = "")
    {
        double scale = Math.Max(1e-3, e.Max(Math.Abs));
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol * scale, $"{what}element {i}: cpu {e[i]}, kernel {a[i]}");
    }
}
