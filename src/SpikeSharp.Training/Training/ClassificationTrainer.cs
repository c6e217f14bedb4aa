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
/// Trains a spiking classifier of any <see cref="ClassificationTask"/>: data, model, loop (Adam, cosine schedule),
/// evaluation, checkpoints with resume, metrics.csv, TensorBoard and plots.
/// </summary>
public class ClassificationTrainer
{
    private readonly ClassificationTrainOptions _o;
    private readonly ClassificationTask _task;
    private readonly Action<string> _log;
    private int _epochs;
    private TensorBoardWriter? _tb;
    private ImageAugmentation _augment = ImageAugmentation.None;

    /// <summary>Creates a trainer; the options are validated first.</summary>
    public ClassificationTrainer(ClassificationTrainOptions options, ClassificationTask task, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _o = options;
        _task = task ?? throw new ArgumentNullException(nameof(task));
        _log = log ?? (_ => { });
    }

    /// <summary>Called after every reported step.</summary>
    public event Action<TrainProgress>? Progress;

    /// <summary>
    /// Which steps of an epoch raise <see cref="Progress"/> (each reads the running loss back, a sync); default
    /// every <see cref="ClassificationTrainOptions.ReportEvery"/> steps. A log wants <see cref="ProgressReporter.ForLog"/>.
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
        CheckpointInfo? saved = null;
        if (_o.Resume)
        {
            saved = RunDirectory.FindResumable(_o.OutDir, _log);
            // Not given: continue as the run was trained (checkpoints older than the setting had none).
            _augment = _o.Augment ?? (saved.Metadata.TryGetValue("augment", out var a)
                ? ImageAugmentation.Parse(a) : ImageAugmentation.None);
            CheckCompatible(saved);
        }
        else
        {
            _augment = _o.Augment ?? _task.DefaultAugment;
            RunDirectory.PrepareNew(_o.OutDir, _o.Overwrite);
        }

        var data = _task.Load(_log);
        _epochs = data.IsBundledSample && _o.SampleEpochs is int se ? se : _o.Epochs;
        ILabelledDataset train = data.Train, test = data.Test;
        if (_o.TrainLimit is int tl) train = train.Take(tl);
        if (_o.TestLimit is int el) test = test.Take(el);
        if (_o.BatchSize > train.Count)
            throw new ArgumentException($"--batch-size {_o.BatchSize} is larger than the training set ({train.Count} samples)", "batch-size");
        if (test.Count == 0) throw new InvalidDataException($"{_task.Title}: the test set is empty");

        var modelGen = new Generator(_o.Seed);
        var encGen = new Generator(_o.Seed + 1);
        using var model = _task.CreateModel(modelGen, _o.Device);
        var loader = new DataLoader(train, _o.BatchSize, shuffle: true, dropLast: true, seed: _o.Seed,
            device: _o.Device) { Transform = _augment.For(train.SampleShape) };
        if (!_augment.IsNone) _log($"training images augmented: {_augment}");
        var testLoader = new DataLoader(test, Math.Min(_o.BatchSize, test.Count), shuffle: false, device: _o.Device);
        using var opt = new Adam(model.NamedParameters(), _o.Lr);
        var sched = new CosineLr(opt, _epochs * loader.BatchCount);
        int startEpoch = 0;
        string metricsPath = Path.Combine(_o.OutDir, "metrics.csv");
        MetricsCsv csv;
        if (saved != null)
        {
            var m = saved.Metadata;
            if (m.TryGetValue("train_samples", out var ns) && int.TryParse(ns, CultureInfo.InvariantCulture, out int n)
                && n != train.Count)
                throw new InvalidDataException(
                    $"--resume: the run in {_o.OutDir} trained on {n} samples, this one has {train.Count} (other " +
                    "data, or the bundled sample instead of the full set?); resume with the same --data");
            if (m.TryGetValue("epochs", out var es) && int.TryParse(es, CultureInfo.InvariantCulture, out int e)
                && e != _epochs)
                _log($"--epochs {_epochs}: the run was started with {e} epochs; its cosine learning-rate schedule " +
                     $"now spans {_epochs}, so the rate changes from epoch {Completed(saved) + 1} on");
            var meta = Checkpoint.Load(saved.Directory, model, opt, _log).Metadata;
            LastCheckpoint = saved;
            startEpoch = Completed(saved);
            modelGen.Offset = ulong.Parse(meta["model_rng_offset"], CultureInfo.InvariantCulture);
            encGen.Offset = ulong.Parse(meta["encoder_rng_offset"], CultureInfo.InvariantCulture);
            sched.LastStep = startEpoch * loader.BatchCount;
            sched.Apply();
            loader.Epoch = startEpoch;
            // Rows after the checkpoint belong to epochs about to run again (a kill between a row and its save).
            csv = new MetricsCsv(metricsPath, MetricsColumns);
            int dropped = csv.TruncateAfter("epoch", startEpoch);
            History.AddRange(csv.ReadRows().Select(ParseRow));
            _log($"resumed from {saved.Directory} after epoch {startEpoch}" +
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
            var metadata = new Dictionary<string, string>
            {
                ["kind"] = _task.Kind,
                ["epoch"] = Inv(epoch + 1),
                ["epochs"] = Inv(_epochs),
                ["train_samples"] = Inv(train.Count),
                ["model_rng_offset"] = Inv(modelGen.Offset),
                ["encoder_rng_offset"] = Inv(encGen.Offset),
                ["test_accuracy"] = Inv(teAcc, "R"),
            };
            foreach (var s in AllSettings()) metadata[s.Key] = s.Value;
            LastCheckpoint = Checkpoint.Save(_o.OutDir, $"epoch-{epoch + 1}", model, opt, metadata,
                keep: _o.KeepCheckpoints);
        }
        if (_o.Plots)
            TrainingPlots.Write(Path.Combine(_o.OutDir, "plots"), History, model, test,
                $"{_task.Title}, {_task.ModelName}", x => Input(x, encGen), _o.Device);
        return History.Count > 0 ? History[^1].TestAccuracy : double.NaN;
    }

    private static int Completed(CheckpointInfo saved) =>
        saved.Metadata.TryGetValue("epoch", out var v) && int.TryParse(v, CultureInfo.InvariantCulture, out int e)
            ? e
            : throw new InvalidDataException($"--resume: the checkpoint in {saved.Directory} does not record its epoch");

    // The settings every checkpoint records, then the recipe's own; all of them must match on resume.
    private IEnumerable<RunSetting> AllSettings()
    {
        yield return new RunSetting("--model", "model", _task.ModelName);
        yield return new RunSetting("--time-steps", "time_steps", Inv(_o.TimeSteps));
        if (_task.UsesEncoding)
            yield return new RunSetting("--encoding", "encoding", _o.Encoding.ToString(), v => v.ToLowerInvariant(),
                (a, b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase));
        yield return new RunSetting("--batch-size", "batch_size", Inv(_o.BatchSize));
        yield return new RunSetting("--lr", "lr", Inv(_o.Lr, "R"), null, (a, b) =>
            float.TryParse(a, CultureInfo.InvariantCulture, out var x) && float.TryParse(b, CultureInfo.InvariantCulture, out var y)
                ? x == y : a == b);
        yield return new RunSetting("--seed", "seed", Inv(_o.Seed));
        yield return new RunSetting("--train-limit", "train_limit", _o.TrainLimit is int t ? Inv(t) : "",
            v => v.Length == 0 ? "(none)" : v);
        yield return new RunSetting("--augment", "augment", _augment.ToString());
        foreach (var s in _task.Settings()) yield return s;
    }

    // Everything that shapes the trajectory must match the checkpoint; only the epoch count may change (a warning).
    private void CheckCompatible(CheckpointInfo saved)
    {
        var m = saved.Metadata;
        if (!m.TryGetValue("kind", out var kind) || kind != _task.Kind)
            throw new InvalidDataException(
                $"--resume: the checkpoint in {_o.OutDir} is not a {_task.Title} classifier (kind '{kind}')");
        foreach (var s in AllSettings())
        {
            // Checkpoints of earlier versions may lack a key (or name T "steps"): nothing to compare then.
            if (!m.TryGetValue(s.Key, out var was) && !(s.Key == "time_steps" && m.TryGetValue("steps", out was)))
                continue;
            if ((s.Same ?? string.Equals)(was, s.Value)) continue;
            var show = s.Show ?? (v => v);
            throw new ArgumentException(
                $"--resume: {s.Option} {show(s.Value)} differs from the run in {_o.OutDir}, which was trained with " +
                $"{s.Option} {show(was)} (checkpoint {saved.Directory}); leave {s.Option} out to continue with the " +
                "saved value, or start a new run with --overwrite or another --out", s.Option.TrimStart('-'));
        }
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
                _tb?.AddScalar("loss/train_running", runningLoss, global);
                _tb?.AddScalar("accuracy/train_running", runningAcc, global);
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
