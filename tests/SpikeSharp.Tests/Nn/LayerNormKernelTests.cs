using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Tests.Nn;

// The layer-norm kernel family (and LN·s fused) against the generic composition it replaces (Tensor.LayerNorm's own
// path, then a multiplication; kept callable through Tensor.GenericNormPoolOnly), forward and backward, on odd
// shapes and on every device.
public class LayerNormKernelTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // y and the gradients of x, γ, β, s of one LN·s call weighted by a fixed random output gradient.
    private static float[][] Run(Device d, int[] shape, bool affine, bool scaled, bool generic)
    {
        bool was = Tensor.GenericNormPoolOnly;
        Tensor.GenericNormPoolOnly = generic;
        try
        {
            using var scope = TensorScope.Begin();
            int dim = shape[^1];
            var x = GradCheck.Rand(d, 1, shape).Affine(1.5f, 0.7f);
            x.RequiresGrad = true;
            var w = affine ? GradCheck.Rand(d, 2, dim) : null;
            var b = affine ? GradCheck.Rand(d, 3, dim) : null;
            if (w != null) { w.RequiresGrad = true; b!.RequiresGrad = true; }
            var s = scaled ? Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d) : null;
            if (s != null) s.RequiresGrad = true;
            var y = x.ScaledLayerNorm(w, b, s);
            (y * GradCheck.Rand(d, 6, y.Shape)).Sum().Backward();
            var empty = Array.Empty<float>();
            return new[]
            {
                y.ToArray(), x.Grad!.ToArray(), w?.Grad!.ToArray() ?? empty, b?.Grad!.ToArray() ?? empty,
                s?.Grad!.ToArray() ?? empty,
            };
        }
        finally { Tensor.GenericNormPoolOnly = was; }
    }

    private static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}[{i}]: generic {expected[i]}, family {actual[i]}");
    }

    [Theory, MemberData(nameof(Devices))]
    public void LayerNormFamilyMatchesTheGenericPath(string dev)
    {
        var d = Device.Parse(dev);
        Assert.NotNull(BackendRegistry.Get(d).Family<ILayerNormKernels>());
        string[] names = { "y", "gx", "gw", "gb", "gs" };
        // Rows not a multiple of a warp or of a reduction range, D = 1, 3 and 385 (not a multiple of the warp).
        int[][] shapes = { new[] { 5, 1 }, new[] { 7, 3 }, new[] { 3, 385 }, new[] { 2, 3, 5 }, new[] { 37, 8 } };
        // The emulated device: also reduce the columns in ranges of 2 rows (several ranges, a ragged last one).
        foreach (int chunk in d.Type == DeviceType.IlgpuCpu ? new[] { 0, 2 } : new[] { 0 })
        {
            IlgpuLayerNorm.ChunkOverride = chunk;
            try
            {
                foreach (var shape in shapes)
                    foreach (var (affine, scaled) in new[] { (true, true), (true, false), (false, true), (false, false) })
                    {
                        var want = Run(d, shape, affine, scaled, generic: true);
                        var got = Run(d, shape, affine, scaled, generic: false);
                        for (int i = 0; i < names.Length; i++)
                            Close(want[i], got[i], 2e-4, $"{dev} {string.Join('x', shape)} affine={affine} "
                                + $"scaled={scaled} chunk={chunk} {names[i]}");
                    }
            }
            finally { IlgpuLayerNorm.ChunkOverride = 0; }
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void LayerNormOfAConstantRowIsTheBias(string dev)
    {
        // σ² = 0: x̂ = 0, so y = β·s exactly, and no gradient reaches x through the mean.
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Full(new[] { 3, 4 }, 2.5f, DType.Float32, d);
        var b = Tensor.FromArray(new[] { 1f, -2f, 3f, 0.5f }, null, d);
        var s = Tensor.Full(new[] { 1 }, 2f, DType.Float32, d);
        var y = x.ScaledLayerNorm(Tensor.Ones(new[] { 4 }, d), b, s).ToArray();
        Assert.Equal(new[] { 2f, -4f, 6f, 1f, 2f, -4f, 6f, 1f, 2f, -4f, 6f, 1f }, y);
    }

    [Fact]
    public void ScaledLayerNormRejectsABadScaleNamingIt()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Zeros(new[] { 2, 4 });
        var e = Assert.Throws<ArgumentException>(() => x.ScaledLayerNorm(null, null, Tensor.Ones(new[] { 2 })));
        Assert.Equal("scale", e.ParamName);
        Assert.StartsWith("layer_norm: scale must be one float32 value, got float32 (2)", e.Message);
        var w = Assert.Throws<ArgumentException>(() => x.ScaledLayerNorm(Tensor.Ones(new[] { 3 }), null, null));
        Assert.Equal("weight", w.ParamName);
        Assert.StartsWith("layer_norm: weight must have shape (4), got (3)", w.Message);
    }
}
