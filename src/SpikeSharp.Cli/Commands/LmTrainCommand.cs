using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;
using SpikeSharp.Text;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp train lm</c>: trains a character-level spiking language model.</summary>
internal static class LmTrainCommand
{
    /// <summary>Settings of one training run.</summary>
    /// <param name="Given">Names of the options given on the command line (without "--"); on --resume the others take
    /// the checkpoint's values. Null: all were given.</param>
    public sealed record Settings(string? Text, int Dim, int Layers, int Heads, int SeqLen, int BatchSize, int Steps, float Lr,
        string? Device, string Out, int Seed, int EvalEvery, int EvalBatches = 4, int CheckpointEvery = 500,
        bool Resume = false, bool Overwrite = false, IReadOnlySet<string>? Given = null, string? TensorBoard = null);

    /// <summary>The <c>lm</c> subcommand.</summary>
    public static Command BuildLm()
    {
        var text = new Option<string?>("--text") { Description = "UTF-8 text file to train on (default: the Debian 'fortunes' files)" };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => 384, Description = "model width" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 6, Description = "transformer blocks" };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 6, Description = "attention heads (divides dim)" };
        // One character per time step: the window's length is the spiking layers' T (-T, as in 'train').
        var seqLen = new Option<int>("--seq-len", "--time-steps", "-T")
        {
            DefaultValueFactory = _ => 64, Description = "characters per training window = time steps T",
        };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32, Description = "windows per step" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 3000, Description = "optimiser steps" };
        var lr = new Option<float>("--lr") { DefaultValueFactory = _ => 1e-3f, Description = "peak learning rate (AdamW, cosine decay)" };
        var device = DeviceOption.Create();
        var precision = PrecisionOption.Create();
        var outDir = new Option<string>("--out")
        {
            DefaultValueFactory = _ => "runs/lm",
            Description = "output directory (model.safetensors, config.json, trainer.safetensors, metrics.csv, "
                + "checkpoints/)",
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "random seed" };
        var evalEvery = new Option<int>("--eval-every") { DefaultValueFactory = _ => 250, Description = "steps between validation evaluations" };
        var checkpointEvery = new Option<int>("--checkpoint-every")
        {
            DefaultValueFactory = _ => 500, Description = "steps between checkpoints (and one at the end)",
        };
        var resume = new Option<bool>("--resume")
        {
            Description = "continue the run in --out from its newest complete checkpoint, with its saved settings",
        };
        var overwrite = new Option<bool>("--overwrite")
        {
            Description = "delete the run already in --out and start again (without it, or --resume, an existing "
                + "run is refused)",
        };
        var tensorboard = new Option<string?>("--tensorboard")
        {
            Description = "also write TensorBoard event files into DIR (losses, bits per character, learning "
                + "rate, firing rate of every spiking layer; view with 'tensorboard --logdir DIR')",
        };
        var cmd = new Command("lm", "Train a character-level spiking language model (embedding → spiking transformer blocks → head).")
        {
            text, dim, layers, heads, seqLen, batch, steps, lr, device, outDir, seed, evalEvery, checkpointEvery,
            resume, overwrite, tensorboard, precision,
        };
        cmd.SetAction(p =>
        {
            PrecisionOption.Apply(p.GetValue(precision));
            return Run(new Settings(p.GetValue(text), p.GetValue(dim), p.GetValue(layers), p.GetValue(heads), p.GetValue(seqLen),
            p.GetValue(batch), p.GetValue(steps), p.GetValue(lr), p.GetValue(device), p.GetValue(outDir)!, p.GetValue(seed),
            p.GetValue(evalEvery), CheckpointEvery: p.GetValue(checkpointEvery), Resume: p.GetValue(resume),
            Overwrite: p.GetValue(overwrite), Given: cmd.Options.Where(o => p.GetResult(o) is { Implicit: false })
                .Select(o => o.Name.TrimStart('-')).ToHashSet(), TensorBoard: p.GetValue(tensorboard)),
            Console.Out, interactive: !Console.IsOutputRedirected);
        });
        return cmd;
    }

    private static void CheckSettings(Settings s)
    {
        void Positive(int v, string name) { if (v <= 0) throw new ArgumentException($"--{name} must be positive, got {v}", name); }
        Positive(s.Dim, "dim"); Positive(s.Layers, "layers"); Positive(s.Heads, "heads"); Positive(s.SeqLen, "seq-len");
        Positive(s.BatchSize, "batch-size"); Positive(s.Steps, "steps"); Positive(s.EvalEvery, "eval-every");
        Positive(s.CheckpointEvery, "checkpoint-every");
        if (s.Dim % s.Heads != 0) throw new ArgumentException($"--heads {s.Heads} must divide --dim {s.Dim}", "heads");
        if (!(s.Lr > 0 && float.IsFinite(s.Lr))) throw new ArgumentException($"--lr must be a positive number, got {s.Lr}", "lr");
        if (s.TensorBoard is { } tb && string.IsNullOrWhiteSpace(tb))
            throw new ArgumentException("--tensorboard must name a directory", "tensorboard");
    }

    /// <summary>Runs training; returns the exit code. Throws ArgumentException / IOException on bad input.</summary>
    public static int Run(Settings s, TextWriter o, bool interactive)
    {
        if (s.Resume && s.Overwrite)
            throw new ArgumentException(
                "--resume continues the run in --out and --overwrite deletes it: give one of them", "overwrite");
        CheckpointInfo? saved = null;
        if (s.Resume)
        {
            saved = RunDirectory.FindResumable(s.Out, msg => o.WriteLine($"warning: {msg}"));
            s = Restore(s, saved, o); // before the checks: the run's own settings replace the defaults
        }
        CheckSettings(s);
        // The text is read and checked before --out is touched: a refused text leaves no run directory behind.
        var corpus = s.Text != null ? TextCorpus.FromFile(s.Text) : TextCorpus.FromFortunes();
        TextCorpus.CheckWindow(corpus.Train, s.SeqLen, $"training split of {corpus.Source}");
        TextCorpus.CheckWindow(corpus.Validation, s.SeqLen, $"validation split (last 10%) of {corpus.Source}");
        if (saved is null) RunDirectory.PrepareNew(s.Out, s.Overwrite);
        var device = DeviceOption.Apply(s.Device);
        var vocab = corpus.Vocabulary;
        if (saved != null && SpikingLmCheckpoint.ReadConfig(saved.Directory).Vocab != vocab.Characters)
            throw new InvalidDataException(
                $"--resume: the vocabulary of {corpus.Source} differs from the one the run in {s.Out} was trained " +
                "with (has the text changed?); resume with the same --text, or start a new run with --overwrite");
        o.WriteLine($"corpus {corpus.Source} ({corpus.EncodingName}): {corpus.Text.Length:N0} chars, vocabulary {vocab.Size}, train {corpus.Train.Length:N0}, val {corpus.Validation.Length:N0}");
        var bigram = new BigramBaseline(corpus.Train, vocab.Size);
        double bigramLoss = bigram.Loss(corpus.Validation);
        o.WriteLine(Inv($"bigram baseline (add-one, train counts) on the validation split: {bigramLoss:F4} nats/char = {BigramBaseline.BitsPerChar(bigramLoss):F4} bits/char"));

        var gen = new Generator((ulong)s.Seed);
        using var model = new SpikingLanguageModel(new SpikingLmConfig(vocab.Size, s.Dim, s.Layers, s.Heads), gen: gen, device: device);
        long nParams = model.Parameters().Sum(p => (long)p.Numel);
        o.WriteLine($"model: dim {s.Dim}, layers {s.Layers}, heads {s.Heads}, {nParams:N0} parameters on {device}");
        using var opt = new AdamW(model.NamedParameters(), s.Lr, weightDecay: 0.01f);
        var sched = new CosineLr(opt, s.Steps, warmupSteps: Math.Min(100, s.Steps / 10), minLr: s.Lr / 10);

        var metrics = new MetricsCsv(Path.Combine(s.Out, "metrics.csv"), MetricsColumns, overwrite: saved is null);
        using var tb = s.TensorBoard is { } tbDir ? new TensorBoardWriter(tbDir) : null;
        var sw = Stopwatch.StartNew();
        double trainLoss = double.NaN, lastVal = double.NaN, firstVal = double.NaN, elapsedBefore = 0;
        int start = 0;
        CheckpointInfo? last = saved;
        var progress = interactive ? null : ProgressReporter.ForLog(); // a log line per ~10 % of the run
        if (saved != null)
        {
            var m = Checkpoint.Load(saved.Directory, model, opt, msg => o.WriteLine($"warning: {msg}")).Metadata;
            start = int.Parse(m["step"], CultureInfo.InvariantCulture);
            double D(string key) => double.Parse(m[key], CultureInfo.InvariantCulture);
            (trainLoss, lastVal, firstVal, elapsedBefore) =
                (D("train_loss"), D("val_loss"), D("first_val_loss"), D("elapsed_s"));
            sched.LastStep = start;
            sched.Apply();
            // Rows after the checkpoint belong to steps about to run again (a kill between a row and its save).
            int dropped = metrics.TruncateAfter("step", start);
            o.WriteLine($"resumed from {saved.Directory} after step {start}" +
                (dropped > 0 ? $" (dropped {dropped} row(s) of metrics.csv written after that checkpoint)" : ""));
            if (start >= s.Steps)
                o.WriteLine($"the run already completed {start} of {s.Steps} steps; " +
                    "pass a larger --steps to train further");
        }

        void Step(int step)
        {
            using var scope = TensorScope.Begin();
            model.Train(); model.ResetState();
            // One generator per step, seeded by the step: a resumed run draws the batches an uninterrupted one would.
            var rng = new Random(unchecked(s.Seed * 1_000_003 + step));
            var (x, y) = TextCorpus.SampleBatch(corpus.Train, s.SeqLen, s.BatchSize, rng);
            var logits = model.Forward(Tensor.FromArray(x, new[] { s.SeqLen, s.BatchSize }, device));
            var loss = Tensor.CrossEntropy(logits.Reshape(-1, vocab.Size), Tensor.FromArray(y, null, device));
            opt.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(model.Parameters(), 1f)?.Dispose();
            opt.Step(); sched.Step();
            if (step % 10 == 0 || step == s.Steps || progress?.IsDue(step) == true)
            {
                trainLoss = loss.Item();
                tb?.AddScalar("loss/train", trainLoss, step);
            }
        }

        void Evaluate(int step, Action<string> log)
        {
            var rates = tb is null ? null : new Dictionary<string, double>();
            var (val, report) = EvaluateValidation(model, corpus.Validation, s, device, rates);
            if (double.IsNaN(firstVal)) firstVal = val;
            lastVal = val;
            double elapsed = elapsedBefore + sw.Elapsed.TotalSeconds;
            log(Inv($"step {step,5}  train {(double.IsNaN(trainLoss) ? "  -   " : trainLoss.ToString("F4", CultureInfo.InvariantCulture))}  val {val:F4} nats = {BigramBaseline.BitsPerChar(val):F3} bpc  (bigram {bigramLoss:F4})  lr {opt.Lr:G3}  {elapsed:F0}s"));
            log("  " + report.Summary());
            if (tb is not null)
            {
                tb.AddScalar("loss/val", val, step);
                tb.AddScalar("bpc/val", BigramBaseline.BitsPerChar(val), step);
                tb.AddScalar("lr", opt.Lr, step);
                tb.AddScalar("efficiency/mean_input_rate", report.MeanRate, step);
                foreach (var (layer, rate) in rates!) tb.AddScalar($"firing_rate/{layer}", rate, step);
            }
            metrics.Append(Inv($"{step}"), Inv($"{trainLoss:G6}"), Inv($"{val:G6}"),
                Inv($"{BigramBaseline.BitsPerChar(val):G6}"), Inv($"{bigramLoss:G6}"), Inv($"{opt.Lr:G6}"),
                Inv($"{report.MeanRate:G6}"), Inv($"{report.DenseMacs:G6}"), Inv($"{report.Macs:G6}"),
                Inv($"{report.Accumulates:G6}"), Inv($"{elapsed:F1}"));
        }

        void Save(int step)
        {
            string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
            last = SpikingLmCheckpoint.Save(s.Out, model, vocab, new Dictionary<string, object>
            {
                ["text"] = corpus.Source, ["seq_len"] = s.SeqLen, ["batch_size"] = s.BatchSize, ["steps"] = s.Steps,
                ["lr"] = s.Lr, ["seed"] = s.Seed, ["step"] = step, ["val_loss"] = lastVal,
                ["bigram_val_loss"] = bigramLoss,
            }, step, opt, new Dictionary<string, string>
            {
                ["text"] = s.Text is null ? "" : Path.GetFullPath(s.Text), ["seq_len"] = Inv($"{s.SeqLen}"),
                ["batch_size"] = Inv($"{s.BatchSize}"), ["steps"] = Inv($"{s.Steps}"),
                ["lr"] = s.Lr.ToString("R", CultureInfo.InvariantCulture), ["seed"] = Inv($"{s.Seed}"),
                ["eval_every"] = Inv($"{s.EvalEvery}"), ["checkpoint_every"] = Inv($"{s.CheckpointEvery}"),
                ["step"] = Inv($"{step}"),
                ["train_loss"] = R(trainLoss), ["val_loss"] = R(lastVal), ["first_val_loss"] = R(firstVal),
                ["elapsed_s"] = R(elapsedBefore + sw.Elapsed.TotalSeconds),
            });
        }

        void TrainFrom(int first, Action<string> log, Action<int>? progress)
        {
            for (int step = first; step <= s.Steps; step++)
            {
                Step(step);
                progress?.Invoke(step);
                if (step % s.EvalEvery == 0 || step == s.Steps) Evaluate(step, log);
                if (step % s.CheckpointEvery == 0 || step == s.Steps) Save(step);
            }
        }

        if (saved is null) Evaluate(0, o.WriteLine);
        if (interactive)
        {
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: s.Steps);
                    task.Value = Math.Min(start, s.Steps);
                    TrainFrom(start + 1, l => AnsiConsole.MarkupLine(Markup.Escape(l)), _ =>
                    {
                        task.Increment(1);
                        task.Description = Inv($"loss {trainLoss:F3}");
                    });
                });
        }
        else
        {
            progress!.Start(s.Steps, start);
            TrainFrom(start + 1, o.WriteLine, step =>
            {
                if (step % s.EvalEvery == 0 || step == s.Steps) progress.Reported(step); // the evaluation line reports
                else if (progress.Report(step))
                    o.WriteLine(Inv($"  step {step}/{s.Steps}  train loss {trainLoss:F4}  lr {opt.Lr:G3}  ") + progress.Timing(step));
            });
        }

        if (MemoryReport.Line(device) is { } mem) o.WriteLine(mem);
        string ckpt = last?.Name is { } name
            ? $" (checkpoint {Path.Combine(s.Out, Checkpoint.SavesDirectory, name)})" : "";
        o.WriteLine(Inv($"validation loss {firstVal:F4} → {lastVal:F4} nats/char (bigram {bigramLoss:F4}); saved ") +
            $"{Path.Combine(s.Out, SpikingLmCheckpoint.WeightsFile)}, config.json, trainer.safetensors{ckpt}, " +
            "metrics.csv");
        return 0;
    }

    private static readonly string[] MetricsColumns =
    {
        "step", "train_loss", "val_loss", "val_bpc", "bigram_val_loss", "lr", "mean_input_rate", "dense_macs_per_token",
        "spiking_macs_per_token", "accumulates_per_token", "elapsed_s",
    };

    // Fills the settings not given from the checkpoint; refuses a given one that would change the run's trajectory.
    private static Settings Restore(Settings s, CheckpointInfo saved, TextWriter o)
    {
        var m = saved.Metadata;
        if (!m.TryGetValue("kind", out var kind) || kind != SpikingLanguageModel.Kind || !m.ContainsKey("step"))
            throw new InvalidDataException(
                $"--resume: the checkpoint in {saved.Directory} is not a resumable spiking language model " +
                $"(kind '{kind}')");
        var cfg = SpikingLmCheckpoint.ReadConfig(saved.Directory);
        bool Given(string name) => s.Given?.Contains(name) ?? true;
        T Pick<T>(string name, T given, T? was, Func<T, string> show) where T : struct
        {
            if (was is not T w) return given;
            if (!Given(name)) return w;
            if (!EqualityComparer<T>.Default.Equals(w, given))
                throw new ArgumentException(
                    $"--resume: --{name} {show(given)} differs from the run in {s.Out}, which was trained with " +
                    $"--{name} {show(w)} (checkpoint {saved.Directory}); leave --{name} out to continue with the " +
                    "saved value, or start a new run with --overwrite or another --out", name);
            return given;
        }
        int? Int(string key) => m.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : null;
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        string savedText = m.TryGetValue("text", out var t) ? t : "";
        string? text = s.Text;
        if (!Given("text")) text = savedText.Length == 0 ? null : savedText;
        else if ((text is null ? "" : Path.GetFullPath(text)) != savedText)
            throw new ArgumentException(
                $"--resume: --text {text ?? "(the fortunes files)"} differs from the run in {s.Out}, which was " +
                $"trained on {(savedText.Length == 0 ? "the fortunes files" : savedText)}; leave --text out to " +
                "continue with the saved text, or start a new run with --overwrite or another --out", "text");
        int steps = s.Steps;
        if (!Given("steps")) steps = Int("steps") ?? steps;
        else if (Int("steps") is int was && was != steps)
            o.WriteLine($"warning: --steps {steps}: the run was started with {was} steps; its cosine learning-rate " +
                $"schedule now spans {steps}, so the rate changes from step {Int("step") + 1} on");
        return s with
        {
            Text = text,
            Dim = Pick("dim", s.Dim, cfg.Dim, I),
            Layers = Pick("layers", s.Layers, cfg.Layers, I),
            Heads = Pick("heads", s.Heads, cfg.Heads, I),
            SeqLen = Pick("seq-len", s.SeqLen, Int("seq_len"), I),
            BatchSize = Pick("batch-size", s.BatchSize, Int("batch_size"), I),
            Lr = Pick("lr", s.Lr,
                m.TryGetValue("lr", out var lr) ? float.Parse(lr, CultureInfo.InvariantCulture) : null,
                v => v.ToString("R", CultureInfo.InvariantCulture)),
            Seed = Pick("seed", s.Seed, Int("seed"), I),
            Steps = steps,
            EvalEvery = Given("eval-every") ? s.EvalEvery : Int("eval_every") ?? s.EvalEvery,
            CheckpointEvery = Given("checkpoint-every")
                ? s.CheckpointEvery : Int("checkpoint_every") ?? s.CheckpointEvery,
        };
    }

    /// <summary>Mean validation loss over fixed windows (the same every evaluation) and the efficiency report of that pass.</summary>
    /// <param name="model">The model.</param>
    /// <param name="valIds">The validation split.</param>
    /// <param name="s">Window length and batch size.</param>
    /// <param name="device">Where the model runs.</param>
    /// <param name="firingRates">When given, filled with the firing rate of every spiking layer in the first validation
    /// batch (the one the efficiency report reads), by the layer's dotted name.</param>
    public static (double Loss, EfficiencyReport Report) EvaluateValidation(SpikingLanguageModel model, int[] valIds,
        Settings s, Device device, IDictionary<string, double>? firingRates = null)
    {
        var rng = new Random(12345);
        double sum = 0;
        int batches = Math.Max(1, s.EvalBatches);
        EfficiencyReport? report = null;
        model.Eval();
        model.TrackFiringRates(true);
        using (Autograd.Tape.NoGrad())
            for (int i = 0; i < batches; i++)
            {
                using var scope = TensorScope.Begin();
                model.ResetState();
                var (x, y) = TextCorpus.SampleBatch(valIds, s.SeqLen, s.BatchSize, rng);
                var logits = model.Forward(Tensor.FromArray(x, new[] { s.SeqLen, s.BatchSize }, device));
                sum += Tensor.CrossEntropy(logits.Reshape(-1, model.Config.VocabSize), Tensor.FromArray(y, null, device)).Item();
                if (i == 0)
                {
                    report = model.Efficiency();
                    if (firingRates is not null)
                        foreach (var (name, m) in model.NamedModules())
                            if (m is Nn.INeuronLayer { FiringRate: { } rate }) firingRates[name] = rate.Item();
                }
            }
        model.TrackFiringRates(false);
        model.Train();
        return (sum / batches, report!);
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
