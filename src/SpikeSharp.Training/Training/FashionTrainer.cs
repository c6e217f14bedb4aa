using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Training;

/// <summary>Settings of a Fashion-MNIST training run.</summary>
public sealed record FashionTrainOptions
{
    public FashionModelKind Model { get; init; } = FashionModelKind.Mlp;
    public int Epochs { get; init; } = 2;
    public int BatchSize { get; init; } = 128;
    /// <summary>Time steps T per sample (the command line's <c>--time-steps</c>, <c>-T</c>).</summary>
    public int TimeSteps { get; init; } = 4;
    /// <summary>The former name of <see cref="TimeSteps"/>, kept so that existing code compiles.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public int Steps { get => TimeSteps; init => TimeSteps = value; }
    public float Lr { get; init; } = 1e-3f;
    public EncodingKind Encoding { get; init; } = EncodingKind.Direct;
    public string? DataRoot { get; init; }
    public string OutDir { get; init; } = "runs/fashion-mnist";
    /// <summary>
    /// Continue the run in <see cref="OutDir"/> from its newest complete checkpoint. The run's configuration must
    /// match the checkpoint's (<see cref="FashionRunConfig.Read"/> gives it); <see cref="Epochs"/> may differ.
    /// </summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Replace a run already in <see cref="OutDir"/>; without it (or <see cref="Resume"/>) a run there is refused.
    /// </summary>
    public bool Overwrite { get; init; }
    /// <summary>Complete checkpoints kept in OutDir/checkpoints, the newest included (at least 1).</summary>
    public int KeepCheckpoints { get; init; } = Checkpoint.DefaultKeep;
    public ulong Seed { get; init; }
    public Device Device { get; init; } = Device.Default;
    /// <summary>Use only the first N training samples (tests, smoke runs).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Use only the first N test samples.</summary>
    public int? TestLimit { get; init; }
    /// <summary>Read the running loss back to the host every this many steps (for the progress display).</summary>
    public int ReportEvery { get; init; } = 25;
    /// <summary>
    /// Epochs to use instead of <see cref="Epochs"/> when only the bundled 4,000-image sample is available (a small
    /// set needs more passes); null keeps <see cref="Epochs"/>. The CLI sets it when --epochs is not given.
    /// </summary>
    public int? SampleEpochs { get; init; }
    /// <summary>Stop after this many epochs in this invocation (the schedule still spans <see cref="Epochs"/>); resume later.</summary>
    public int? StopAfter { get; init; }
    /// <summary>Write PNG plots at the end.</summary>
    public bool Plots { get; init; } = true;
    /// <summary>
    /// Directory for TensorBoard event files (the command line's <c>--tensorboard</c>), or null for none: per epoch
    /// the losses, accuracies, learning rate, time, the firing rate of every neuron layer (on the test set) and
    /// histograms of the parameters; the running training loss and accuracy whenever progress is reported. Every step
    /// axis counts optimiser steps.
    /// </summary>
    public string? TensorBoardDir { get; init; }

    /// <summary>Validates every field; throws naming the first bad one.</summary>
    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), $"--epochs must be positive, got {Epochs}");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), $"--batch-size must be positive, got {BatchSize}");
        if (TimeSteps <= 0) throw new ArgumentOutOfRangeException(nameof(TimeSteps), $"--time-steps (T) must be positive, got {TimeSteps}");
        if (!(Lr > 0) || float.IsInfinity(Lr)) throw new ArgumentOutOfRangeException(nameof(Lr), $"--lr must be a positive number, got {Lr}");
        if (SampleEpochs is <= 0) throw new ArgumentOutOfRangeException(nameof(SampleEpochs), $"sample epochs must be positive, got {SampleEpochs}");
        if (StopAfter is <= 0) throw new ArgumentOutOfRangeException(nameof(StopAfter), $"--stop-after must be positive, got {StopAfter}");
        if (string.IsNullOrWhiteSpace(OutDir)) throw new ArgumentException("--out must name a directory", nameof(OutDir));
        if (Resume && Overwrite)
            throw new ArgumentException(
                "--resume continues the run in --out and --overwrite deletes it: give one of them", nameof(Overwrite));
        if (KeepCheckpoints < 1)
            throw new ArgumentOutOfRangeException(
                nameof(KeepCheckpoints), $"checkpoints to keep must be at least 1, got {KeepCheckpoints}");
        if (TensorBoardDir is { } tb && string.IsNullOrWhiteSpace(tb))
            throw new ArgumentException("--tensorboard must name a directory", nameof(TensorBoardDir));
    }
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

    /// <summary>The configuration of the newest complete checkpoint of the run in <paramref name="outDir"/>.</summary>
    /// <param name="outDir">The run directory.</param>
    /// <param name="warn">Told about damaged saves passed over.</param>
    /// <exception cref="IOException">No such directory, or no complete checkpoint in it (the message says which).
    /// </exception>
    /// <exception cref="InvalidDataException">The checkpoint is not a Fashion-MNIST classifier's, or is malformed.
    /// </exception>
    public static FashionRunConfig Read(string outDir, Action<string>? warn = null)
    {
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
        };
    }
}

/// <summary>Progress of a run, reported to the caller (the CLI draws a progress bar from it).</summary>
public readonly record struct TrainProgress(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss, double Accuracy, double SamplesPerSecond);

/// <summary>One epoch's results.</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy, double Seconds, double SamplesPerSecond);

/// <summary>Trains a spiking classifier on Fashion-MNIST: data, model, loop, evaluation, checkpoints, metrics and plots.</summary>
public sealed class FashionTrainer
{
    private readonly FashionTrainOptions _o;
    private readonly Action<string> _log;
    private int _epochs;
    private TensorBoardWriter? _tb;

    public FashionTrainer(FashionTrainOptions options, Action<string>? log = null)
    {
        options.Validate();
        _o = options;
        _log = log ?? (_ => { });
    }

    /// <summary>Called after every reported step.</summary>
    public event Action<TrainProgress>? Progress;

    /// <summary>
    /// Which steps of an epoch raise <see cref="Progress"/> (each reads the running loss back, a sync); default
    /// every <see cref="FashionTrainOptions.ReportEvery"/> steps. A log wants <see cref="ProgressReporter.ForLog"/>.
    /// </summary>
    public ProgressReporter? ProgressSchedule { get; set; }

        /// <summary>Results of every epoch of the run (epochs before a resume are read back from metrics.csv).</summary>
    public List<EpochResult> History { get; } = new();

    /// <summary>The last checkpoint this run saved (or resumed from, if it saved none); null before.</summary>
    public CheckpointInfo? LastCheckpoint { get; private set; }

    private static readonly string[] MetricsColumns =
        { "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_s", "lr" };

    /// <summary>Runs the whole training; returns the final test accuracy.</summary>
    /// <exception cref="IOException">--out holds a run and neither Resume nor Overwrite is set, or Resume finds no
    /// complete checkpoint.</exception>
    /// <exception cref="ArgumentException">Resume with a configuration other than the checkpoint's (the message names
    /// the option, the saved value and the given one).</exception>
    public double Run()
    {
        FashionRunConfig? saved = null;
        if (_o.Resume)
        {
            saved = FashionRunConfig.Read(_o.OutDir, _log);
            CheckCompatible(saved);
        }
        else RunDirectory.PrepareNew(_o.OutDir, _o.Overwrite);

        var data = FashionMnist.Load(_o.DataRoot, _log);
        _epochs = data.IsBundledSample && _o.SampleEpochs is int se ? se : _o.Epochs;
        if (data.IsBundledSample) _log($"using the bundled Fashion-MNIST sample (4000 train / 1000 test images), {_epochs} epochs: install dataset-fashion-mnist or pass --data for the full set");
        var train = ArrayDataset.FromBytes(data.TrainImages, data.TrainLabels.Select(b => (int)b).ToArray(), new[] { 1, 28, 28 });
        var test = ArrayDataset.FromBytes(data.TestImages, data.TestLabels.Select(b => (int)b).ToArray(), new[] { 1, 28, 28 });
        if (_o.TrainLimit is int tl) train = train.Take(tl);
        if (_o.TestLimit is int el) test = test.Take(el);
        if (_o.BatchSize > train.Count)
            throw new ArgumentException($"--batch-size {_o.BatchSize} is larger than the training set ({train.Count} samples)", "batch-size");

        var modelGen = new Generator(_o.Seed);
        var encGen = new Generator(_o.Seed + 1);
        using var model = FashionModels.Create(_o.Model, modelGen, _o.Device);
        var loader = new DataLoader(train, _o.BatchSize, shuffle: true, dropLast: true, seed: _o.Seed, device: _o.Device);
        var testLoader = new DataLoader(test, Math.Min(_o.BatchSize, test.Count), shuffle: false, device: _o.Device);
        using var opt = new Adam(model.NamedParameters(), _o.Lr);
        var sched = new CosineLr(opt, _epochs * loader.BatchCount);
        int startEpoch = 0;
        string metricsPath = Path.Combine(_o.OutDir, "metrics.csv");
        MetricsCsv csv;
        if (saved != null)
        {
            if (saved.TrainSamples is int n && n != train.Count)
                throw new InvalidDataException(
                    $"--resume: the run in {_o.OutDir} trained on {n} samples, this one has {train.Count} (other " +
                    "data, or the bundled sample instead of the full set?); resume with the same --data");
            if (saved.Epochs is int e && e != _epochs)
                _log($"--epochs {_epochs}: the run was started with {e} epochs; its cosine learning-rate schedule " +
                     $"now spans {_epochs}, so the rate changes from epoch {saved.CompletedEpochs + 1} on");
            var meta = Checkpoint.Load(saved.Checkpoint.Directory, model, opt, _log).Metadata;
            LastCheckpoint = saved.Checkpoint;
            startEpoch = saved.CompletedEpochs;
            modelGen.Offset = ulong.Parse(meta["model_rng_offset"], CultureInfo.InvariantCulture);
            encGen.Offset = ulong.Parse(meta["encoder_rng_offset"], CultureInfo.InvariantCulture);
            sched.LastStep = startEpoch * loader.BatchCount;
            sched.Apply();
            loader.Epoch = startEpoch;
            // Rows after the checkpoint belong to epochs about to run again (a kill between a row and its save).
            csv = new MetricsCsv(metricsPath, MetricsColumns);
            int dropped = csv.TruncateAfter("epoch", startEpoch);
            History.AddRange(csv.ReadRows().Select(ParseRow));
            _log($"resumed from {saved.Checkpoint.Directory} after epoch {startEpoch}" +
                 (dropped > 0 ? $" (dropped {dropped} row(s) of metrics.csv written after that checkpoint)" : ""));
            if (startEpoch >= _epochs)
                _log($"the run already completed {startEpoch} of {_epochs} epochs; " +
                     "pass a larger --epochs to train further");
        }
        else csv = new MetricsCsv(metricsPath, MetricsColumns, overwrite: true);

        int endEpoch = _o.StopAfter is int stop ? Math.Min(_epochs, startEpoch + stop) : _epochs;
        using var tb = _tb = _o.TensorBoardDir is { } tbDir ? new TensorBoardWriter(tbDir) : null;
        for (int epoch = startEpoch; epoch < endEpoch; epoch++)
        {
            var sw = Stopwatch.StartNew();
            var (trLoss, trAcc) = TrainEpoch(model, opt, sched, loader, encGen, epoch);
            double secs = sw.Elapsed.TotalSeconds;
            var rates = tb is null ? null : new Dictionary<string, double>();
            var (teLoss, teAcc) = Evaluate(model, testLoader, encGen, rates);
            var r = new EpochResult(epoch + 1, trLoss, trAcc, teLoss, teAcc, secs, loader.BatchCount * _o.BatchSize / secs);
            History.Add(r);
            if (tb is not null) LogEpoch(tb, model, r, opt.Lr, rates!, (long)(epoch + 1) * loader.BatchCount);
            csv.Append(r.Epoch, r.TrainLoss, r.TrainAccuracy, r.TestLoss, r.TestAccuracy, r.Seconds, r.SamplesPerSecond, opt.Lr);
            _log($"epoch {r.Epoch}/{_epochs}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:F4} | test loss {r.TestLoss:F4} acc {r.TestAccuracy:F4} | {r.Seconds:F1} s, {r.SamplesPerSecond:F0} samples/s");
            LastCheckpoint = Checkpoint.Save(_o.OutDir, $"epoch-{epoch + 1}", model, opt, new Dictionary<string, string>
            {
                ["kind"] = FashionRunConfig.Kind,
                ["model"] = FashionModels.Name(_o.Model),
                ["epoch"] = Inv(epoch + 1),
                ["epochs"] = Inv(_epochs),
                ["time_steps"] = Inv(_o.TimeSteps),
                ["encoding"] = _o.Encoding.ToString(),
                ["batch_size"] = Inv(_o.BatchSize),
                ["lr"] = Inv(_o.Lr, "R"),
                ["seed"] = Inv(_o.Seed),
                ["train_limit"] = _o.TrainLimit is int tlim ? Inv(tlim) : "",
                ["train_samples"] = Inv(train.Count),
                ["model_rng_offset"] = Inv(modelGen.Offset),
                ["encoder_rng_offset"] = Inv(encGen.Offset),
                ["test_accuracy"] = Inv(teAcc, "R"),
            }, keep: _o.KeepCheckpoints);
        }
        if (_o.Plots) TrainingPlots.Write(Path.Combine(_o.OutDir, "plots"), History, model, test, _o, encGen);
        return History.Count > 0 ? History[^1].TestAccuracy : double.NaN;
    }

    // The epoch's scalars and the parameter histograms, at the step count reached (the test set gave the rates).
    private static void LogEpoch(TensorBoardWriter tb, Module model, EpochResult r, double lr,
        Dictionary<string, double> rates, long step)
    {
        tb.AddScalar("loss/train", r.TrainLoss, step);
        tb.AddScalar("loss/test", r.TestLoss, step);
        tb.AddScalar("accuracy/train", r.TrainAccuracy, step);
        tb.AddScalar("accuracy/test", r.TestAccuracy, step);
        tb.AddScalar("lr", lr, step);
        tb.AddScalar("epoch", r.Epoch, step);
        tb.AddScalar("time/epoch_seconds", r.Seconds, step);
        tb.AddScalar("time/samples_per_second", r.SamplesPerSecond, step);
        foreach (var (layer, rate) in rates) tb.AddScalar($"firing_rate/{layer}", rate, step);
        foreach (var (name, p) in model.NamedParameters())
            tb.AddHistogram($"parameters/{name}", p.ToArray<float>(), step);
    }

    private static string Inv(IFormattable v, string? format = null) =>
        v.ToString(format, CultureInfo.InvariantCulture);

    private static EpochResult ParseRow(string[] r)
    {
        double D(int i) => double.Parse(r[i], CultureInfo.InvariantCulture);
        return new EpochResult((int)D(0), D(1), D(2), D(3), D(4), D(5), D(6));
    }

    // Everything that shapes the trajectory must match the checkpoint; only the epoch count may change (a warning).
    private void CheckCompatible(FashionRunConfig saved)
    {
        string dir = saved.Checkpoint.Directory;
        void Same<T>(string option, T? was, T now, Func<T, string> show) where T : struct
        {
            if (was is T w && !EqualityComparer<T>.Default.Equals(w, now))
                throw new ArgumentException(
                    $"--resume: {option} {show(now)} differs from the run in {_o.OutDir}, which was trained with " +
                    $"{option} {show(w)} (checkpoint {dir}); leave {option} out to continue with the saved value, " +
                    "or start a new run with --overwrite or another --out", option.TrimStart('-'));
        }
        Same("--model", saved.Model, _o.Model, FashionModels.Name);
        Same("--time-steps", saved.TimeSteps, _o.TimeSteps, v => Inv(v));
        Same("--encoding", saved.Encoding, _o.Encoding, v => v.ToString().ToLowerInvariant());
        Same("--batch-size", saved.BatchSize, _o.BatchSize, v => Inv(v));
        Same("--lr", saved.Lr, _o.Lr, v => v.ToString("R", CultureInfo.InvariantCulture));
        Same("--seed", saved.Seed, _o.Seed, v => Inv(v));
        if (saved.TrainLimitKnown)
            Same("--train-limit", saved.TrainLimit ?? -1, _o.TrainLimit ?? -1, v => v < 0 ? "(none)" : Inv(v));
    }

    private Tensor Loss(Tensor outT, Tensor y)
    {
        // outT: (T, B, 10) → time average (B, 10)
        var avg = outT.Mean(0);
        if (FashionModels.UsesRateMse(_o.Model))
        {
            using var onehot = Tensor.OneHot(y, 10);
            return Tensor.Mse(avg, onehot);
        }
        return Tensor.CrossEntropy(avg, y);
    }

    private (double loss, double acc) TrainEpoch(Module model, Optimizer opt, LrScheduler sched, DataLoader loader, Generator encGen, int epoch)
    {
        model.Train();
        using var lossSum = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        using var correct = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        int step = 0, seen = 0;
        var sw = Stopwatch.StartNew();
        var progress = ProgressSchedule ??= ProgressReporter.EverySteps(_o.ReportEvery);
        progress.Start(loader.BatchCount);
        foreach (var (x, y) in loader.Batches())
        {
            using var scope = TensorScope.Begin();
            model.ResetState();
            var xt = Encoders.Encode(x, _o.TimeSteps, _o.Encoding, encGen);
            var outT = model.Forward(xt);
            var loss = Loss(outT, y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            sched.Step();
            using (Tape.NoGrad())
            {
                AccumulateInto(lossSum, loss.Reshape(1));
                using var c = Functional.Correct(outT, y);
                AccumulateInto(correct, c);
            }
            step++; seen += y.Size(0);
            if (progress.Report(step))
            {
                // The only host reads of the step, as often as progress is reported.
                double runningLoss = lossSum.Item() / step, runningAcc = correct.Item() / seen;
                Progress?.Invoke(new TrainProgress(epoch + 1, _epochs, step, loader.BatchCount, runningLoss, runningAcc,
                    seen / sw.Elapsed.TotalSeconds));
                long global = (long)epoch * loader.BatchCount + step;
                _tb?.AddScalar("loss/train_running", runningLoss, global);
                _tb?.AddScalar("accuracy/train_running", runningAcc, global);
            }
        }
        return (lossSum.Item() / Math.Max(1, step), correct.Item() / Math.Max(1, seen));
    }

    // The value only (the sum is a statistic, not part of the graph), in the accumulator's shape (a scalar into [1]).
    internal static void AccumulateInto(Tensor acc, Tensor v)
    {
        using var detached = v.Detach();
        using var value = detached.Reshape(acc.Shape);
        acc.AddInPlace(value);
    }

    /// <summary>Mean loss and accuracy on a dataset, without gradients.</summary>
    /// <param name="model">The network (set to evaluation mode).</param>
    /// <param name="loader">The batches.</param>
    /// <param name="encGen">The encoder's generator.</param>
    /// <param name="firingRates">When given, filled with the mean firing rate of every neuron layer over the batches,
    /// by the layer's dotted name (summed on the device, read once at the end).</param>
    public (double loss, double acc) Evaluate(Module model, DataLoader loader, Generator encGen,
        IDictionary<string, double>? firingRates = null)
    {
        model.Eval();
        using var _ = Tape.NoGrad();
        using var lossSum = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        using var correct = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        var neurons = firingRates is null ? new List<(string, INeuronLayer, bool)>()
            : model.NamedModules().Where(m => m.Module is INeuronLayer)
                .Select(m => (m.Name, (INeuronLayer)m.Module, ((INeuronLayer)m.Module).TrackFiringRate)).ToList();
        var rateSums = neurons.Select(_ => Tensor.Zeros(new[] { 1 }, _o.Device).Persist()).ToList();
        foreach (var (_, layer, _) in neurons) layer.TrackFiringRate = true;
        int batches = 0, seen = 0;
        try
        {
            foreach (var (x, y) in loader.Batches())
            {
                using var scope = TensorScope.Begin();
                model.ResetState();
                var outT = model.Forward(Encoders.Encode(x, _o.TimeSteps, _o.Encoding, encGen));
                AccumulateInto(lossSum, Loss(outT, y).Reshape(1));
                AccumulateInto(correct, Functional.Correct(outT, y));
                for (int i = 0; i < neurons.Count; i++)
                    if (neurons[i].Item2.FiringRate is { } rate) AccumulateInto(rateSums[i], rate.Reshape(1));
                batches++; seen += y.Size(0);
            }
            for (int i = 0; i < neurons.Count; i++)
                firingRates![neurons[i].Item1.Length == 0 ? "model" : neurons[i].Item1] =
                    rateSums[i].Item() / Math.Max(1, batches);
        }
        finally
        {
            foreach (var (_, layer, was) in neurons) layer.TrackFiringRate = was;
            foreach (var t in rateSums) t.Dispose();
        }
        return (lossSum.Item() / Math.Max(1, batches), correct.Item() / Math.Max(1, seen));
    }
}
