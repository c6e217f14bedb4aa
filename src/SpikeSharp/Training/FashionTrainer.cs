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
    /// <summary>Time steps T per sample.</summary>
    public int Steps { get; init; } = 4;
    public float Lr { get; init; } = 1e-3f;
    public EncodingKind Encoding { get; init; } = EncodingKind.Direct;
    public string? DataRoot { get; init; }
    public string OutDir { get; init; } = "runs/fashion-mnist";
    public bool Resume { get; init; }
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

    /// <summary>Validates every field; throws naming the first bad one.</summary>
    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), $"--epochs must be positive, got {Epochs}");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), $"--batch-size must be positive, got {BatchSize}");
        if (Steps <= 0) throw new ArgumentOutOfRangeException(nameof(Steps), $"--steps (T) must be positive, got {Steps}");
        if (!(Lr > 0) || float.IsInfinity(Lr)) throw new ArgumentOutOfRangeException(nameof(Lr), $"--lr must be a positive number, got {Lr}");
        if (SampleEpochs is <= 0) throw new ArgumentOutOfRangeException(nameof(SampleEpochs), $"sample epochs must be positive, got {SampleEpochs}");
        if (StopAfter is <= 0) throw new ArgumentOutOfRangeException(nameof(StopAfter), $"--stop-after must be positive, got {StopAfter}");
        if (string.IsNullOrWhiteSpace(OutDir)) throw new ArgumentException("--out must name a directory", nameof(OutDir));
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

    /// <summary>Results of every epoch run (including resumed ones loaded from metrics).</summary>
    public List<EpochResult> History { get; } = new();

    /// <summary>Runs the whole training; returns the final test accuracy.</summary>
    public double Run()
    {
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
        var testLoader = new DataLoader(test, Math.Min(256, test.Count), shuffle: false, device: _o.Device);
        using var opt = new Adam(model.NamedParameters(), _o.Lr);
        var sched = new CosineLr(opt, _epochs * loader.BatchCount);
        int startEpoch = 0;
        Directory.CreateDirectory(_o.OutDir);
        string metricsPath = Path.Combine(_o.OutDir, "metrics.csv");

        if (_o.Resume && File.Exists(Path.Combine(_o.OutDir, Checkpoint.ModelFile)))
        {
            CheckCompatible(Checkpoint.ReadMetadata(_o.OutDir));
            var meta = Checkpoint.Load(_o.OutDir, model, opt);
            startEpoch = int.Parse(meta["epoch"], CultureInfo.InvariantCulture);
            modelGen.Offset = ulong.Parse(meta["model_rng_offset"], CultureInfo.InvariantCulture);
            encGen.Offset = ulong.Parse(meta["encoder_rng_offset"], CultureInfo.InvariantCulture);
            sched.LastStep = startEpoch * loader.BatchCount;
            sched.Apply();
            loader.Epoch = startEpoch;
            _log($"resumed from {_o.OutDir} after epoch {startEpoch}");
        }
        else if (File.Exists(metricsPath)) File.Delete(metricsPath);

        var csv = new MetricsCsv(metricsPath, new[] { "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_s", "lr" });
        int endEpoch = _o.StopAfter is int stop ? Math.Min(_epochs, startEpoch + stop) : _epochs;
        for (int epoch = startEpoch; epoch < endEpoch; epoch++)
        {
            var sw = Stopwatch.StartNew();
            var (trLoss, trAcc) = TrainEpoch(model, opt, sched, loader, encGen, epoch);
            double secs = sw.Elapsed.TotalSeconds;
            var (teLoss, teAcc) = Evaluate(model, testLoader, encGen);
            var r = new EpochResult(epoch + 1, trLoss, trAcc, teLoss, teAcc, secs, loader.BatchCount * _o.BatchSize / secs);
            History.Add(r);
            csv.Append(r.Epoch, r.TrainLoss, r.TrainAccuracy, r.TestLoss, r.TestAccuracy, r.Seconds, r.SamplesPerSecond, opt.Lr);
            _log($"epoch {r.Epoch}/{_epochs}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:F4} | test loss {r.TestLoss:F4} acc {r.TestAccuracy:F4} | {r.Seconds:F1} s, {r.SamplesPerSecond:F0} samples/s");
            Checkpoint.Save(_o.OutDir, model, opt, new Dictionary<string, string>
            {
                ["kind"] = "fashion-mnist-classifier",
                ["model"] = FashionModels.Name(_o.Model),
                ["epoch"] = (epoch + 1).ToString(CultureInfo.InvariantCulture),
                ["steps"] = _o.Steps.ToString(CultureInfo.InvariantCulture),
                ["encoding"] = _o.Encoding.ToString(),
                ["seed"] = _o.Seed.ToString(CultureInfo.InvariantCulture),
                ["model_rng_offset"] = modelGen.Offset.ToString(CultureInfo.InvariantCulture),
                ["encoder_rng_offset"] = encGen.Offset.ToString(CultureInfo.InvariantCulture),
                ["test_accuracy"] = teAcc.ToString("R", CultureInfo.InvariantCulture),
            });
        }
        if (_o.Plots) TrainingPlots.Write(Path.Combine(_o.OutDir, "plots"), History, model, test, _o, encGen);
        return History.Count > 0 ? History[^1].TestAccuracy : double.NaN;
    }

    private void CheckCompatible(IReadOnlyDictionary<string, string> meta)
    {
        if (!meta.TryGetValue("kind", out var kind) || kind != "fashion-mnist-classifier")
            throw new InvalidDataException($"--resume: the checkpoint in {_o.OutDir} is not a Fashion-MNIST classifier (kind '{kind}')");
        if (meta.TryGetValue("model", out var m) && m != FashionModels.Name(_o.Model))
            throw new InvalidDataException($"--resume: the checkpoint in {_o.OutDir} is a '{m}' model, this run asks for '{FashionModels.Name(_o.Model)}'");
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
            var xt = Encoders.Encode(x, _o.Steps, _o.Encoding, encGen);
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
                Progress?.Invoke(new TrainProgress(epoch + 1, _epochs, step, loader.BatchCount, lossSum.Item() / step, correct.Item() / seen, seen / sw.Elapsed.TotalSeconds));
        }
        return (lossSum.Item() / Math.Max(1, step), correct.Item() / Math.Max(1, seen));
    }

    internal static void AccumulateInto(Tensor acc, Tensor v) => acc.Backend.Map(new Kernels.AddOp(), acc.Buf, v.Buf, acc.Buf);

    /// <summary>Mean loss and accuracy on a dataset, without gradients.</summary>
    public (double loss, double acc) Evaluate(Module model, DataLoader loader, Generator encGen)
    {
        model.Eval();
        using var _ = Tape.NoGrad();
        using var lossSum = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        using var correct = Tensor.Zeros(new[] { 1 }, _o.Device).Persist();
        int batches = 0, seen = 0;
        foreach (var (x, y) in loader.Batches())
        {
            using var scope = TensorScope.Begin();
            model.ResetState();
            var outT = model.Forward(Encoders.Encode(x, _o.Steps, _o.Encoding, encGen));
            AccumulateInto(lossSum, Loss(outT, y).Reshape(1));
            AccumulateInto(correct, Functional.Correct(outT, y));
            batches++; seen += y.Size(0);
        }
        return (lossSum.Item() / Math.Max(1, batches), correct.Item() / Math.Max(1, seen));
    }
}
