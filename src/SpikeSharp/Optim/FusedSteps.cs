using System.Numerics;

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

    /// <summary>The update of <see cref="Vector{T}.Count"/> elements (CPU SIMD).</summary>
    void Apply(ref Vector<float> p, Vector<float> g, ref Vector<float> m, ref Vector<float> v);
}

/// <summary>
/// Adam and AdamW in one pass: d = g + wd·p; m ← β₁m + (1 − β₁)d; v ← β₂v + (1 − β₂)d²;
/// p ← p·(1 − lr·λ) − lr·(m / c₁) / (√(v / c₂) + ε), with the L2 decay wd (Adam) or the decoupled λ (AdamW).
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
    public readonly void Apply(ref Vector<float> p, Vector<float> g, ref Vector<float> m, ref Vector<float> v)
    {
        var d = g + new Vector<float>(WeightDecay) * p;
        m = new Vector<float>(Beta1) * m + new Vector<float>(1f - Beta1) * d;
        v = new Vector<float>(Beta2) * v + new Vector<float>(1f - Beta2) * d * d;
        p = p * new Vector<float>(1f - Lr * DecoupledDecay) - new Vector<float>(Lr) * (m / new Vector<float>(Correction1))
            / (Vector.SquareRoot(v / new Vector<float>(Correction2)) + new Vector<float>(Eps));
    }
}

/// <summary>
/// SGD in one pass: d = g + wd·p; without momentum p ← p − lr·d; with momentum b ← μb + (1 − τ)d (b ← d on the
/// first step) and p ← p − lr·(nesterov ? d + μb : b). The momentum buffer is the first state slot.
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
    public readonly void Apply(ref Vector<float> p, Vector<float> g, ref Vector<float> m, ref Vector<float> v)
    {
        var d = g + new Vector<float>(WeightDecay) * p;
        var lr = new Vector<float>(Lr);
        if (HasMomentum == 0) { p -= lr * d; return; }
        m = First != 0 ? d : new Vector<float>(Momentum) * m + new Vector<float>(1f - Dampening) * d;
        p -= lr * (Nesterov != 0 ? d + new Vector<float>(Momentum) * m : m);
    }
}
