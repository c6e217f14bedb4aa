using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Tests.Nn;

// The batch-norm and pooling kernel families against the generic compositions they replace (kept callable through
// Tensor.GenericNormPoolOnly), forward and backward, on odd shapes and on every device.
public class NormPoolKernelTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    private static T WithGeneric<T>(bool generic, Func<T> f)
    {
        bool was = Tensor.GenericNormPoolOnly;
        Tensor.GenericNormPoolOnly = generic;
        try { return f(); }
        finally { Tensor.GenericNormPoolOnly = was; }
    }

    private static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}[{i}]: generic {expected[i]}, family {actual[i]}");
    }

    // y, running mean, running variance and the gradients of x, γ, β of one BatchNorm call weighted by a fixed
    // random output gradient.
    private static float[][] RunBatchNorm(Device d, int[] shape, bool training, bool affine, bool running,
        bool generic)
    {
        return WithGeneric(generic, () =>
        {
            using var scope = TensorScope.Begin();
            int c = shape[1];
            var x = GradCheck.Rand(d, 1, shape).Affine(1.5f, 0.7f);
            x.RequiresGrad = true;
            var w = affine ? GradCheck.Rand(d, 2, c) : null;
            var b = affine ? GradCheck.Rand(d, 3, c) : null;
            if (w != null) { w.RequiresGrad = true; b!.RequiresGrad = true; }
            var rm = running ? GradCheck.Rand(d, 4, c) : null;
            var rv = running ? GradCheck.Rand(d, 5, c).Square().AddScalar(0.5f) : null;
            var y = Tensor.BatchNorm(x, rm, rv, w, b, training, momentum: 0.3f);
            (y * GradCheck.Rand(d, 6, y.Shape)).Sum().Backward();
            var empty = Array.Empty<float>();
            return new[]
            {
                y.ToArray(), rm?.ToArray() ?? empty, rv?.ToArray() ?? empty, x.Grad!.ToArray(),
                w?.Grad!.ToArray() ?? empty, b?.Grad!.ToArray() ?? empty,
            };
        });
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormFamilyMatchesTheGenericPath(string dev)
    {
        var d = Device.Parse(dev);
        string[] names = { "y", "running mean", "running var", "gx", "gw", "gb" };
        int[][] shapes =
        {
            new[] { 5, 3, 7 }, new[] { 4, 6, 3, 5 }, new[] { 9, 2 }, new[] { 2, 3, 1, 33 }, new[] { 3, 2, 4, 2 },
        };
        // The emulated device reduces each channel in one range unless told to split: also check 3 ranges, and the
        // scalar elementwise kernels where S % 4 == 0 would take the four-float ones.
        foreach (int splits in d.Type == DeviceType.IlgpuCpu ? new[] { 0, 3 } : new[] { 0 })
        {
            IlgpuBatchNorm.SplitsOverride = splits;
            IlgpuBatchNorm.ScalarOnly = splits == 3;
            try
            {
                foreach (var shape in shapes)
                    foreach (var (training, affine, running) in new[]
                             {
                                 (true, true, true), (true, false, true), (true, true, false),
                                 (false, true, true), (false, false, true), (false, true, false),
                             })
                    {
                        var want = RunBatchNorm(d, shape, training, affine, running, generic: true);
                        var got = RunBatchNorm(d, shape, training, affine, running, generic: false);
                        string what = $"{ShapeUtil.Format(shape)} training={training} affine={affine} "
                            + $"running={running} splits={splits}: ";
                        for (int i = 0; i < names.Length; i++) Close(want[i], got[i], 2e-5, what + names[i]);
                    }
            }
            finally { IlgpuBatchNorm.SplitsOverride = 0; IlgpuBatchNorm.ScalarOnly = false; }
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormFamilyIsDeterministicAndCentresLargeOffsets(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        // A large common offset: E[x²] − E[x]² would lose the variance; two passes keep it.
        var x = GradCheck.Rand(d, 7, 6, 4, 5, 5).AddScalar(1000f);
        var y1 = Tensor.BatchNorm(x, null, null, null, null, training: true).ToArray();
        var y2 = Tensor.BatchNorm(x, null, null, null, null, training: true).ToArray();
        Assert.Equal(y1, y2);
        var reference = WithGeneric(true, () => Tensor.BatchNorm(x, null, null, null, null, training: true).ToArray());
        Close(reference, y1, 1e-3, "offset input");
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormKernelsRefuseBuffersOfTheWrongSize(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var k = BackendRegistry.Get(d).Family<IBatchNormKernels>()!;
        var x = Tensor.Zeros(new[] { 2, 3, 4 }, d);
        var c = Tensor.Zeros(new[] { 3 }, d);
        var y = Tensor.Zeros(new[] { 2, 3, 5 }, d);
        var e = Assert.Throws<ArgumentException>(() =>
            k.Normalize(new BatchNormShape(2, 3, 4), x.Buf, c.Buf, c.Buf, null, null, y.Buf));
        Assert.Equal("y", e.ParamName);
        Assert.StartsWith("batch_norm: y has 30 elements, expected 24", e.Message);
    }

    internal static (float[] y, float[] gx) RunPool(Device d, bool max, int[] shape, (int, int) k, (int, int)? s,
        (int, int)? p, bool spikes, bool generic) => WithGeneric(generic, () =>
    {
        using var scope = TensorScope.Begin();
        var x = GradCheck.Rand(d, 11, shape);
        if (spikes) x = x.Gt(0.3f).To(DType.Float32); // 0/1 values: ties everywhere
        x.RequiresGrad = true;
        var y = max ? Tensor.MaxPool2d(x, k, s, p) : Tensor.AvgPool2d(x, k, s, p);
        (y * GradCheck.Rand(d, 12, y.Shape)).Sum().Backward();
        return (y.ToArray(), x.Grad!.ToArray());
    });

    public static readonly ((int, int) k, (int, int)? s, (int, int)? p)[] Windows =
    {
        ((2, 2), null, null), ((3, 2), (2, 2), (1, 1)), ((3, 3), (1, 1), (1, 1)), ((2, 3), (1, 2), null),
        ((3, 3), (2, 3), (1, 0)), ((1, 1), (2, 2), null), ((2, 2), (2, 3), (1, 1)),
    };

    [Theory, MemberData(nameof(Devices))]
    public void PoolingFamilyMatchesTheGenericPath(string dev)
    {
        var d = Device.Parse(dev);
        foreach (bool max in new[] { true, false })
            foreach (var shape in new[] { new[] { 2, 3, 7, 6 }, new[] { 3, 2, 2, 5, 9 } })
                foreach (var (k, s, p) in Windows)
                    foreach (bool spikes in max ? new[] { false, true } : new[] { false })
                    {
                        var want = RunPool(d, max, shape, k, s, p, spikes, generic: true);
                        var got = RunPool(d, max, shape, k, s, p, spikes, generic: false);
                        string what = $"{(max ? "max" : "avg")} {ShapeUtil.Format(shape)} k={k} s={s} p={p} "
                            + $"spikes={spikes}: ";
                        if (max) Assert.Equal(want.y, got.y); // the same values are picked
                        else Close(want.y, got.y, 1e-6, what + "y");
                        Close(want.gx, got.gx, 1e-6, what + "gx");
                    }
    }

    [Theory, MemberData(nameof(Devices))]
    public void MaxPoolOverMoreThan256TapsTakesTheGenericPath(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = GradCheck.Rand(d, 13, 1, 2, 17, 17);
        x.RequiresGrad = true;
        var y = Tensor.MaxPool2d(x, (17, 17));
        y.Sum().Backward();
        var xs = x.ToArray();
        var gx = x.Grad!.ToArray();
        for (int c = 0; c < 2; c++)
        {
            var plane = xs.AsSpan(c * 289, 289).ToArray();
            int at = Array.IndexOf(plane, plane.Max());
            Assert.Equal(plane.Max(), y.ToArray()[c]);
            for (int i = 0; i < 289; i++) Assert.Equal(i == at ? 1f : 0f, gx[c * 289 + i]);
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void PoolKernelsRefuseAnArgmaxOfTheWrongType(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var k = BackendRegistry.Get(d).Family<IPool2dKernels>()!;
        var s = new Pool2dShape(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
        var x = Tensor.Zeros(new[] { 1, 1, 4, 4 }, d);
        var y = Tensor.Zeros(new[] { 1, 1, 2, 2 }, d);
        var arg = Tensor.Zeros(new[] { 1, 1, 2, 2 }, d).To(DType.Int32);
        var e = Assert.Throws<ArgumentException>(() => k.TryMaxForward(s, x.Buf, y.Buf, arg.Buf));
        Assert.Equal("argmax", e.ParamName);
        Assert.StartsWith("pool2d: argmax must be uint8, got int32", e.Message);
        // More taps than a byte can number: declined, nothing written.
        var big = new Pool2dShape(1, 1, 17, 17, 17, 17, 1, 1, 0, 0);
        var xb = Tensor.Zeros(new[] { 1, 1, 17, 17 }, d);
        var yb = Tensor.Full(new[] { 1, 1, 1, 1 }, 5f, DType.Float32, d);
        Assert.False(k.TryMaxForward(big, xb.Buf, yb.Buf, null));
        Assert.Equal(new[] { 5f }, yb.ToArray());
    }

    private static long Launches(Action a)
    {
        using var l = LaunchCounter.Start();
        a();
        return l.Launches;
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormAndMaxPoolLaunchAFewPassesEachWay(string dev)
    {
        var d = Device.Parse(dev);
        bool cpu = d == Device.Cpu;
        (long fwd, long bwd) Measure(bool generic, bool pool) => WithGeneric(generic, () =>
        {
            using var scope = TensorScope.Begin();
            var x = GradCheck.Rand(d, 1, 4, 3, 6, 6);
            var w = GradCheck.Rand(d, 2, 3);
            var b = GradCheck.Rand(d, 3, 3);
            foreach (var t in new[] { x, w, b }) t.RequiresGrad = true;
            var rm = Tensor.Zeros(new[] { 3 }, d);
            var rv = Tensor.Ones(new[] { 3 }, d);
            Tensor y = null!;
            long fwd = Launches(() => y = pool ? Tensor.MaxPool2d(x, (2, 2))
                : Tensor.BatchNorm(x, rm, rv, w, b, training: true));
            var gy = GradCheck.Rand(d, 4, y.Shape);
            // The op's backward alone, without the tape's gradient bookkeeping.
            long bwd = Launches(() => y.GradFn!.Fn!(new[] { gy }));
            return (fwd, bwd);
        });
        var bn = Measure(false, pool: false);
        var bnGeneric = Measure(true, pool: false);
        // Statistics then normalisation: one loop each on the CPU; Σx, Σ(x − μ)², combine, normalise on ILGPU.
        Assert.Equal(cpu ? 2 : 4, bn.fwd);
        // One reduction then dx: a loop each on the CPU; partials, combine, dx on ILGPU.
        Assert.Equal(cpu ? 2 : 3, bn.bwd);
        Assert.True(bnGeneric.fwd >= 2 * bn.fwd && bnGeneric.bwd >= 2 * bn.bwd,
            $"generic batch norm {bnGeneric}, family {bn}");
        var pool = Measure(false, pool: true);
        var poolGeneric = Measure(true, pool: true);
        Assert.Equal((1L, 1L), pool);
        Assert.True(poolGeneric.fwd >= 3 && poolGeneric.bwd >= 4, $"generic max pool {poolGeneric}");
    }
}
