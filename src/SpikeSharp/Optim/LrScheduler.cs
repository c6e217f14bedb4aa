namespace SpikeSharp.Optim;

/// <summary>
/// Sets an optimiser's learning rate as a function of the step index. The rate for step 0 is set on
/// construction; call <see cref="Step"/> after each optimiser step.
/// </summary>
public abstract class LrScheduler
{
    /// <summary>Attaches to <paramref name="optimizer"/>, taking its current lr as the base rate.</summary>
    protected LrScheduler(Optimizer optimizer)
    {
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        BaseLr = optimizer.Lr;
    }

    /// <summary>The optimiser driven.</summary>
    public Optimizer Optimizer { get; }
    /// <summary>The peak / initial rate.</summary>
    public float BaseLr { get; }
    /// <summary>Steps taken (to resume: set it from a checkpoint, then call <see cref="Apply"/>).</summary>
    public int LastStep { get; set; }

    /// <summary>The rate at step <paramref name="step"/> (0-based).</summary>
    public abstract float LrAt(int step);

    /// <summary>Advances one step and sets the optimiser's rate.</summary>
    public void Step() { LastStep++; Apply(); }

    /// <summary>Sets the optimiser's rate for <see cref="LastStep"/>.</summary>
    public void Apply() => Optimizer.Lr = LrAt(LastStep);
}

/// <summary>
/// Linear warm-up from lr/W to lr over W = <c>warmupSteps</c> steps, then cosine decay to <c>minLr</c> at
/// S = <c>totalSteps</c> (and <c>minLr</c> after).
/// </summary>
/// <remarks>
/// lr(s) = lr·(s + 1)/W for s &lt; W; else minLr + (lr − minLr)·(1 + cos(π·(s − W)/(S − W)))/2.
/// </remarks>
public sealed class CosineLr : LrScheduler
{
    private readonly int _total, _warmup;
    private readonly float _min;

    /// <summary>Creates the schedule and sets the rate for step 0.</summary>
    public CosineLr(Optimizer optimizer, int totalSteps, int warmupSteps = 0, float minLr = 0f) : base(optimizer)
    {
        if (totalSteps <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(totalSteps), $"CosineLr: totalSteps must be positive, got {totalSteps}");
        if (warmupSteps < 0 || warmupSteps >= totalSteps)
            throw new ArgumentOutOfRangeException(
                nameof(warmupSteps), $"CosineLr: warmupSteps must be in [0, {totalSteps}), got {warmupSteps}");
        _total = totalSteps; _warmup = warmupSteps; _min = minLr;
        Apply();
    }

    /// <inheritdoc/>
    public override float LrAt(int step)
    {
        if (step < _warmup) return BaseLr * (step + 1) / _warmup;
        if (step >= _total) return _min;
        double progress = (double)(step - _warmup) / (_total - _warmup);
        return (float)(_min + (BaseLr - _min) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}

/// <summary>Multiplies the rate by γ every <c>stepSize</c> steps: lr(s) = lr·γ^⌊s / stepSize⌋.</summary>
public sealed class StepLr : LrScheduler
{
    private readonly int _size;
    private readonly float _gamma;

    /// <summary>Creates the schedule and sets the rate for step 0.</summary>
    public StepLr(Optimizer optimizer, int stepSize, float gamma = 0.1f) : base(optimizer)
    {
        if (stepSize <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(stepSize), $"StepLr: stepSize must be positive, got {stepSize}");
        _size = stepSize; _gamma = gamma;
        Apply();
    }

    /// <inheritdoc/>
    public override float LrAt(int step) => BaseLr * MathF.Pow(_gamma, step / _size);
}
