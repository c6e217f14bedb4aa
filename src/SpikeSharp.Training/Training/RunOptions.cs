using SpikeSharp.IO;

namespace SpikeSharp.Training;

/// <summary>Settings that every training run has, whatever it trains: where it writes, whether it continues or
/// replaces a run there, its device, precision and TensorBoard directory.</summary>
public abstract record RunOptions
{
    /// <summary>The run directory (metrics.csv, model.safetensors, trainer.safetensors, checkpoints/).</summary>
    public string OutDir { get; init; } = "runs/run";
    /// <summary>
    /// Continue the run in <see cref="OutDir"/> from its newest complete checkpoint. The run's settings must match
    /// the checkpoint's; the length of the run (epochs, steps) may differ.
    /// </summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Replace a run already in <see cref="OutDir"/>; without it (or <see cref="Resume"/>) a run there is refused.
    /// </summary>
    public bool Overwrite { get; init; }
    /// <summary>Complete checkpoints kept in OutDir/checkpoints, the newest included (at least 1).</summary>
    public int KeepCheckpoints { get; init; } = Checkpoint.DefaultKeep;
    /// <summary>Where the model runs.</summary>
    public Device Device { get; init; } = Device.Default;
    /// <summary>
    /// The precision of matrix products and convolutions for the whole run (the command line's
    /// <c>--precision</c>), set with <see cref="SpikeSharp.Precision.Use"/> around it; null keeps the process-wide
    /// switches (the library's default). Recorded with the checkpoints and checked on resume.
    /// </summary>
    public PrecisionMode? Precision { get; init; }
    /// <summary>Directory for TensorBoard event files (the command line's <c>--tensorboard</c>), or null for none.
    /// </summary>
    public string? TensorBoardDir { get; init; }

    /// <summary>Validates every field; throws naming the first bad one.</summary>
    public virtual void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutDir))
            throw new ArgumentException("--out must name a directory", nameof(OutDir));
        if (Resume && Overwrite)
            throw new ArgumentException(
                "--resume continues the run in --out and --overwrite deletes it: give one of them", nameof(Overwrite));
        if (KeepCheckpoints < 1)
            throw new ArgumentOutOfRangeException(
                nameof(KeepCheckpoints), $"checkpoints to keep must be at least 1, got {KeepCheckpoints}");
        if (TensorBoardDir is { } tb && string.IsNullOrWhiteSpace(tb))
            throw new ArgumentException("--tensorboard must name a directory", nameof(TensorBoardDir));
        if (Precision is { } p && p is not (PrecisionMode.Fp32 or PrecisionMode.Tf32))
            throw new ArgumentOutOfRangeException(nameof(Precision), p, "--precision: expected fp32 or tf32");
    }

    /// <summary>How <see cref="Precision"/> is recorded in a checkpoint: "fp32", "tf32", or "" for none given.
    /// </summary>
    public string PrecisionName => Precision?.ToString().ToLowerInvariant() ?? "";

    /// <summary>Reads a precision recorded by <see cref="PrecisionName"/>: null for "" (the library's default).
    /// </summary>
    /// <exception cref="ArgumentException">Neither "", fp32 nor tf32.</exception>
    public static PrecisionMode? ParsePrecision(string? recorded) =>
        string.IsNullOrEmpty(recorded) ? null : SpikeSharp.Precision.Parse(recorded, "--precision");
}
