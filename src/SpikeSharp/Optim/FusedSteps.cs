using System.Numerics;
using System.Runtime.InteropServices;

namespace SpikeSharp.Optim;

/// <summary>The new values of one parameter element and its two state slots after a fused step.</summary>
public struct FusedUpdate
{
    /// <summary>Parameter.</summary>
    public float P;
    /// <summary>First state slot (Adam's m, SGD's momentum buffer).</summary>
    public float M;
    /// <summary>Second state slot (Adam's v).</summary>
    public float V;
}

/// <summary>
/// The per-element rule of an optimiser, applied by <see cref="IOptimizerKernels"/> in one pass that reads the
/// parameter p, its gradient g and up to two state slots m, v once and writes p, m, v once. The scalar form runs
/// in GPU kernels and in the CPU tail; the vector form is the CPU's SIMD body and must perform the same operations
/// in the same order (no fused multiply-add), so both give bitwise the same results.
/// </summary>
public interface IFusedStep
{
    /// <summary>Whether the rule reads and writes the first state slot.</summary>
    bool UsesFirst { get; }

    /// <summary>Whether the rule reads and writes the second state slot.</summary>
    bool UsesSecond { get; }

    /// <summary>The update of one element (m, v are 0 for slots the rule does not use).</summary>
    FusedUpdate Apply(float p, float g, float m, float v);

    /// <summary>The update of a run of elements on the CPU: SIMD over whole vectors, then the scalar rule on the
    /// tail (m, v are empty for slots the rule does not use).</summary>
    void Apply(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v);
}

/// <summary>
/// Adam and AdamW in one pass: d = g + wd·p; m ← β₁m + (1 − β₁)d; v ← β₂v + (1 − β₂)d²;
/// p ← p·(1 − lr·λ) − lr·(m / c₁) / (√(v / c₂) + ε),
/// with the L2 decay wd (Adam) or the decoupled λ (AdamW).
/// </summary>
public struct AdamFusedStep : IFusedStep
{
    /// <summary>β₁, β₂.</summary>
    public float Beta1, Beta2;
    /// <summary>Learning rate and ε.</summary>
    public float Lr, Eps;
    /// <summary>Bias corrections c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ.</summary>
    public float Correction1, Correction2;
    /// <summary>L2 decay folded into the gradient (Adam) and decoupled decay (AdamW); one of them is 0.</summary>
    public float WeightDecay, DecoupledDecay;

    /// <inheritdoc/>
    public readonly bool UsesFirst => true;
    /// <inheritdoc/>
    public readonly bool UsesSecond => true;

    /// <inheritdoc/>
    public readonly FusedUpdate Apply(float p, float g, float m, float v)
    {
        float d = g + WeightDecay * p;
        float m1 = Beta1 * m + (1f - Beta1) * d;
        float v1 = Beta2 * v + (1f - Beta2) * d * d;
        float p1 = p * (1f - Lr * DecoupledDecay) - Lr * (m1 / Correction1) / (MathF.Sqrt(v1 / Correction2) + Eps);
        return new FusedUpdate { P = p1, M = m1, V = v1 };
    }

    /// <inheritdoc/>
    public readonly void Apply(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            i = FusedRuns.Whole(p.Length);
            var vp = FusedRuns.Vectors(p, i);
            var vg = FusedRuns.Vectors(g, i);
            var vm = FusedRuns.Vectors(m, i);
            var vv = FusedRuns.Vectors(v, i);
            Vector<float> wd = new(WeightDecay), b1 = new(Beta1), r1 = new(1f - Beta1), b2 = new(Beta2);
            Vector<float> r2 = new(1f - Beta2), keep = new(1f - Lr * DecoupledDecay), lr = new(Lr);
            Vector<float> c1 = new(Correction1), c2 = new(Correction2), eps = new(Eps);
            for (int j = 0; j < vp.Length; j++)
            {
                var d = vg[j] + wd * vp[j];
                var m1 = b1 * vm[j] + r1 * d;
                var v1 = b2 * vv[j] + r2 * d * d;
                vm[j] = m1;
                vv[j] = v1;
                vp[j] = vp[j] * keep - lr * (m1 / c1) / (Vector.SquareRoot(v1 / c2) + eps);
            }
        }
        for (; i < p.Length; i++)
        {
            var u = Apply(p[i], g[i], m[i], v[i]);
            p[i] = u.P; m[i] = u.M; v[i] = u.V;
        }
    }
}

/// <summary>
/// SGD in one pass: d = g + wd·p; without momentum p ← p − lr·d;
/// with momentum b ← μb + (1 − τ)d (b ← d on the first step) and p ← p − lr·(nesterov ? d + μb : b).
/// The momentum buffer is the first state slot.
/// </summary>
public struct SgdFusedStep : IFusedStep
{
    /// <summary>Learning rate, μ, τ and the L2 decay.</summary>
    public float Lr, Momentum, Dampening, WeightDecay;
    /// <summary>1 on the parameter's first step (the buffer starts as d), 1 for Nesterov momentum.</summary>
    public int First, Nesterov;
    /// <summary>1 when a momentum buffer is kept (μ &gt; 0).</summary>
    public int HasMomentum;

    /// <inheritdoc/>
    public readonly bool UsesFirst => HasMomentum != 0;
    /// <inheritdoc/>
    public readonly bool UsesSecond => false;

    /// <inheritdoc/>
    public readonly FusedUpdate Apply(float p, float g, float m, float v)
    {
        float d = g + WeightDecay * p;
        if (HasMomentum == 0) return new FusedUpdate { P = p - Lr * d };
        float b = First != 0 ? d : Momentum * m + (1f - Dampening) * d;
        float p1 = p - Lr * (Nesterov != 0 ? d + Momentum * b : b);
        return new FusedUpdate { P = p1, M = b };
    }

    /// <inheritdoc/>
    public readonly void Apply(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v)
    {
        int i = 0;
        bool momentum = HasMomentum != 0;
        if (Vector.IsHardwareAccelerated)
        {
            i = FusedRuns.Whole(p.Length);
            var vp = FusedRuns.Vectors(p, i);
            var vg = FusedRuns.Vectors(g, i);
            var vm = FusedRuns.Vectors(m, i);
            Vector<float> wd = new(WeightDecay), lr = new(Lr), mu = new(Momentum), r = new(1f - Dampening);
            bool first = First != 0, nesterov = Nesterov != 0;
            for (int j = 0; j < vp.Length; j++)
            {
                var d = vg[j] + wd * vp[j];
                if (!momentum) { vp[j] = vp[j] - lr * d; continue; }
                var b = first ? d : mu * vm[j] + r * d;
                vm[j] = b;
                vp[j] = vp[j] - lr * (nesterov ? d + mu * b : b);
            }
        }
        for (; i < p.Length; i++)
        {
            var u = Apply(p[i], g[i], momentum ? m[i] : 0f, 0f);
            p[i] = u.P;
            if (momentum) m[i] = u.M;
        }
    }
}

/// <summary>Whole-vector views of the runs of a CPU step.</summary>
internal static class FusedRuns
{
    /// <summary>Elements of a run of <paramref name="n"/> that whole vectors cover.</summary>
    public static int Whole(int n) => n / Vector<float>.Count * Vector<float>.Count;

    /// <summary>The first <paramref name="whole"/> elements as vectors (empty for an unused slot).</summary>
    public static Span<Vector<float>> Vectors(Span<float> x, int whole) =>
        x.IsEmpty ? default : MemoryMarshal.Cast<float, Vector<float>>(x[..whole]);

    /// <summary>The first <paramref name="whole"/> elements as vectors.</summary>
    public static ReadOnlySpan<Vector<float>> Vectors(ReadOnlySpan<float> x, int whole) =>
        MemoryMarshal.Cast<float, Vector<float>>(x[..whole]);
}
