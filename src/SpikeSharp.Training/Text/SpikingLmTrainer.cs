using System.Diagnostics;
using System.Globalization;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;
using SpikeSharp.Text;

namespace SpikeSharp.Training;

/// <summary>Progress after one optimiser step of a <see cref="SpikingLmTrainer"/>.</summary>
/// <param name="Step">The step just taken (from 1).</param>
/// <param name="Steps">Steps of the run.</param>
/// <param name="TrainLoss">The training loss last read back (every 10 steps, at reports and at the end; NaN
/// before the first read).</param>
/// <param name="Lr">The learning rate now.</param>
/// <param name="IsReport">Whether <see cref="RunTrainer.ProgressSchedule"/> asks for a progress line here (never
/// on a step that an evaluation line reports).</param>
public readonly record struct SpikingLmProgress(int Step, int Steps, double TrainLoss, double Lr, bool IsReport);

/// <summary>
/// Trains a character-level <see cref="SpikingLanguageModel"/> on the shared <see cref="RunTrainer"/> loop, one
/// optimiser step a unit: random windows of the corpus (seeded by the step, so a resumed run draws the batches an
/// uninterrupted one would), AdamW with gradient clipping and a cosine schedule, a validation evaluation (loss, bits
/// per character, the bigram baseline, the efficiency report) every <see cref="SpikingLmTrainOptions.EvalEvery"/>
/// steps and a checkpoint every <see cref="SpikingLmTrainOptions.CheckpointEvery"/>.
/// </summary>
/// <example>
/// <code>
/// var trainer = new SpikingLmTrainer(new SpikingLmTrainOptions { Text = "book.txt", Dim = 128, Steps = 500 },
///     Console.WriteLine);
/// double valLoss = trainer.Run(); // nats per character
/// </code>
/// </example>
public sealed class SpikingLmTrainer : RunTrainer
{
    private static readonly string[] Columns =
    {
        "step", "train_loss", "val_loss", "val_bpc", "bigram_val_loss", "lr", "mean_input_rate",
        "dense_macs_per_token", "spiking_macs_per_token", "accumulates_per_token", "elapsed_s",
    };

    private SpikingLmTrainOptions _o;
    private TextCorpus _corpus = null!;
    private SpikingLanguageModel _model = null!;
    private AdamW _opt = null!;
    private CosineLr _sched = null!;
    private readonly Stopwatch _clock = new();
    private double _trainLoss = double.NaN, _elapsedBefore;

    /// <summary>Creates a trainer; the options are validated first.</summary>
    /// <param name="options">The run's settings.</param>
    /// <param name="log">Receives every line the run prints (warnings start with "warning: "); null: none.</param>
    public SpikingLmTrainer(SpikingLmTrainOptions options, Action<string>? log = null) : base(options, log) =>
        _o = options;

    /// <summary>Raised after every optimiser step (no host read of its own).</summary>
    public event Action<SpikingLmProgress>? Progress;

    /// <summary>The settings the run uses (on resume, with those not given taken from the checkpoint).</summary>
    public SpikingLmTrainOptions Options => _o;

    /// <summary>Validation loss (nats per character) of the first evaluation of the run; NaN before.</summary>
    public double FirstValidationLoss { get; private set; } = double.NaN;

    /// <summary>Validation loss of the latest evaluation; NaN before.</summary>
    public double ValidationLoss { get; private set; } = double.NaN;

    /// <summary>Validation loss of the add-one bigram model of the training split (the baseline to beat).</summary>
    public double BigramLoss { get; private set; } = double.NaN;

    /// <inheritdoc/>
    protected override string Kind => SpikingLanguageModel.Kind;
    /// <inheritdoc/>
    protected override string KindDescription => "a resumable spiking language model";
    /// <inheritdoc/>
    protected override string Unit => "step";
    /// <inheritdoc/>
    protected override int TotalUnits => _o.Steps;
    /// <inheritdoc/>
    protected override IReadOnlyList<string> MetricsColumns => Columns;

    /// <inheritdoc/>
    protected override void Warn(string message) => Log($"warning: {message}");

    /// <summary>Runs the training (see <see cref="RunTrainer"/>); returns the last validation loss (nats/char).
    /// </summary>
    /// <exception cref="IOException">--out holds a run and neither Resume nor Overwrite is set, or Resume finds no
    /// complete checkpoint.</exception>
    /// <exception cref="ArgumentException">A bad or unreadable text, or Resume with a setting other than the
    /// checkpoint's (the message names the option, the saved value and the given one).</exception>
    /// <exception cref="InvalidDataException">Resume on another text vocabulary or another kind of checkpoint.
    /// </exception>
    public double Run()
    {
        try
        {
            RunLoop();
            return ValidationLoss;
        }
        finally
        {
            _model?.Dispose();
            _opt?.Dispose();
        }
    }

    /// <inheritdoc/>
    protected override RunOptions ResolveSettings(CheckpointInfo saved)
    {
        _o = _o.WithSaved(saved); // before the checks: the run's own settings replace the defaults
        _o.Validate();
        return _o;
    }

    /// <inheritdoc/>
    protected override IReadOnlyDictionary<string, string> SavedSettings(CheckpointInfo saved)
    {
        var cfg = SpikingLmCheckpoint.ReadConfig(saved.Directory);
        var m = new Dictionary<string, string>(saved.Metadata)
        {
            ["dim"] = Inv(cfg.Dim), ["layers"] = Inv(cfg.Layers), ["heads"] = Inv(cfg.Heads),
        };
        return m;
    }

    /// <inheritdoc/>
    protected override IEnumerable<RunSetting> Settings()
    {
        yield return new RunSetting("--text", "text", _o.Text is null ? "" : Path.GetFullPath(_o.Text));
        yield return new RunSetting("--dim", "dim", Inv(_o.Dim));
        yield return new RunSetting("--layers", "layers", Inv(_o.Layers));
        yield return new RunSetting("--heads", "heads", Inv(_o.Heads));
        yield return new RunSetting("--seq-len", "seq_len", Inv(_o.SeqLen));
        yield return new RunSetting("--batch-size", "batch_size", Inv(_o.BatchSize));
        yield return new RunSetting("--lr", "lr", Inv(_o.Lr, "R"), null, SameFloat);
        yield return new RunSetting("--seed", "seed", Inv(_o.Seed));
        foreach (var s in base.Settings()) yield return s;
    }

    /// <inheritdoc/>
    protected override void BeforeOutput(CheckpointInfo? saved)
    {
        // The text is read and checked before --out is touched: a refused text leaves no run directory behind.
        _corpus = _o.Text != null ? TextCorpus.FromFile(_o.Text) : TextCorpus.FromFortunes();
        TextCorpus.CheckWindow(_corpus.Train, _o.SeqLen, $"training split of {_corpus.Source}");
        TextCorpus.CheckWindow(_corpus.Validation, _o.SeqLen, $"validation split (last 10%) of {_corpus.Source}");
        if (saved != null && SpikingLmCheckpoint.ReadConfig(saved.Directory).Vocab != _corpus.Vocabulary.Characters)
            throw new InvalidDataException(
                $"--resume: the vocabulary of {_corpus.Source} differs from the one the run in {_o.OutDir} was " +
                "trained with (has the text changed?); resume with the same --text, or start a new run with " +
                "--overwrite");
    }

    /// <inheritdoc/>
    protected override (Module Model, Optimizer Optimizer) Setup(CheckpointInfo? saved)
    {
        var vocab = _corpus.Vocabulary;
        Log($"corpus {_corpus.Source} ({_corpus.EncodingName}): {_corpus.Text.Length:N0} chars, vocabulary " +
            $"{vocab.Size}, train {_corpus.Train.Length:N0}, val {_corpus.Validation.Length:N0}");
        BigramLoss = new BigramBaseline(_corpus.Train, vocab.Size).Loss(_corpus.Validation);
        Log(Inv($"bigram baseline (add-one, train counts) on the validation split: {BigramLoss:F4} nats/char = ") +
            Inv($"{BigramBaseline.BitsPerChar(BigramLoss):F4} bits/char"));
        var gen = new Generator((ulong)_o.Seed);
        _model = new SpikingLanguageModel(new SpikingLmConfig(vocab.Size, _o.Dim, _o.Layers, _o.Heads), gen: gen,
            device: _o.Device);
        long nParams = _model.Parameters().Sum(p => (long)p.Numel);
        Log($"model: dim {_o.Dim}, layers {_o.Layers}, heads {_o.Heads}, {nParams:N0} parameters on {_o.Device}");
        _opt = new AdamW(_model.NamedParameters(), _o.Lr, weightDecay: 0.01f);
        _sched = new CosineLr(_opt, _o.Steps, warmupSteps: Math.Min(100, _o.Steps / 10), minLr: _o.Lr / 10);
        _clock.Restart();
        return (_model, _opt);
    }

    /// <inheritdoc/>
    protected override void Restored(IReadOnlyDictionary<string, string> metadata, int completed)
    {
        double D(string key) => double.Parse(metadata[key], CultureInfo.InvariantCulture);
        (_trainLoss, ValidationLoss, FirstValidationLoss, _elapsedBefore) =
            (D("train_loss"), D("val_loss"), D("first_val_loss"), D("elapsed_s"));
        _sched.LastStep = completed;
        _sched.Apply();
    }

    /// <inheritdoc/>
    protected override void Started() => Evaluate(0);

    /// <inheritdoc/>
    protected override void BeginLoop(int completed) =>
        ProgressSchedule?.Start(_o.Steps, Math.Min(completed, _o.Steps));

    /// <inheritdoc/>
    protected override void TrainUnit(int step)
    {
        var progress = ProgressSchedule;
        using (TensorScope.Begin())
        {
            _model.Train();
            _model.ResetState();
            // One generator per step, seeded by the step: a resumed run draws the batches an uninterrupted one would.
            var rng = new Random(unchecked(_o.Seed * 1_000_003 + step));
            var (x, y) = TextCorpus.SampleBatch(_corpus.Train, _o.SeqLen, _o.BatchSize, rng);
            var logits = _model.Forward(Tensor.FromArray(x, new[] { _o.SeqLen, _o.BatchSize }, _o.Device));
            var loss = Tensor.CrossEntropy(logits.Reshape(-1, _model.Config.VocabSize),
                Tensor.FromArray(y, null, _o.Device));
            _opt.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(_model.Parameters(), 1f)?.Dispose();
            _opt.Step();
            _sched.Step();
            // The only host read of a step, every 10 steps and when a progress line wants the loss.
            if (step % 10 == 0 || step == _o.Steps || progress?.IsDue(step) == true)
            {
                _trainLoss = loss.Item();
                TensorBoard?.AddScalar("loss/train", _trainLoss, step);
            }
        }
        bool report = false;
        if (progress != null)
        {
            if (EvaluatesAfter(step)) progress.Reported(step); // the evaluation line reports this step
            else report = progress.Report(step);
        }
        Progress?.Invoke(new SpikingLmProgress(step, _o.Steps, _trainLoss, _opt.Lr, report));
    }

    /// <inheritdoc/>
    protected override bool EvaluatesAfter(int step) => step % _o.EvalEvery == 0 || step == _o.Steps;

    /// <inheritdoc/>
    protected override bool SavesAfter(int step) => step % _o.CheckpointEvery == 0 || step == _o.Steps;

    /// <inheritdoc/>
    protected override void Evaluate(int step)
    {
        var tb = TensorBoard;
        var rates = tb is null ? null : new Dictionary<string, double>();
        var (val, report) = EvaluateValidation(_model, _corpus.Validation, _o.SeqLen, _o.BatchSize, _o.EvalBatches,
            _o.Device, rates);
        if (double.IsNaN(FirstValidationLoss)) FirstValidationLoss = val;
        ValidationLoss = val;
        double elapsed = _elapsedBefore + _clock.Elapsed.TotalSeconds, bpc = BigramBaseline.BitsPerChar(val);
        string train = double.IsNaN(_trainLoss) ? "  -   " : Inv(_trainLoss, "F4");
        Log(Inv($"step {step,5}  train {train}  val {val:F4} nats = {bpc:F3} bpc  (bigram {BigramLoss:F4})  ") +
            Inv($"lr {_opt.Lr:G3}  {elapsed:F0}s"));
        Log("  " + report.Summary());
        if (tb is not null)
        {
            tb.AddScalar("loss/val", val, step);
            tb.AddScalar("bpc/val", bpc, step);
            tb.AddScalar("lr", _opt.Lr, step);
            tb.AddScalar("efficiency/mean_input_rate", report.MeanRate, step);
            foreach (var (layer, rate) in rates!) tb.AddScalar($"firing_rate/{layer}", rate, step);
        }
        Metrics.Append(Inv(step), Inv(_trainLoss, "G6"), Inv(val, "G6"), Inv(bpc, "G6"), Inv(BigramLoss, "G6"),
            Inv(_opt.Lr, "G6"), Inv(report.MeanRate, "G6"), Inv(report.DenseMacs, "G6"), Inv(report.Macs, "G6"),
            Inv(report.Accumulates, "G6"), Inv(elapsed, "F1"));
    }

    /// <inheritdoc/>
    protected override void AddSaveMetadata(int step, IDictionary<string, string> metadata)
    {
        metadata["eval_every"] = Inv(_o.EvalEvery);
        metadata["checkpoint_every"] = Inv(_o.CheckpointEvery);
        metadata["train_loss"] = Inv(_trainLoss, "R");
        metadata["val_loss"] = Inv(ValidationLoss, "R");
        metadata["first_val_loss"] = Inv(FirstValidationLoss, "R");
        metadata["elapsed_s"] = Inv(_elapsedBefore + _clock.Elapsed.TotalSeconds, "R");
    }

    /// <inheritdoc/>
    protected override CheckpointInfo Save(int step, Module model, Optimizer optimizer,
        IDictionary<string, string> metadata) =>
        SpikingLmCheckpoint.Save(_o.OutDir, _model, _corpus.Vocabulary, new Dictionary<string, object>
        {
            ["text"] = _corpus.Source, ["seq_len"] = _o.SeqLen, ["batch_size"] = _o.BatchSize, ["steps"] = _o.Steps,
            ["lr"] = _o.Lr, ["seed"] = _o.Seed, ["step"] = step, ["val_loss"] = ValidationLoss,
            ["bigram_val_loss"] = BigramLoss,
        }, step, optimizer, metadata, _o.KeepCheckpoints);

    /// <summary>
    /// Mean validation loss over fixed windows (the same every evaluation) and the efficiency report of the first
    /// batch; the model is back in training mode after.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="valIds">The validation split.</param>
    /// <param name="seqLen">Window length.</param>
    /// <param name="batchSize">Windows per batch.</param>
    /// <param name="batches">Batches to average (at least 1).</param>
    /// <param name="device">Where the model runs.</param>
    /// <param name="firingRates">When given, filled with the firing rate of every spiking layer in the first
    /// validation batch (the one the efficiency report reads), by the layer's dotted name.</param>
    public static (double Loss, EfficiencyReport Report) EvaluateValidation(SpikingLanguageModel model, int[] valIds,
        int seqLen, int batchSize, int batches, Device device, IDictionary<string, double>? firingRates = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(valIds);
        var rng = new Random(12345);
        double sum = 0;
        batches = Math.Max(1, batches);
        EfficiencyReport? report = null;
        model.Eval();
        model.TrackFiringRates(true);
        using (Autograd.Tape.NoGrad())
            for (int i = 0; i < batches; i++)
            {
                using var scope = TensorScope.Begin();
                model.ResetState();
                var (x, y) = TextCorpus.SampleBatch(valIds, seqLen, batchSize, rng);
                var logits = model.Forward(Tensor.FromArray(x, new[] { seqLen, batchSize }, device));
                sum += Tensor.CrossEntropy(logits.Reshape(-1, model.Config.VocabSize),
                    Tensor.FromArray(y, null, device)).Item();
                if (i > 0) continue;
                report = model.Efficiency();
                if (firingRates is not null)
                    foreach (var (name, m) in model.NamedModules())
                        if (m is INeuronLayer { FiringRate: { } rate }) firingRates[name] = rate.Item();
            }
        model.TrackFiringRates(false);
        model.Train();
        return (sum / batches, report!);
    }
}
