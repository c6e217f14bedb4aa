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

/// <summary>The arctan surrogate of the seed and of tether (the reference library the benchmarks compare with),
/// peaking at α: the default.</summary>
/// <remarks>σ'(x) = α / (1 + (απx)²), the derivative of arctan(απx)/π + 1/2. tether calls it ATan, but it is
/// not the textbook ATan (<see cref="AtanSurrogate"/>, peak α/2): for the same α it is twice as tall and half as
/// wide.</remarks>
public struct ArctanTetherSurrogate : ISurrogate
{
    /// <inheritdoc/>
    public readonly float Grad(float x, float alpha)
    {
        float z = alpha * MathF.PI * x;
        return alpha / (1f + z * z);
    }
}

/// <summary>The textbook (SpikingJelly) ATan surrogate, peaking at α/2.</summary>
/// <remarks>σ'(x) = (α/2) / (1 + (πα x / 2)²), the derivative of arctan(πα x / 2)/π + 1/2. Not the default
/// <see cref="ArctanTetherSurrogate"/> (peak α): this one at 2α is that one at α.</remarks>
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

/// <summary>
/// Which surrogate derivative a spiking function uses (each maps to one <see cref="ISurrogate"/> struct).
/// </summary>
/// <remarks>
/// Two arctan surrogates exist and differ by a factor of two in height and width: <see cref="ArctanTether"/>
/// α / (1 + (απx)²), peak α (the seed's and tether's, called ATan there), and <see cref="Atan"/>
/// (α/2) / (1 + (παx/2)²), peak α/2 (the textbook and SpikingJelly's ATan). The default is
/// <see cref="ArctanTether"/>: the seed used it, and the recorded results and the default α = 2 were obtained with it.
/// There is no member named Arctan (two letters from Atan, easily taken for it) and no alias of that name, since
/// an enum alias would appear twice in <see cref="Enum.GetValues{TEnum}()"/> and make the value's ToString ambiguous.
/// </remarks>
public enum SurrogateKind
{
    /// <summary><see cref="ArctanTetherSurrogate"/>: α / (1 + (απx)²), peak α; the default (the seed's and
    /// tether's).</summary>
    ArctanTether = 0,
    /// <summary><see cref="SigmoidSurrogate"/>.</summary>
    Sigmoid = 1,
    /// <summary><see cref="FastSigmoidSurrogate"/>.</summary>
    FastSigmoid = 2,
    /// <summary><see cref="AtanSurrogate"/>: the textbook (SpikingJelly) (α/2) / (1 + (παx/2)²), peak α/2.
    /// </summary>
    Atan = 3,
    /// <summary><see cref="TriangleSurrogate"/>.</summary>
    Triangle = 4,
    /// <summary><see cref="RectangleSurrogate"/>.</summary>
    Rectangle = 5,
}

/// <summary>
/// Code generic over the surrogate, run by
/// <see cref="Surrogates.Dispatch{TResult}(SurrogateKind, ISurrogateCall{TResult})"/> with the struct a
/// <see cref="SurrogateKind"/> names.
/// </summary>
/// <typeparam name="TResult">What the call returns.</typeparam>
public interface ISurrogateCall<out TResult>
{
    /// <summary>Runs with surrogate <typeparamref name="TS"/>.</summary>
    TResult Invoke<TS>() where TS : struct, ISurrogate;
}

/// <summary>
/// The one table from <see cref="SurrogateKind"/> names to <see cref="ISurrogate"/> structs. The spiking
/// functions take the surrogate as a type argument (<c>SpikingFunctions.Lif&lt;TS&gt;</c>,
/// <c>NeuronModels.Run&lt;TM, TS&gt;</c>), so a struct of your own works everywhere a built-in one does; the
/// overloads without one read <see cref="SpikingOptions.Surrogate"/> and come through here.
/// </summary>
public static class Surrogates
{
    /// <summary>Runs <paramref name="call"/> with the surrogate struct that <paramref name="kind"/> names.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined value.</exception>
    public static TResult Dispatch<TResult>(SurrogateKind kind, ISurrogateCall<TResult> call) =>
        Dispatch(kind, call, "surrogate", nameof(kind));

    /// <summary><see cref="Dispatch{TResult}(SurrogateKind, ISurrogateCall{TResult})"/> for an op whose
    /// <paramref name="paramName"/> argument carried the kind (an error then names both).</summary>
    internal static TResult Dispatch<TResult>(SurrogateKind kind, ISurrogateCall<TResult> call, string op,
        string paramName)
    {
        ArgumentNullException.ThrowIfNull(call);
        return kind switch
        {
            SurrogateKind.ArctanTether => call.Invoke<ArctanTetherSurrogate>(),
            SurrogateKind.Sigmoid => call.Invoke<SigmoidSurrogate>(),
            SurrogateKind.FastSigmoid => call.Invoke<FastSigmoidSurrogate>(),
            SurrogateKind.Atan => call.Invoke<AtanSurrogate>(),
            SurrogateKind.Triangle => call.Invoke<TriangleSurrogate>(),
            SurrogateKind.Rectangle => call.Invoke<RectangleSurrogate>(),
            _ => throw new ArgumentOutOfRangeException(paramName, kind,
                $"{op}: surrogate kind {(int)kind} is not a SurrogateKind; expected one of "
                + string.Join(", ", Enum.GetNames<SurrogateKind>())),
        };
    }
}
