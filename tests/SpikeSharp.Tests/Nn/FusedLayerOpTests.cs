namespace SpikeSharp.Tests.Nn;

// Conv2d, batch norm and layer norm are single ops with written-out backward rules: the cases their rules
// branch on (the batch split into chunks, normalisation by running statistics, no affine) against finite
// differences and against the unchunked result.
public class FusedLayerOpTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void Conv2dSplitIntoChunksGivesTheSameOutputAndGradients(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        (float[] y, float[] gx, float[] gw, float[] gb) Run()
        {
            var x = GradCheck.Rand(d, 1, 5, 3, 7, 6);
            var w = GradCheck.Rand(d, 2, 4, 3, 3, 2);
            var b = GradCheck.Rand(d, 3, 4);
            foreach (var t in new[] { x, w, b }) t.RequiresGrad = true;
            var y = Tensor.Conv2d(x, w, b, (2, 1), (1, 1));
            var wt = GradCheck.Rand(d, 4, y.Shape);
            (y * wt).Sum().Backward();
            return (y.ToArray(), x.Grad!.ToArray(), w.Grad!.ToArray(), b.Grad!.ToArray());
        }
        var whole = Run();
        int perSample = 3 * 3 * 2 * 4 * 6; // C·kh·kw columns of Ho·Wo = 4·6 positions
        Tensor.ColumnChunkElements = 2 * perSample; // chunks of 2, 2 and 1 samples
        try
        {
            var chunked = Run();
            foreach (var (a, c, name) in new[] { (whole.y, chunked.y, "y"), (whole.gx, chunked.gx, "gx"),
                         (whole.gw, chunked.gw, "gw"), (whole.gb, chunked.gb, "gb") })
                for (int i = 0; i < a.Length; i++)
                    Assert.True(Math.Abs(a[i] - c[i]) <= 1e-4 * (1 + Math.Abs(a[i])),
                        $"{name}[{i}]: {a[i]} whole, {c[i]} chunked");
            GradCheck.Check(t => Tensor.Conv2d(t[0], t[1], t[2], (1, 2), (0, 1)),
                new[] { GradCheck.Rand(d, 5, 3, 2, 5, 6), GradCheck.Rand(d, 6, 3, 2, 3, 2), GradCheck.Rand(d, 7, 3) });
        }
        finally { Tensor.ColumnChunkElements = 0; }
    }

    [Theory, MemberData(nameof(Devices))]
    public void MaxPoolSplitIntoChunksGivesTheSameOutputAndGradient(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        (float[] y, float[] gx) Run()
        {
            var x = GradCheck.Rand(d, 1, 5, 2, 7, 6);
            x.RequiresGrad = true;
            var y = Tensor.MaxPool2d(x, (3, 2), (2, 2), (1, 1));
            (y * GradCheck.Rand(d, 2, y.Shape)).Sum().Backward();
            return (y.ToArray(), x.Grad!.ToArray());
        }
        // Chunks are the generic path's (the pooling kernel family builds no windows).
        Tensor.GenericNormPoolOnly = true;
        var whole = Run();
        Tensor.ColumnChunkElements = 2 * 6 * 2 * 4 * 4; // taps · C · Ho · Wo of 2 samples: chunks of 2, 2 and 1
        try
        {
            var chunked = Run();
            Assert.Equal(whole.y, chunked.y);
            Assert.Equal(whole.gx, chunked.gx);
        }
        finally { Tensor.ColumnChunkElements = 0; Tensor.GenericNormPoolOnly = false; }
    }

    [Theory, MemberData(nameof(Devices))]
    public void BatchNormGradientsWithRunningStatisticsAndWithoutAffine(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var rm = Tensor.FromArray(new[] { 0.1f, -0.2f, 0.3f }, device: d);
        var rv = Tensor.FromArray(new[] { 0.5f, 1.5f, 2f }, device: d);
        GradCheck.Check(t => Tensor.BatchNorm(t[0], rm, rv, t[1], t[2], training: false),
            new[] { GradCheck.Rand(d, 1, 4, 3, 2, 2), GradCheck.Rand(d, 2, 3), GradCheck.Rand(d, 3, 3) });
        GradCheck.Check(t => Tensor.BatchNorm(t[0], rm, rv, null, null, training: false),
            new[] { GradCheck.Rand(d, 4, 4, 3) });
        GradCheck.Check(t => Tensor.BatchNorm(t[0], null, null, t[1], null, training: true),
            new[] { GradCheck.Rand(d, 5, 6, 3), GradCheck.Rand(d, 6, 3) });
        // Evaluation: (x − μ) / √(σ² + ε) · γ + β with the running statistics, which stay as they were.
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 2, 3 }, d);
        var gamma = Tensor.FromArray(new[] { 2f, 1f, 0.5f }, device: d);
        var beta = Tensor.FromArray(new[] { 0f, 1f, -1f }, device: d);
        var y = Tensor.BatchNorm(x, rm, rv, gamma, beta, training: false).ToArray();
        float[] m = { 0.1f, -0.2f, 0.3f }, v = { 0.5f, 1.5f, 2f }, g = { 2f, 1f, 0.5f }, bb = { 0f, 1f, -1f };
        for (int i = 0; i < 6; i++)
            Assert.Equal((i + 1 - m[i % 3]) / MathF.Sqrt(v[i % 3] + 1e-5f) * g[i % 3] + bb[i % 3], y[i], 4);
        Assert.Equal(m, rm.ToArray());
        Assert.Equal(v, rv.ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void LayerNormGradientsWithAndWithoutAffine(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        GradCheck.Check(t => Tensor.LayerNorm(t[0], 1), new[] { GradCheck.Rand(d, 1, 3, 4, 5) });
        GradCheck.Check(t => Tensor.LayerNorm(t[0], 1, t[1]),
            new[] { GradCheck.Rand(d, 2, 6, 5), GradCheck.Rand(d, 3, 5) });
        GradCheck.Check(t => Tensor.LayerNorm(t[0], 2, null, t[1]),
            new[] { GradCheck.Rand(d, 4, 2, 3, 4), GradCheck.Rand(d, 5, 3, 4) });
        // Forward: each row of the last dim has mean 0 and (biased) variance 1 / (1 + ε/σ²).
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 10f, 10f, 10f, 14f }, new[] { 2, 4 }, d);
        var y = Tensor.LayerNorm(x, 1).ToArray();
        float s0 = MathF.Sqrt(1.25f + 1e-5f), s1 = MathF.Sqrt(3f + 1e-5f);
        Assert.Equal(new[] { -1.5f / s0, -0.5f / s0, 0.5f / s0, 1.5f / s0, -1f / s1, -1f / s1, -1f / s1, 3f / s1 },
            y.Select(v => MathF.Round(v, 5)).ToArray(), new FloatTolerance(1e-4f));
    }

    private sealed class FloatTolerance(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }
}
