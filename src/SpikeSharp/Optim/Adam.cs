namespace SpikeSharp.Optim;

/// <summary>
/// Adam (Kingma and Ba) with optional L2 weight decay folded into the gradient, matching torch.optim.Adam.
/// </summary>
/// <remarks>
/// d = g + wd·p; m ← β₁m + (1 − β₁)d; v ← β₂v + (1 − β₂)d²;
/// p ← p − lr·(m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε).
/// </remarks>
public class Adam : Optimizer
{
    /// <summary>Creates the optimiser over named parameters.</summary>
    public Adam(
        IEnumerable<(string Name, Tensor Param)> parameters,
        float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f)
        : base(parameters, lr) => Configure(beta1, beta2, eps, weightDecay);

    /// <summary>Creates the optimiser over unnamed parameters.</summary>
    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weightDecay = 0f) : base(parameters, lr) => Configure(beta1, beta2, eps, weightDecay);

    private void Configure(float beta1, float beta2, float eps, float weightDecay)
    {
        if (!(beta1 >= 0f && beta1 < 1f))
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam: beta1 must be in [0, 1), got {beta1}");
        if (!(beta2 >= 0f && beta2 < 1f))
            throw new ArgumentOutOfRangeException(nameof(beta2), $"Adam: beta2 must be in [0, 1), got {beta2}");
        if (!(eps >= 0f))
            throw new ArgumentOutOfRangeException(nameof(eps), $"Adam: eps must be non-negative, got {eps}");
        if (!(weightDecay >= 0f))
            throw new ArgumentOutOfRangeException(
                nameof(weightDecay), $"Adam: weightDecay must be non-negative, got {weightDecay}");
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
    }

    /// <summary>β₁.</summary>
    public float Beta1 { get; private set; }
    /// <summary>β₂.</summary>
    public float Beta2 { get; private set; }
    /// <summary>ε.</summary>
    public float Eps { get; private set; }
    /// <summary>Weight decay (L2 in Adam, decoupled in AdamW).</summary>
    public float WeightDecay { get; private set; }

    /// <summary>True when the decay shrinks the weights directly (AdamW) instead of entering the gradient.</summary>
    protected virtual bool Decoupled => false;

    /// <inheritdoc/>
    protected override void Update(IReadOnlyList<ParameterUpdate> updates) =>
        FusedUpdate(updates, Rule, "exp_avg", "exp_avg_sq", Decoupled ? "adamw" : "adam");

    /// <inheritdoc/>
    protected override void Update(string name, Tensor p, Tensor grad, long step) =>
        Update(new[] { new ParameterUpdate(name, p, grad, step) });

    private AdamFusedStep Rule(long step) => new()
    {
        Beta1 = Beta1,
        Beta2 = Beta2,
        Lr = Lr,
        Eps = Eps,
        Correction1 = (float)(1 - Math.Pow(Beta1, step)),
        Correction2 = (float)(1 - Math.Pow(Beta2, step)),
        WeightDecay = Decoupled ? 0f : WeightDecay,
        DecoupledDecay = Decoupled ? WeightDecay : 0f,
    };
}

/// <summary>
/// AdamW (Loshchilov and Hutter): Adam with decoupled weight decay p ← p·(1 − lr·λ) applied with the step,
/// matching torch.optim.AdamW (default λ = 0.01).
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimiser over named parameters.</summary>
    public AdamW(
        IEnumerable<(string Name, Tensor Param)> parameters,
        float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : base(parameters, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>Creates the optimiser over unnamed parameters.</summary>
    public AdamW(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weightDecay = 0.01f) : base(parameters, lr, beta1, beta2, eps, weightDecay) { }

    /// <inheritdoc/>
    protected override bool Decoupled => true;
}
