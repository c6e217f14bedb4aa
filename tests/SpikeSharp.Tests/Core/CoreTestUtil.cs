namespace SpikeSharp.Tests.Core;

/// <summary>Small helpers shared by the core op tests.</summary>
internal static class CoreTestUtil
{
    public static Tensor Randn(Device d, int seed, params int[] shape) => Tensor.Randn(shape, new Generator((ulong)seed), d);

    /// <summary>Uniform in [0.5, 2): inputs for log, sqrt, pow and denominators.</summary>
    public static Tensor Positive(Device d, int seed, params int[] shape) => Tensor.Rand(shape, new Generator((ulong)seed), d, 0.5f, 2f);

    public static Tensor F(Device d, float[] data, params int[] shape) => Tensor.FromArray(data, shape.Length == 0 ? null : shape, d);

    public static Tensor I(Device d, int[] data, params int[] shape) => Tensor.FromArray(data, shape.Length == 0 ? null : shape, d);

    public static void Close(IReadOnlyList<double> expected, float[] actual, double tol = 1e-5)
    {
        Assert.Equal(expected.Count, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"element {i}: expected NaN, got {a}"); continue; }
            if (double.IsInfinity(e)) { Assert.Equal(e, a); continue; }
            Assert.True(Math.Abs(e - a) <= tol * Math.Max(1, Math.Abs(e)), $"element {i}: expected {e}, got {a}");
        }
    }

    public static void Close(IReadOnlyList<float> expected, float[] actual, double tol = 1e-5) =>
        Close(expected.Select(x => (double)x).ToArray(), actual, tol);

    /// <summary>Host softmax of each row of a (rows, cols) array, in double.</summary>
    public static double[] HostSoftmax(float[] x, int rows, int cols)
    {
        var r = new double[x.Length];
        for (int i = 0; i < rows; i++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < cols; j++) m = Math.Max(m, x[i * cols + j]);
            double s = 0;
            for (int j = 0; j < cols; j++) s += Math.Exp(x[i * cols + j] - m);
            for (int j = 0; j < cols; j++) r[i * cols + j] = Math.Exp(x[i * cols + j] - m) / s;
        }
        return r;
    }
}
