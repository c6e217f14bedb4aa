using SpikeSharp.Data;
using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>Settings of an N-MNIST or SHD run: the common ones, the binning and the frame cache.</summary>
public sealed record EventTrainOptions : ClassificationTrainOptions
{
    /// <summary>How events become the T frames of a sample; null: <see cref="EventBinning.TimeBins"/>(T).</summary>
    public EventBinning? Binning { get; init; }

    /// <summary>Where binned frames are cached (<see cref="FrameCache"/>); null: no cache.</summary>
    public string? CacheDir { get; init; }

    /// <summary>The binning in effect.</summary>
    public EventBinning EffectiveBinning => Binning ?? EventBinning.TimeBins(TimeSteps);

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (string.IsNullOrWhiteSpace(DataRoot))
            throw new ArgumentException("--data: expected the dataset directory, got none", nameof(DataRoot));
    }
}

/// <summary>Settings of a CIFAR-10 run.</summary>
public sealed record Cifar10TrainOptions : ClassificationTrainOptions
{
    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (string.IsNullOrWhiteSpace(DataRoot))
            throw new ArgumentException("--data: expected the directory of the CIFAR-10 binary files, got none",
                nameof(DataRoot));
    }
}

/// <summary>Building blocks of the recipes' networks.</summary>
internal static class RecipeBlocks
{
    // Conv3×3 (no bias) + BatchNorm, per time step, after optional 2×2 max pooling; the LIF follows.
    public static Module[] ConvBnLif(int cin, int cout, bool pool, Generator gen, Device device)
    {
        var conv = new Conv2d(cin, cout, 3, padding: 1, bias: false, gen: gen, device: device);
        var bn = new BatchNorm2d(cout, device: device);
        var step = pool ? new MultiStep(new MaxPool2d((2, 2)), conv, bn) : new MultiStep(conv, bn);
        return new Module[] { step, new Lif(device: device) };
    }
}

/// <summary>
/// The N-MNIST recipe: frames (T, 2, 34, 34) binned from the events, and a small convolutional SNN "csnn":
/// Conv3×3(32)+BN+LIF, MaxPool2 + Conv3×3(64)+BN+LIF, MaxPool2 → 64·8·8, FC 256 + LIF, FC 10 readout averaged over
/// time, trained with cross-entropy.
/// </summary>
public sealed class NMnistTask : ClassificationTask
{
    private readonly EventTrainOptions _o;

    /// <summary>The recipe for <paramref name="options"/>.</summary>
    public NMnistTask(EventTrainOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The checkpoint kind.</summary>
    public const string CheckpointKind = "nmnist-classifier";
    /// <inheritdoc/>
    public override string Title => "N-MNIST";
    /// <inheritdoc/>
    public override string Kind => CheckpointKind;
    /// <inheritdoc/>
    public override string ModelName => "csnn";
    /// <inheritdoc/>
    public override int Classes => 10;
    /// <inheritdoc/>
    public override bool UsesEncoding => false;

    /// <inheritdoc/>
    public override ClassificationData Load(Action<string> log) => new(
        NMnist.Load(_o.DataRoot!, true, _o.EffectiveBinning, _o.TimeSteps, _o.TrainLimit, _o.CacheDir, log),
        NMnist.Load(_o.DataRoot!, false, _o.EffectiveBinning, _o.TimeSteps, _o.TestLimit, _o.CacheDir, log));

    /// <inheritdoc/>
    public override Module CreateModel(Generator gen, Device device) => new Sequential(
        RecipeBlocks.ConvBnLif(2, 32, pool: false, gen, device)
            .Concat(RecipeBlocks.ConvBnLif(32, 64, pool: true, gen, device))
            .Append(new MultiStep(new MaxPool2d((2, 2)), new Flatten(1),
                new Linear(64 * 8 * 8, 256, gen: gen, device: device)))
            .Append(new Lif(device: device))
            .Append(new MultiStep(new Linear(256, 10, gen: gen, device: device)))
            .ToArray());

    /// <inheritdoc/>
    public override IEnumerable<RunSetting> Settings()
    {
        yield return new RunSetting("--binning", "binning", _o.EffectiveBinning.Key);
    }
}

/// <summary>
/// The SHD recipe: frames (T, 700) binned from the spikes, and a feed-forward (recurrence-free) SNN "mlp":
/// FC 700→256 + LIF, FC 256→256 + LIF, FC 256→20 readout averaged over time, trained with cross-entropy.
/// </summary>
public sealed class ShdTask : ClassificationTask
{
    private readonly EventTrainOptions _o;

    /// <summary>The recipe for <paramref name="options"/>.</summary>
    public ShdTask(EventTrainOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The checkpoint kind.</summary>
    public const string CheckpointKind = "shd-classifier";
    /// <inheritdoc/>
    public override string Title => "SHD";
    /// <inheritdoc/>
    public override string Kind => CheckpointKind;
    /// <inheritdoc/>
    public override string ModelName => "mlp";
    /// <inheritdoc/>
    public override int Classes => Shd.Classes;
    /// <inheritdoc/>
    public override bool UsesEncoding => false;

    /// <inheritdoc/>
    public override ClassificationData Load(Action<string> log) => new(
        Shd.Load(_o.DataRoot!, true, _o.EffectiveBinning, _o.TimeSteps, _o.TrainLimit, _o.CacheDir, log),
        Shd.Load(_o.DataRoot!, false, _o.EffectiveBinning, _o.TimeSteps, _o.TestLimit, _o.CacheDir, log));

    /// <inheritdoc/>
    public override Module CreateModel(Generator gen, Device device) => new Sequential(
        new MultiStep(new Linear(Shd.Channels, 256, gen: gen, device: device)),
        new Lif(device: device),
        new MultiStep(new Linear(256, 256, gen: gen, device: device)),
        new Lif(device: device),
        new MultiStep(new Linear(256, Shd.Classes, gen: gen, device: device)));

    /// <inheritdoc/>
    public override IEnumerable<RunSetting> Settings()
    {
        yield return new RunSetting("--binning", "binning", _o.EffectiveBinning.Key);
    }
}

/// <summary>
/// The CIFAR-10 recipe: (3, 32, 32) images in [0, 1], encoded over T steps (direct by default), and a spiking
/// CSNN "csnn" of conv-BN-LIF blocks: 64, 128, MaxPool2 + 256, MaxPool2 + 256, MaxPool2 → 256·4·4, FC 512 + LIF,
/// FC 10 readout averaged over time, trained with cross-entropy.
/// </summary>
public sealed class Cifar10Task : ClassificationTask
{
    private readonly Cifar10TrainOptions _o;

    /// <summary>The recipe for <paramref name="options"/>.</summary>
    public Cifar10Task(Cifar10TrainOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The checkpoint kind.</summary>
    public const string CheckpointKind = "cifar10-classifier";
    /// <inheritdoc/>
    public override string Title => "CIFAR-10";
    /// <inheritdoc/>
    public override string Kind => CheckpointKind;
    /// <inheritdoc/>
    public override string ModelName => "csnn";
    /// <inheritdoc/>
    public override int Classes => 10;

    /// <inheritdoc/>
    public override ClassificationData Load(Action<string> log)
    {
        var train = Cifar10.Load(_o.DataRoot!, true, _o.TrainLimit);
        var test = Cifar10.Load(_o.DataRoot!, false, _o.TestLimit);
        log($"CIFAR-10: {train.Count} training and {test.Count} test images from {_o.DataRoot}");
        return new ClassificationData(train, test);
    }

    /// <inheritdoc/>
    public override Module CreateModel(Generator gen, Device device) => new Sequential(
        RecipeBlocks.ConvBnLif(3, 64, pool: false, gen, device)
            .Concat(RecipeBlocks.ConvBnLif(64, 128, pool: false, gen, device))
            .Concat(RecipeBlocks.ConvBnLif(128, 256, pool: true, gen, device))
            .Concat(RecipeBlocks.ConvBnLif(256, 256, pool: true, gen, device))
            .Append(new MultiStep(new MaxPool2d((2, 2)), new Flatten(1),
                new Linear(256 * 4 * 4, 512, gen: gen, device: device)))
            .Append(new Lif(device: device))
            .Append(new MultiStep(new Linear(512, 10, gen: gen, device: device)))
            .ToArray());
}
