using System.ComponentModel;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>Settings of a classification training run that every recipe shares.</summary>
public record ClassificationTrainOptions : RunOptions
{
    public int Epochs { get; init; } = 2;
    public int BatchSize { get; init; } = 128;
    /// <summary>Time steps T per sample (the command line's <c>--time-steps</c>, <c>-T</c>); for event datasets the
    /// number of frames each sample is binned into.</summary>
    public int TimeSteps { get; init; } = 4;
    /// <summary>The former name of <see cref="TimeSteps"/>, kept so that existing code compiles.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public int Steps { get => TimeSteps; init => TimeSteps = value; }
    public float Lr { get; init; } = 1e-3f;
    /// <summary>How static images become spike trains (image recipes; event recipes are already (T, …)).</summary>
    public EncodingKind Encoding { get; init; } = EncodingKind.Direct;
    /// <summary>
    /// Augmentation of the training images (the command line's <c>--augment</c>), or null for the recipe's default
    /// (<see cref="ClassificationTask.DefaultAugment"/>; on resume, the run's saved setting).
    /// </summary>
    public ImageAugmentation? Augment { get; init; }
    public string? DataRoot { get; init; }
    public ulong Seed { get; init; }
    /// <summary>Use only the first N training samples (tests, smoke runs).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Use only the first N test samples.</summary>
    public int? TestLimit { get; init; }
    /// <summary>Read the running loss back to the host every this many steps (for the progress display).</summary>
    public int ReportEvery { get; init; } = 25;
    /// <summary>
    /// Epochs to use instead of <see cref="Epochs"/> when only a small bundled sample is available (a small set needs
    /// more passes); null keeps <see cref="Epochs"/>. The CLI sets it when --epochs is not given.
    /// </summary>
    public int? SampleEpochs { get; init; }
    /// <summary>Stop after this many epochs in this invocation (the schedule still spans <see cref="Epochs"/>);
    /// resume later.</summary>
    public int? StopAfter { get; init; }
    /// <summary>Write PNG plots at the end.</summary>
    public bool Plots { get; init; } = true;
    // TensorBoardDir (RunOptions): per epoch the losses, accuracies, learning rate, time, the firing rate of every
    // neuron layer (on the test set) and histograms of the parameters; the running training loss and accuracy
    // whenever progress is reported. Every step axis counts optimiser steps.

    /// <summary>Validates every field; throws naming the first bad one.</summary>
    public override void Validate()
    {
        if (Epochs <= 0)
            throw new ArgumentOutOfRangeException(nameof(Epochs), $"--epochs must be positive, got {Epochs}");
        if (BatchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), $"--batch-size must be positive, got {BatchSize}");
        if (TimeSteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(TimeSteps),
                $"--time-steps (T) must be positive, got {TimeSteps}");
        if (!(Lr > 0) || float.IsInfinity(Lr))
            throw new ArgumentOutOfRangeException(nameof(Lr), $"--lr must be a positive number, got {Lr}");
        if (SampleEpochs is <= 0)
            throw new ArgumentOutOfRangeException(nameof(SampleEpochs),
                $"sample epochs must be positive, got {SampleEpochs}");
        if (StopAfter is <= 0)
            throw new ArgumentOutOfRangeException(nameof(StopAfter), $"--stop-after must be positive, got {StopAfter}");
        if (TrainLimit is <= 0)
            throw new ArgumentOutOfRangeException(nameof(TrainLimit),
                $"--train-limit must be positive, got {TrainLimit}");
        if (TestLimit is <= 0)
            throw new ArgumentOutOfRangeException(nameof(TestLimit), $"--test-limit must be positive, got {TestLimit}");
        base.Validate();
    }
}

/// <summary>Progress of a run, reported to the caller (the CLI draws a progress bar from it).</summary>
public readonly record struct TrainProgress(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss,
    double Accuracy, double SamplesPerSecond);

/// <summary>One epoch's results.</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss,
    double TestAccuracy, double Seconds, double SamplesPerSecond);

/// <summary>The data of a run: the two splits, and whether they are a small bundled sample of the full set.</summary>
public sealed record ClassificationData(ILabelledDataset Train, ILabelledDataset Test, bool IsBundledSample = false);

/// <summary>
/// A setting that shapes a run's trajectory and so must match its checkpoint on resume: the command-line option,
/// the checkpoint metadata key, the value this run writes there, and how a stored value reads on the command line.
/// </summary>
public sealed record RunSetting(string Option, string Key, string Value, Func<string, string>? Show = null,
    Func<string, string, bool>? Same = null);

/// <summary>
/// What a classification recipe brings to <see cref="ClassificationTrainer"/>: its data, its network, how a batch
/// becomes the network's (T, B, …) input, and the settings its checkpoints record.
/// </summary>
public abstract class ClassificationTask
{
    /// <summary>The dataset's name in titles and messages, e.g. "Fashion-MNIST".</summary>
    public abstract string Title { get; }
    /// <summary>The checkpoint kind, e.g. "fashion-mnist-classifier".</summary>
    public abstract string Kind { get; }
    /// <summary>The model's name, stored as the checkpoint's "model".</summary>
    public abstract string ModelName { get; }
    /// <summary>Number of classes (the network's outputs).</summary>
    public abstract int Classes { get; }
    /// <summary>Whether the output is a firing rate trained with MSE against one-hot targets (else logits with
    /// cross-entropy).</summary>
    public virtual bool UsesRateMse => false;
    /// <summary>Whether batches are static images that <see cref="ClassificationTrainOptions.Encoding"/> turns into
    /// spike trains (the encoding is then a setting of the run).</summary>
    public virtual bool UsesEncoding => true;

    /// <summary>Loads both splits (the limits of the options may be applied here or by the trainer).</summary>
    public abstract ClassificationData Load(Action<string> log);

    /// <summary>Creates the network on <paramref name="device"/>; it maps (T, B, …) to (T, B, classes).</summary>
    public abstract Module CreateModel(Generator gen, Device device);

    /// <summary>The augmentation of the training images when the options give none.</summary>
    public virtual ImageAugmentation DefaultAugment => ImageAugmentation.None;

    /// <summary>Settings of this recipe beyond the common ones (e.g. the binning), checked on resume.</summary>
    public virtual IEnumerable<RunSetting> Settings() => Array.Empty<RunSetting>();
}
