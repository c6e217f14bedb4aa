using SpikeSharp.Attention;

namespace SpikeSharp.Tests.Attention;

public class CausalAccumulationTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // The same computation from primitive ops: a loop of Narrow / Mul / Add, differentiated by the tape.
    private static (Tensor Output, Tensor State) Unfused(Tensor q, Tensor k, Tensor v, Tensor? s0)
    {
        int steps = q.Size(0);
        var one = q.Shape; one[0] = 1;
        Tensor s = s0?.Unsqueeze(0) ?? Tensor.Zeros(one, q.Device);
        var outs = new List<Tensor>();
        for (int t = 0; t < steps; t++)
        {
            s = s.Add(k.Narrow(0, t, 1).Mul(v.Narrow(0, t, 1)));
            outs.Add(q.Narrow(0, t, 1).Mul(s));
        }
        return (Tensor.Cat(outs, 0), s.Squeeze(0));
    }

    internal static double RelErr(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(b[i])); }
        return diff / Math.Max(scale, 1e-12);
    }

    [Theory, MemberData(nameof(Devices))]
    public void ForwardAndBackwardMatchUnfused(string dev) => Compare(Device.Parse(dev), new[] { 37, 2, 3, 5 }, withS0: true, stateGrad: true);

    [Theory, MemberData(nameof(Devices))]
    public void ManyChunksWithoutInitialState(string dev) => Compare(Device.Parse(dev), new[] { 45, 3, 2, 61 }, withS0: false, stateGrad: false);

    [Theory, MemberData(nameof(Devices))]
    public void OnlyFinalStateGradient(string dev) => Compare(Device.Parse(dev), new[] { 33, 1, 2, 7 }, withS0: true, stateGrad: true, outGrad: false);

    private static void Compare(Device d, int[] shape, bool withS0, bool stateGrad, bool outGrad = true)
    {
        using var scope = TensorScope.Begin();
        var stepShape = shape[1..];
        Tensor[] Inputs()
        {
            var ins = new List<Tensor> { GradCheck.Rand(d, 1, shape), GradCheck.Rand(d, 2, shape), GradCheck.Rand(d, 3, shape) };
            if (withS0) ins.Add(GradCheck.Rand(d, 4, stepShape));
            foreach (var t in ins) t.RequiresGrad = true;
            return ins.ToArray();
        }
        var wOut = GradCheck.Rand(d, 5, shape);
        var wState = GradCheck.Rand(d, 6, stepShape);

        var fused = Inputs();
        var (fo, fs) = CausalAccumulation.Forward(fused[0], fused[1], fused[2], withS0 ? fused[3] : null);
        var reference = Inputs();
        var (ro, rs) = Unfused(reference[0], reference[1], reference[2], withS0 ? reference[3] : null);

        Assert.True(RelErr(fo.ToArray(), ro.ToArray()) < 1e-5, "output");
        Assert.True(RelErr(fs.ToArray(), rs.ToArray()) < 1e-5, "final state");

        Tensor Loss(Tensor o, Tensor s)
        {
            Tensor? l = outGrad ? o.Mul(wOut).Sum() : null;
            if (stateGrad) l = l == null ? s.Mul(wState).Sum() : l.Add(s.Mul(wState).Sum());
            return l!;
        }
        Loss(fo, fs).Backward();
        Loss(ro, rs).Backward();
        string[] names = { "q", "k", "v", "s0" };
        for (int i = 0; i < fused.Length; i++)
        {
            if (reference[i].Grad == null) { Assert.All(fused[i].Grad?.ToArray() ?? Array.Empty<float>(), g => Assert.Equal(0f, g)); continue; }
            var err = RelErr(fused[i].Grad!.ToArray(), reference[i].Grad!.ToArray());
            Assert.True(err < 1e-5, $"grad {names[i]}: rel err {err:E2}");
        }
    }

    [Fact]
    public void StreamingInChunksEqualsOnePass()
    {
        using var scope = TensorScope.Begin();
        var d = Device.Cpu;
        var q = GradCheck.Rand(d, 1, 20, 2, 4); var k = GradCheck.Rand(d, 2, 20, 2, 4); var v = GradCheck.Rand(d, 3, 20, 2, 4);
        var (full, fullState) = CausalAccumulation.Forward(q, k, v);
        var (a, sa) = CausalAccumulation.Forward(q.Narrow(0, 0, 7), k.Narrow(0, 0, 7), v.Narrow(0, 0, 7));
        var (b, sb) = CausalAccumulation.Forward(q.Narrow(0, 7, 13), k.Narrow(0, 7, 13), v.Narrow(0, 7, 13), sa);
        Assert.True(RelErr(Tensor.Cat(new[] { a, b }, 0).ToArray(), full.ToArray()) < 1e-6);
        Assert.True(RelErr(sb.ToArray(), fullState.ToArray()) < 1e-6);
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        using var scope = TensorScope.Begin();
        var q = Tensor.Zeros(new[] { 3, 4 }); var k = Tensor.Zeros(new[] { 3, 5 });
        var e = Assert.Throws<ArgumentException>(() => CausalAccumulation.Forward(q, k, q));
        Assert.Contains("k has shape (3, 5)", e.Message);
    }
}
