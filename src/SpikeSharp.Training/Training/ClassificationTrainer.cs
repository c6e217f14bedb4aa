using System.Diagnostics;
using System.Globalization;
using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Training;

/// <summary>
/// Trains a spiking classifier of any <see cref="ClassificationTask"/> on the shared <see cref="RunTrainer"/> loop,
/// one epoch a unit: data loaders, the loss (cross-entropy or rate MSE), Adam with a cosine schedule over every
/// step, an evaluation on the test set and a checkpoint each epoch, the epoch history, plots.
/// </summary>
public class ClassificationTrainer : RunTrainer
{
    private readonly ClassificationTrainOptions _o;
    private readonly ClassificationTask _task;
    private int _epochs;
    private ILabelledDataset _train = null!, _test = null!;
    private Generator _modelGen = null!, _encGen = null!;
    private Module _model = null!;
    private Optimizer _opt = null!;
    private CosineLr _sched = null!;
    private DataLoader _loader = null!, _testLoader = null!;
    private (double Loss, double Acc, double Seconds) _epoch;
    private double _lastTestAccuracy;
    private ImageAugmentation _augment;

    /// <summary>Creates a trainer; the options are validated first.</summary>
    public ClassificationTrainer(ClassificationTrainOptions options, ClassificationTask task,
        Action<string>? log = null)
        : base(options, log)
    {
        _o = options;
        _task = task ?? throw new ArgumentNullException(nameof(task));
        _augment = options.Augment ?? task.DefaultAugment;
    }

    /// <summary>Called after every reported step.</summary>
    public event Action<TrainProgress>? Progress;

    /// <summary>Results of every epoch of the run (epochs before a resume are read back from metrics.csv).</summary>
    public List<EpochResult> History { get; } = new();

    private static readonly string[] Columns =
        { "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_s", "lr" };

    /// <inheritdoc/>
    protected override string Kind => _task.Kind;
    /// <inheritdoc/>
    protected override string KindDescription => $"a {_task.Title} classifier";
    /// <inheritdoc/>
    protected override string Unit => "epoch";
    /// <inheritdoc/>
    protected override int TotalUnits => _epochs;
    /// <inheritdoc/>
    protected override int? StopAfter => _o.StopAfter;
    /// <inheritdoc/>
    protected override IReadOnlyList<string> MetricsColumns => Columns;

    /// <summary>Runs the whole training (see <see cref="RunTrainer"/>); returns the final test accuracy.</summary>
    /// <exception cref="IOException">--out holds a run and neither Resume nor Overwrite is set, or Resume finds no
    /// complete checkpoint.</exception>
    /// <exception cref="ArgumentException">Resume with a configuration other than the checkpoint's (the message names
    /// the option, the saved value and the given one).</exception>
    public double Run()
    {
        try
        {
            RunLoop();
            return History.Count > 0 ? History[^1].TestAccuracy : double.NaN;
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
        // Not given: continue as the run was trained (checkpoints older than the setting had none).
        _augment = _o.Augment ?? (saved.Metadata.TryGetValue("augment", out var a)
            ? ImageAugmentation.Parse(a) : ImageAugmentation.None);
        return base.ResolveSettings(saved);
    }

    /// <inheritdoc/>
    protected override (Module Model, Optimizer Optimizer) Setup(CheckpointInfo? saved)
    {
        var data = _task.Load(Log);
        _epochs = data.IsBundledSample && _o.SampleEpochs is int se ? se : _o.Epochs;
        _train = data.Train;
        _test = data.Test;
        if (_o.TrainLimit is int tl) _train = _train.Take(tl);
        if (_o.TestLimit is int el) _test = _test.Take(el);
        if (_o.BatchSize > _train.Count)
            throw new ArgumentException(
                $"--batch-size {_o.BatchSize} is larger than the training set ({_train.Count} samples)", "batch-size");
        if (_test.Count == 0) throw new InvalidDataException($"{_task.Title}: the test set is empty");
        if (saved?.Metadata.TryGetValue("train_samples", out var ns) == true
            && int.TryParse(ns, CultureInfo.InvariantCulture, out int n) && n != _train.Count)
            throw new InvalidDataException(
                $"--resume: the run in {_o.OutDir} trained on {n} samples, this one has {_train.Count} (other " +
                "data, or the bundled sample instead of the full set?); resume with the same --data");
        _modelGen = new Generator(_o.Seed);
        _encGen = new Generator(_o.Seed + 1);
        _model = _task.CreateModel(_modelGen, _o.Device);
        _loader = new DataLoader(_train, _o.BatchSize, shuffle: true, dropLast: true, seed: _o.Seed,
            device: _o.Device) { Transform = _augment.For(_train.SampleShape) };
        if (!_augment.IsNone) Log($"training images augmented: {_augment}");
        _testLoader = new DataLoader(_test, Math.Min(_o.BatchSize, _test.Count), shuffle: false, device: _o.Device);
        _opt = new Adam(_model.NamedParameters(), _o.Lr);
        _sched = new CosineLr(_opt, _epochs * _loader.BatchCount);
        return (_model, _opt);
    }

    /// <inheritdoc/>
    protected override void Restored(IReadOnlyDictionary<string, string> metadata, int completed)
    {
        _modelGen.Offset = ulong.Parse(metadata["model_rng_offset"], CultureInfo.InvariantCulture);
        _encGen.Offset = ulong.Parse(metadata["encoder_rng_offset"], CultureInfo.InvariantCulture);
        _sched.LastStep = completed * _loader.BatchCount;
        _sched.Apply();
        _loader.Epoch = completed;
        History.AddRange(Metrics.ReadRows().Select(ParseRow));
    }

    /// <inheritdoc/>
    protected override void TrainUnit(int unit)
    {
        var sw = Stopwatch.StartNew();
        var (loss, acc) = TrainEpoch(_model, _opt, _sched, _loader, _encGen, unit - 1);
        _epoch = (loss, acc, sw.Elapsed.TotalSeconds);
    }

    /// <inheritdoc/>
    protected override void Evaluate(int unit)
    {
        var rates = TensorBoard is null ? null : new Dictionary<string, double>();
        var (teLoss, teAcc) = Evaluate(_model, _testLoader, _encGen, rates);
        double secs = _epoch.Seconds;
        var r = new EpochResult(unit, _epoch.Loss, _epoch.Acc, teLoss, teAcc, secs,
            _loader.BatchCount * _o.BatchSize / secs);
        History.Add(r);
        _lastTestAccuracy = teAcc;
        if (TensorBoard is { } tb) LogEpoch(tb, _model, r, _opt.Lr, rates!, (long)unit * _loader.BatchCount);
        Metrics.Append(r.Epoch, r.TrainLoss, r.TrainAccuracy, r.TestLoss, r.TestAccuracy, r.Seconds,
            r.SamplesPerSecond, _opt.Lr);
        Log($"epoch {r.Epoch}/{_epochs}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:F4} | " +
            $"test loss {r.TestLoss:F4} acc {r.TestAccuracy:F4} | {r.Seconds:F1} s, {r.SamplesPerSecond:F0} samples/s");
    }

    /// <inheritdoc/>
    protected override void AddSaveMetadata(int unit, IDictionary<string, string> metadata)
    {
        metadata["train_samples"] = Inv(_train.Count);
        metadata["model_rng_offset"] = Inv(_modelGen.Offset);
        metadata["encoder_rng_offset"] = Inv(_encGen.Offset);
        metadata["test_accuracy"] = Inv(_lastTestAccuracy, "R");
    }

    /// <inheritdoc/>
    protected override void Finished()
    {
        if (_o.Plots)
            TrainingPlots.Write(Path.Combine(_o.OutDir, "plots"), History, _model, _test,
                $"{_task.Title}, {_task.ModelName}", x => Input(x, _encGen), _o.Device);
    }

    /// <summary>The settings every checkpoint records, then the recipe's own, then the run's precision; all of them
    /// must match on resume.</summary>
    protected override IEnumerable<RunSetting> Settings()
    {
        yield return new RunSetting("--model", "model", _task.ModelName);
        yield return new RunSetting("--time-steps", "time_steps", Inv(_o.TimeSteps));
        if (_task.UsesEncoding)
            yield return new RunSetting("--encoding", "encoding", _o.Encoding.ToString(), v => v.ToLowerInvariant(),
                (a, b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase));
        yield return new RunSetting("--batch-size", "batch_size", Inv(_o.BatchSize));
        yield return new RunSetting("--lr", "lr", Inv(_o.Lr, "R"), null, SameFloat);
        yield return new RunSetting("--seed", "seed", Inv(_o.Seed));
        yield return new RunSetting("--train-limit", "train_limit", _o.TrainLimit is int t ? Inv(t) : "",
            v => v.Length == 0 ? "(none)" : v);
        yield return new RunSetting("--augment", "augment", _augment.ToString());
        foreach (var s in _task.Settings()) yield return s;
        foreach (var s in base.Settings()) yield return s;
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

    private static EpochResult ParseRow(string[] r)
    {
        double D(int i) => double.Parse(r[i], CultureInfo.InvariantCulture);
        return new EpochResult((int)D(0), D(1), D(2), D(3), D(4), D(5), D(6));
    }

    // A batch as the network takes it, (T, B, …): static images are encoded, event frames come time-major.
    private Tensor Input(Tensor x, Generator encGen) =>
        _task.UsesEncoding ? Encoders.Encode(x, _o.TimeSteps, _o.Encoding, encGen) : x;

    private Tensor Loss(Tensor outT, Tensor y)
    {
        // outT: (T, B, classes) → time average (B, classes)
        var avg = outT.Mean(0);
        if (_task.UsesRateMse)
        {
            using var onehot = Tensor.OneHot(y, _task.Classes);
            return Tensor.Mse(avg, onehot);
        }
        return Tensor.CrossEntropy(avg, y);
    }

    private (double loss, double acc) TrainEpoch(Module model, Optimizer opt, LrScheduler sched, DataLoader loader,
        Generator encGen, int epoch)
    {
        model.Train();
        using var lossSum = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        using var correct = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        int step = 0, seen = 0;
        var sw = Stopwatch.StartNew();
        var progress = ProgressSchedule ??= ProgressReporter.EverySteps(_o.ReportEvery); // steps of an epoch
        progress.Start(loader.BatchCount);
        foreach (var (x, y) in loader.Batches())
        {
            using var scope = TensorScope.Begin();
            model.ResetState();
            var outT = model.Forward(Input(x, encGen));
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
                TensorBoard?.AddScalar("loss/train_running", runningLoss, global);
                TensorBoard?.AddScalar("accuracy/train_running", runningAcc, global);
            }
        }
        return (lossSum.Item() / Math.Max(1, step), correct.Item() / Math.Max(1, seen));
    }

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
                var outT = model.Forward(Input(x, encGen));
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
