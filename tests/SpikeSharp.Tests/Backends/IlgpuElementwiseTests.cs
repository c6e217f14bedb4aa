using SpikeSharp.Backends;
using SpikeSharp.Kernels;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>Memory, copies, casts and elementwise kernels of the ILGPU backend against the CPU backend.</summary>
public class IlgpuElementwiseTests
{
    public static IEnumerable<object[]> SizeData => Sizes.Select(n => new object[] { n });

    [Theory, MemberData(nameof(SizeData))]
    public void UploadDownloadRoundTripsEveryDType(int n)
    {
        var f = RandF(n, 1);
        Assert.Equal(f, Down<float>(Gpu, UpOffset(Gpu, f)));
        var i = RandI(n, 2, int.MinValue, int.MaxValue);
        Assert.Equal(i, Down<int>(Gpu, UpOffset(Gpu, i)));
        var u = RandI(n, 3, 0, 256).Select(v => (byte)v).ToArray();
        Assert.Equal(u, Down<byte>(Gpu, UpOffset(Gpu, u)));
        var h = f.Select(v => (Half)v).ToArray();
        Assert.Equal(h, Down<Half>(Gpu, UpOffset(Gpu, h)));
    }

    [Theory, MemberData(nameof(SizeData))]
    public void FillAndCopyMatchCpu(int n)
    {
        foreach (var t in new[] { DType.Float32, DType.Float16, DType.Int32, DType.UInt8 })
            foreach (var v in new[] { 0f, 3.5f, 7f })
            {
                var g = Empty(Gpu, t, n); Gpu.Fill(g, v);
                var c = Empty(Cpu, t, n); Cpu.Fill(c, v);
                var gc = Empty(Gpu, t, n); Gpu.Copy(g, gc);
                var fg = Empty(Gpu, DType.Float32, n); var fc = Empty(Cpu, DType.Float32, n);
                if (t == DType.Float32) { Gpu.Copy(gc, fg); Cpu.Copy(c, fc); }
                else if (t == DType.Float16) { Gpu.Cast(gc, fg); Cpu.Cast(c, fc); }
                else if (t == DType.Int32) { Gpu.Cast(gc, fg); Cpu.Cast(c, fc); }
                else { Gpu.Cast(gc, fg); Cpu.Cast(c, fc); }
                Assert.Equal(Down<float>(Cpu, fc), Down<float>(Gpu, fg));
            }
    }

    [Theory, MemberData(nameof(SizeData))]
    public void CastsMatchCpu(int n)
    {
        var f = RandF(n, 4, -300f, 300f);
        foreach (var (from, to) in new[] { (DType.Float32, DType.Float16), (DType.Float32, DType.Int32) })
        {
            var g = Empty(Gpu, to, n); Gpu.Cast(Up(Gpu, f), g);
            var c = Empty(Cpu, to, n); Cpu.Cast(Up(Cpu, f), c);
            var gb = Empty(Gpu, DType.Float32, n); Gpu.Cast(g, gb);
            var cb = Empty(Cpu, DType.Float32, n); Cpu.Cast(c, cb);
            Assert.Equal(Down<float>(Cpu, cb), Down<float>(Gpu, gb));
            _ = from;
        }
        var u = RandI(n, 5, 0, 256).Select(v => (byte)v).ToArray();
        foreach (var to in new[] { DType.Float32, DType.Int32 })
        {
            var g = Empty(Gpu, to, n); Gpu.Cast(Up(Gpu, u), g);
            var c = Empty(Cpu, to, n); Cpu.Cast(Up(Cpu, u), c);
            if (to == DType.Float32) Assert.Equal(Down<float>(Cpu, c), Down<float>(Gpu, g));
            else Assert.Equal(Down<int>(Cpu, c), Down<int>(Gpu, g));
        }
        var h = f.Select(v => (Half)v).ToArray();
        var hg = Empty(Gpu, DType.Float32, n); Gpu.Cast(Up(Gpu, h), hg);
        Assert.Equal(h.Select(v => (float)v).ToArray(), Down<float>(Gpu, hg));
    }

    [Theory, MemberData(nameof(SizeData))]
    public void MapsMatchCpuIncludingAliasing(int n)
    {
        var a = RandF(n, 6); var b = RandF(n, 7); var c = RandF(n, 8);
        Close(Run(be => { var x = Up(be, a); var y = Empty(be, DType.Float32, n); be.Map(new TanhOp(), x, y); return Down<float>(be, y); }, Cpu),
              Run(be => { var x = Up(be, a); var y = Empty(be, DType.Float32, n); be.Map(new TanhOp(), x, y); return Down<float>(be, y); }, Gpu), 1e-5f, "tanh");
        float[] Bin(IBackend be) { var x = UpOffset(be, a); var y = Up(be, b); be.Map(new MulOp(), x, y, x); return Down<float>(be, x); }
        Close(Bin(Cpu), Bin(Gpu), 0f, "mul in place");
        float[] Ter(IBackend be) { var x = Up(be, c); var y = Up(be, a); var z = Up(be, b); be.Map(new WhereOp(), x, y, z, z); return Down<float>(be, z); }
        Close(Ter(Cpu), Ter(Gpu), 0f, "where");
        float[] Rnd(IBackend be) { var y = Empty(be, DType.Float32, n); be.MapIndexed(new NormalOp { KeyLo = 5, KeyHi = 9, Offset = 17, Mean = 1, Std = 2 }, y, y); return Down<float>(be, y); }
        Close(Rnd(Cpu), Rnd(Gpu), 1e-4f, "normal");
    }

    [Fact]
    public void MapBroadcastMatchesCpu()
    {
        // (3, 1, 37) + (5, 1) → (3, 5, 37)
        var a = RandF(3 * 37, 9); var b = RandF(5, 10);
        var ia = StridedIndex.Create(new[] { 3, 5, 37 }, new[] { 37, 0, 1 });
        var ib = StridedIndex.Create(new[] { 3, 5, 37 }, new[] { 0, 1, 0 });
        float[] F(IBackend be) { var y = Empty(be, DType.Float32, 3 * 5 * 37); be.MapBroadcast(new SubOp(), Up(be, a), ia, UpOffset(be, b), ib, y); return Down<float>(be, y); }
        Close(F(Cpu), F(Gpu), 0f);
    }

    private static float[] Run(Func<IBackend, float[]> f, IBackend be) => f(be);
}
