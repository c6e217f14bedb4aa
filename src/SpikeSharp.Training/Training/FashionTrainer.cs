using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Training;

/// <summary>Settings of a Fashion-MNIST training run: the common ones and the model.</summary>
public sealed record FashionTrainOptions : ClassificationTrainOptions
{
    /// <summary>Default settings, writing into runs/fashion-mnist.</summary>
    public FashionTrainOptions() => OutDir = "runs/fashion-mnist";

    public FashionModelKind Model { get; init; } = FashionModelKind.Mlp;
}

/// <summary>
/// The configuration a Fashion-MNIST run stores with its checkpoints, which <c>--resume</c> restores. Fields the
/// checkpoint does not record (checkpoints of earlier versions hold only the model, T, encoding and seed) are null.
/// </summary>
public sealed record FashionRunConfig
{
    /// <summary>Checkpoint kind of a Fashion-MNIST classifier.</summary>
    public const string Kind = "fashion-mnist-classifier";

    /// <summary>The save this configuration comes from.</summary>
    public required CheckpointInfo Checkpoint { get; init; }
    public FashionModelKind Model { get; init; }
    /// <summary>Epochs finished when the checkpoint was saved.</summary>
    public int CompletedEpochs { get; init; }
    /// <summary>Epochs the run was set to (the span of its learning-rate schedule).</summary>
    public int? Epochs { get; init; }
    public int? TimeSteps { get; init; }
    public EncodingKind? Encoding { get; init; }
    public int? BatchSize { get; init; }
    public float? Lr { get; init; }
    public ulong? Seed { get; init; }
    /// <summary>True if the checkpoint records the training-set limit (then a null <see cref="TrainLimit"/> is none).
    /// </summary>
    public bool TrainLimitKnown { get; init; }
    public int? TrainLimit { get; init; }
    /// <summary>Training samples the run used, if recorded.</summary>
    public int? TrainSamples { get; init; }
    /// <summary>The run's <c>--precision</c>; null when none was given or the checkpoint predates the setting.
    /// </summary>
    public PrecisionMode? Precision { get; init; }

    /// <summary>The configuration of the newest complete checkpoint of the run in <paramref name="outDir"/>.</summary>
    /// <param name="outDir">The run directory.</param>
    /// <param name="warn">Told about damaged saves passed over.</param>
    /// <exception cref="IOException">No such directory, or no complete checkpoint in it (the message says which).
    /// </exception>
    /// <exception cref="InvalidDataException">The checkpoint is not a Fashion-MNIST classifier's, or is malformed.
    /// </exception>
    public static FashionRunConfig Read(string outDir, Action<string>? warn = null)
    {
        PrecisionMode? ParsePrecision(string v)
        {
            try { return RunOptions.ParsePrecision(v); }
            catch (ArgumentException) { throw new InvalidDataException($"--resume: the checkpoint in {outDir} has " +
                $"precision '{v}', expected fp32 or tf32"); }
        }
        var info = RunDirectory.FindResumable(outDir, warn);
        var m = info.Metadata;
        if (!m.TryGetValue("kind", out var kind) || kind != Kind)
            throw new InvalidDataException(
                $"--resume: the checkpoint in {outDir} is not a Fashion-MNIST classifier (kind '{kind}')");
        InvalidDataException Bad(string what) => new($"--resume: the checkpoint in {info.Directory} {what}");
        int? Int(string key) => m.TryGetValue(key, out var v) && v.Length > 0 ? ParseInt(key, v) : null;
        int ParseInt(string key, string v) =>
            int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i
                : throw Bad($"has {key} '{v}', expected an integer");
        EncodingKind? enc = m.TryGetValue("encoding", out var e)
            ? Enum.TryParse<EncodingKind>(e, ignoreCase: true, out var ek) ? ek
                : throw Bad($"has encoding '{e}'")
            : null;
        return new FashionRunConfig
        {
            Checkpoint = info,
            Model = m.TryGetValue("model", out var model) ? FashionModels.Parse(model)
                : throw Bad("does not record its model"),
            CompletedEpochs = Int("epoch") ?? throw Bad("does not record its epoch"),
            Epochs = Int("epochs"),
            TimeSteps = Int("time_steps") ?? Int("steps"), // "steps" in checkpoints of earlier versions
            Encoding = enc,
            BatchSize = Int("batch_size"),
            Lr = m.TryGetValue("lr", out var lr) ? float.Parse(lr, CultureInfo.InvariantCulture) : null,
            Seed = m.TryGetValue("seed", out var seed) ? ulong.Parse(seed, CultureInfo.InvariantCulture) : null,
            TrainLimitKnown = m.ContainsKey("train_limit"),
            TrainLimit = Int("train_limit"),
            TrainSamples = Int("train_samples"),
            Precision = m.TryGetValue("precision", out var p) ? ParsePrecision(p) : null,
        };
    }
}

/// <summary>The Fashion-MNIST recipe: the MNIST-format loader (or the bundled sample) and the three models.</summary>
public sealed class FashionTask : ClassificationTask
{
    private readonly FashionTrainOptions _o;

    /// <summary>The recipe for <paramref name="options"/>.</summary>
    public FashionTask(FashionTrainOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    /// <inheritdoc/>
    public override string Title => "Fashion-MNIST";
    /// <inheritdoc/>
    public override string Kind => FashionRunConfig.Kind;
    /// <inheritdoc/>
    public override string ModelName => FashionModels.Name(_o.Model);
    /// <inheritdoc/>
    public override int Classes => 10;
    /// <inheritdoc/>
    public override bool UsesRateMse => FashionModels.UsesRateMse(_o.Model);
    /// <inheritdoc/>
    public override ImageAugmentation DefaultAugment => FashionModels.DefaultAugment(_o.Model);

    /// <inheritdoc/>
    public override ClassificationData Load(Action<string> log)
    {
        var data = FashionMnist.Load(_o.DataRoot, log);
        if (data.IsBundledSample)
            log($"using the bundled Fashion-MNIST sample (4000 train / 1000 test images), " +
                $"{_o.SampleEpochs ?? _o.Epochs} epochs: install dataset-fashion-mnist or pass --data for the " +
                "full set");
        var shape = new[] { 1, 28, 28 };
        var train = ArrayDataset.FromBytes(data.TrainImages, data.TrainLabels.Select(b => (int)b).ToArray(), shape);
        var test = ArrayDataset.FromBytes(data.TestImages, data.TestLabels.Select(b => (int)b).ToArray(), shape);
        return new ClassificationData(train, test, data.IsBundledSample);
    }

    /// <inheritdoc/>
    public override Module CreateModel(Generator gen, Device device) => FashionModels.Create(_o.Model, gen, device);
}

/// <summary>Trains a spiking classifier on Fashion-MNIST: data, model, loop, evaluation, checkpoints, metrics and
/// plots.</summary>
public sealed class FashionTrainer : ClassificationTrainer
{
    /// <summary>Creates a trainer; the options are validated first.</summary>
    public FashionTrainer(FashionTrainOptions options, Action<string>? log = null)
        : base(Checked(options), new FashionTask(options), log)
    {
    }

    private static FashionTrainOptions Checked(FashionTrainOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return o;
    }
}
