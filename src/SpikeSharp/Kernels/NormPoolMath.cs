namespace SpikeSharp.Kernels;

// The per-element math of batch normalisation and pooling, written once: the CPU loops and the ILGPU kernels of
// IBatchNormKernels and IPool2dKernels call these functions, so both backends compute the same expressions.

/// <summary>Per-element formulas of batch normalisation.</summary>
public static class NormMath
{
    /// <summary>1/√(σ² + ε).</summary>
    public static float Rstd(float variance, float eps) => 1f / MathF.Sqrt(variance + eps);

    /// <summary>x̂ = (x − μ)·rstd.</summary>
    public static float Xhat(float x, float mean, float rstd) => (x - mean) * rstd;

    /// <summary>y = x̂·γ + β.</summary>
    public static float Affine(float xhat, float weight, float bias) => xhat * weight + bias;

    /// <summary>dx = scale·(g − x̂·mean(g·x̂) − mean(g)), scale = rstd·γ (the means are 0 with running
    /// statistics).</summary>
    public static float InputGradient(float g, float xhat, float scale, float meanG, float meanGXhat) =>
        scale * (g - xhat * meanGXhat - meanG);

    /// <summary>A running statistic's update: (1 − momentum)·r + momentum·scale·b.</summary>
    public static float Ema(float running, float batch, float momentum, float scale) =>
        (1f - momentum) * running + momentum * scale * batch;
}

/// <summary>y = 1/√(x + ε) (<see cref="NormMath.Rstd"/>) as an elementwise op.</summary>
public struct RstdOp : IUnaryOp
{
    /// <summary>ε.</summary>
    public float Eps;

    /// <summary>Creates the op.</summary>
    public RstdOp(float eps) => Eps = eps;

    /// <inheritdoc/>
    public readonly float Apply(float x) => NormMath.Rstd(x, Eps);
}

/// <summary>Window arithmetic and comparison rules of 2-D pooling.</summary>
public static class PoolMath
{
    /// <summary>The running maximum's value after seeing v (the generic max reduction's rule: a tie takes the later
    /// value).</summary>
    public static float MaxValue(float best, float v) => best > v ? best : v;

    /// <summary>True when v replaces the current argmax whose value is best: strictly larger, or a NaN over a
    /// number (the first maximum wins ties; the generic argmax's rule).</summary>
#pragma warning disable CS1718 // v != v is the NaN test that compiles to one instruction in a kernel
    public static bool Beats(float v, float best) => v > best || (v != v && best == best);
#pragma warning restore CS1718

    /// <summary>The multiplier that divides by <paramref name="stride"/> in <see cref="Div"/>: ⌈2³² / stride⌉.
    /// </summary>
    public static ulong Magic(int stride) => ((1UL << 32) + (ulong)stride - 1) / (ulong)stride;

    /// <summary>a / stride for 0 ≤ a &lt; 2¹⁶ by a multiply and a shift (exact there: the rounding of the
    /// multiplier adds less than a/2³² &lt; 1/stride), where an integer division would cost more than the memory
    /// traffic of a pooling kernel.</summary>
    public static int Div(int a, ulong magic) => (int)(((ulong)a * magic) >> 32);

    /// <summary>Largest padded extent (H + 2·pad, W + 2·pad) for which <see cref="Div"/> is exact.</summary>
    public const int MaxExtent = 1 << 16;

    /// <summary>The first output index along one axis whose window contains padded input position a
    /// (window o covers [o·stride, o·stride + k)).</summary>
    public static int FirstWindow(int a, int k, int stride, ulong magic) => a < k ? 0 : Div(a - k + stride, magic);

    /// <summary>The last output index along one axis whose window contains padded input position a.</summary>
    public static int LastWindow(int a, ulong magic, int outSize)
    {
        int o = Div(a, magic);
        return o < outSize - 1 ? o : outSize - 1;
    }
}
