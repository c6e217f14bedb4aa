namespace SpikeSharp.Optim;

/// <summary>
/// Stochastic gradient descent with optional momentum (heavy-ball or Nesterov), dampening and L2 weight decay,
/// matching PyTorch's torch.optim.SGD.
/// </summary>
/// <remarks>
/// d = g + wd·p; b ← μ·b + (1 − τ)·d (b = d on the first step); p ← p − lr·(nesterov ? d + μ·b : b).
/// Without momentum: p ← p − lr·d.
/// </remarks>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimiser over named parameters.</summary>
    public Sgd(
        IEnumerable<(string Name, Tensor Param)> parameters,
        float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr) => Configure(momentum, dampening, weightDecay, nesterov);

    /// <summary>Creates the optimiser over unnamed parameters.</summary>
    public Sgd(
        IEnumerable<Tensor> parameters,
        float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr) => Configure(momentum, dampening, weightDecay, nesterov);

    private void Configure(float momentum, float dampening, float weightDecay, bool nesterov)
    {
        if (!(momentum >= 0f))
            throw new ArgumentOutOfRangeException(
                nameof(momentum), $"SGD: momentum must be non-negative, got {momentum}");
        if (!(weightDecay >= 0f))
            throw new ArgumentOutOfRangeException(
                nameof(weightDecay), $"SGD: weightDecay must be non-negative, got {weightDecay}");
        if (nesterov && (momentum <= 0f || dampening != 0f))
            throw new ArgumentException(
                "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, "
                + $"got momentum={momentum}, dampening={dampening}",
                nameof(nesterov));
        Momentum = momentum; Dampening = dampening; WeightDecay = weightDecay; Nesterov = nesterov;
    }

    /// <summary>μ.</summary>
    public float Momentum { get; private set; }
    /// <summary>τ.</summary>
    public float Dampening { get; private set; }
    /// <summary>L2 penalty folded into the gradient.</summary>
    public float WeightDecay { get; private set; }
    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; private set; }

    /// <inheritdoc/>
    protected override void Update(IReadOnlyList<ParameterUpdate> updates) =>
        FusedUpdate(updates, Rule, Momentum != 0f ? "momentum_buffer" : null, null, "sgd");

    /// <inheritdoc/>
    protected override void Update(string name, Tensor p, Tensor grad, long step) =>
        Update(new[] { new ParameterUpdate(name, p, grad, step) });

    private SgdFusedStep Rule(long step) => new()
    {
        Lr = Lr,
        Momentum = Momentum,
        Dampening = Dampening,
        WeightDecay = WeightDecay,
        First = step == 1 ? 1 : 0,
        Nesterov = Nesterov ? 1 : 0,
        HasMomentum = Momentum != 0f ? 1 : 0,
    };
}
