namespace SpikeSharp.Neurons;

// Surrogate derivatives of the Heaviside spike function, written once for every backend. Kernel
// code rules apply (ILGPU): no System.Numerics, no Span, no allocation; MathF only.

/// <summary>
/// The derivative σ'(x, α) that replaces the Heaviside's in the backward pass, x = h − θ the distance of
/// the membrane to the threshold and α the sharpness. A struct so kernels specialise on it.
/// </summary>
public interface ISurrogate
{
    /// <summary>σ'(x) for sharpness <paramref name="alpha"/> (&gt; 0).</summary>
    float Grad(float x, float alpha);
}

/// <summary>The seed's arctan surrogate.</summary>
/// <remarks>σ'(x) = α / (1 + (απx)²). This is what tether calls ATan; it peaks at α and is not the textbook
/// ATan (see <see cref="AtanSurrogate"/>).</remarks>
public struct ArctanSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float z = alpha * MathF.PI * x;
        return alpha / (1f + z * z);
    }
}

/// <summary>The textbook (SpikingJelly) ATan surrogate.</summary>
/// <remarks>σ'(x) = (α/2) / (1 + (πα x / 2)²), the derivative of arctan(πα x / 2)/π + 1/2.</remarks>
public struct AtanSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float z = 0.5f * MathF.PI * alpha * x;
        return 0.5f * alpha / (1f + z * z);
    }
}

/// <summary>Sigmoid surrogate.</summary>
/// <remarks>σ'(x) = α · sig(αx) · (1 − sig(αx)).</remarks>
public struct SigmoidSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float sg = 1f / (1f + MathF.Exp(-alpha * x));
        return alpha * sg * (1f - sg);
    }
}

/// <summary>Fast-sigmoid (SuperSpike) surrogate, as in the seed.</summary>
/// <remarks>σ'(x) = 1 / (1 + |αx|)².</remarks>
public struct FastSigmoidSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float d = 1f + MathF.Abs(alpha * x);
        return 1f / (d * d);
    }
}

/// <summary>Triangle surrogate of unit area.</summary>
/// <remarks>σ'(x) = α · max(0, 1 − α|x|).</remarks>
public struct TriangleSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float r = 1f - alpha * MathF.Abs(x);
        return r > 0f ? alpha * r : 0f;
    }
}

/// <summary>Rectangle (straight-through window) surrogate of unit area.</summary>
/// <remarks>σ'(x) = α when |x| &lt; 1/(2α), else 0.</remarks>
public struct RectangleSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha) => MathF.Abs(x) * alpha < 0.5f ? alpha : 0f;
}

/// <summary>Which surrogate derivative a spiking function uses (each maps to one <see cref="ISurrogate"/> struct).</summary>
public enum SurrogateKind
{
    /// <summary><see cref="ArctanSurrogate"/>: α / (1 + (απx)²), the seed's default.</summary>
    Arctan,
    /// <summary><see cref="SigmoidSurrogate"/>.</summary>
    Sigmoid,
    /// <summary><see cref="FastSigmoidSurrogate"/>.</summary>
    FastSigmoid,
    /// <summary><see cref="AtanSurrogate"/>: the textbook (α/2) / (1 + (πα x/2)²).</summary>
    Atan,
    /// <summary><see cref="TriangleSurrogate"/>.</summary>
    Triangle,
    /// <summary><see cref="RectangleSurrogate"/>.</summary>
    Rectangle,
}
