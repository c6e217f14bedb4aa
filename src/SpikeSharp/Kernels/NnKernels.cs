namespace SpikeSharp.Kernels;

// Elementwise math of the layers (running statistics, dropout masks) and of the optimisers, whose
// updates are applied in place on the device. Scalars that change every step (bias corrections, the
// learning rate) are computed on the host from host-side counters, so no step reads the device.

/// <summary>Running-statistics update: y = (1 − m)·a + m·s·b (s corrects a biased variance to unbiased).</summary>
public struct EmaOp : IBinaryOp
{
    public float Momentum, Scale;
    public EmaOp(float momentum, float scale) { Momentum = momentum; Scale = scale; }
    public readonly float Apply(float a, float b) => (1f - Momentum) * a + Momentum * Scale * b;
}

/// <summary>
/// Dropout mask: y = 1/keep with probability keep, else 0 (counter-based, like <see cref="UniformOp"/>).
/// </summary>
public struct DropoutMaskOp : IIndexedOp
{
    public uint KeyLo, KeyHi, Offset; public float Keep;
    public readonly float Apply(int i, float x) => Rng.Uniform(KeyLo, KeyHi, Offset + (uint)i) < Keep ? 1f / Keep : 0f;
}

/// <summary>Plain SGD: p' = p − lr·(g + wd·p). Inputs (p, g).</summary>
public struct SgdOp : IBinaryOp
{
    public float Lr, WeightDecay;
    public readonly float Apply(float p, float g) => p - Lr * (g + WeightDecay * p);
}

/// <summary>
/// SGD momentum buffer: b' = μ·b + (1 − dampening)·(g + wd·p); on the first step b' = g + wd·p.
/// Inputs (b, g, p).
/// </summary>
public struct SgdMomentumOp : ITernaryOp
{
    public float Momentum, Dampening, WeightDecay; public int First;
    public readonly float Apply(float b, float g, float p)
    {
        float d = g + WeightDecay * p;
        return First != 0 ? d : Momentum * b + (1f - Dampening) * d;
    }
}

/// <summary>
/// SGD step from the updated buffer: p' = p − lr·(nesterov ? g + wd·p + μ·b : b). Inputs (p, g, b).
/// </summary>
public struct SgdMomentumStepOp : ITernaryOp
{
    public float Lr, Momentum, WeightDecay; public int Nesterov;
    public readonly float Apply(float p, float g, float b) =>
        p - Lr * (Nesterov != 0 ? g + WeightDecay * p + Momentum * b : b);
}

/// <summary>
/// Adam first moment: m' = β₁·m + (1 − β₁)·(g + wd·p) (wd = 0 for AdamW). Inputs (m, g, p).
/// </summary>
public struct AdamFirstMomentOp : ITernaryOp
{
    public float Beta1, WeightDecay;
    public readonly float Apply(float m, float g, float p) => Beta1 * m + (1f - Beta1) * (g + WeightDecay * p);
}

/// <summary>Adam second moment: v' = β₂·v + (1 − β₂)·(g + wd·p)². Inputs (v, g, p).</summary>
public struct AdamSecondMomentOp : ITernaryOp
{
    public float Beta2, WeightDecay;
    public readonly float Apply(float v, float g, float p)
    {
        float d = g + WeightDecay * p;
        return Beta2 * v + (1f - Beta2) * d * d;
    }
}

/// <summary>
/// Adam step: p' = p·(1 − lr·λ) − lr·(m / c₁) / (√(v / c₂) + ε),
/// with c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ and λ the decoupled (AdamW) weight decay. Inputs (p, m, v).
/// </summary>
public struct AdamStepOp : ITernaryOp
{
    public float Lr, Eps, Correction1, Correction2, DecoupledDecay;
    public readonly float Apply(float p, float m, float v) =>
        p * (1f - Lr * DecoupledDecay) - Lr * (m / Correction1) / (MathF.Sqrt(v / Correction2) + Eps);
}

/// <summary>Gradient-clipping factor from a global norm: y = min(1, maxNorm / (norm + 1e-6)).</summary>
public struct ClipFactorOp : IUnaryOp
{
    public float MaxNorm;
    public readonly float Apply(float norm)
    {
        float f = MaxNorm / (norm + 1e-6f);
        return f < 1f ? f : 1f;
    }
}
