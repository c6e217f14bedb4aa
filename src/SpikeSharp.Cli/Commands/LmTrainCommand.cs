using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;
using SpikeSharp.Text;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp train lm</c>: trains a character-level spiking language model.</summary>
internal static class LmTrainCommand
{
    /// <summary>Settings of one training run.</summary>
    public sealed record Settings(string? Text, int Dim, int Layers, int Heads, int SeqLen, int BatchSize, int Steps, float Lr,
        string? Device, string Out, int Seed, int EvalEvery, int EvalBatches = 4);

    /// <summary>The <c>lm</c> subcommand.</summary>
    public static Command BuildLm()
    {
        var text = new Option<string?>("--text") { Description = "UTF-8 text file to train on (default: the Debian 'fortunes' files)" };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => 384, Description = "model width" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 6, Description = "transformer blocks" };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 6, Description = "attention heads (divides dim)" };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => 64, Description = "characters per training window" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32, Description = "windows per step" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 3000, Description = "optimiser steps" };
        var lr = new Option<float>("--lr") { DefaultValueFactory = _ => 1e-3f, Description = "peak learning rate (AdamW, cosine decay)" };
        var device = DeviceOption.Create();
        var outDir = new Option<string>("--out") { DefaultValueFactory = _ => "runs/lm", Description = "output directory (model.safetensors, config.json, metrics.csv)" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "random seed" };
        var evalEvery = new Option<int>("--eval-every") { DefaultValueFactory = _ => 250, Description = "steps between validation evaluations" };
        var cmd = new Command("lm", "Train a character-level spiking language model (embedding → spiking transformer blocks → head).")
        {
            text, dim, layers, heads, seqLen, batch, steps, lr, device, outDir, seed, evalEvery,
        };
        cmd.SetAction(p => Run(new Settings(p.GetValue(text), p.GetValue(dim), p.GetValue(layers), p.GetValue(heads), p.GetValue(seqLen),
            p.GetValue(batch), p.GetValue(steps), p.GetValue(lr), p.GetValue(device), p.GetValue(outDir)!, p.GetValue(seed),
            p.GetValue(evalEvery)), Console.Out, interactive: !Console.IsOutputRedirected));
        return cmd;
    }

    private static void CheckSettings(Settings s)
    {
        void Positive(int v, string name) { if (v <= 0) throw new ArgumentException($"--{name} must be positive, got {v}", name); }
        Positive(s.Dim, "dim"); Positive(s.Layers, "layers"); Positive(s.Heads, "heads"); Positive(s.SeqLen, "seq-len");
        Positive(s.BatchSize, "batch-size"); Positive(s.Steps, "steps"); Positive(s.EvalEvery, "eval-every");
        if (s.Dim % s.Heads != 0) throw new ArgumentException($"--heads {s.Heads} must divide --dim {s.Dim}", "heads");
        if (!(s.Lr > 0 && float.IsFinite(s.Lr))) throw new ArgumentException($"--lr must be a positive number, got {s.Lr}", "lr");
    }

    /// <summary>Runs training; returns the exit code. Throws ArgumentException / IOException on bad input.</summary>
    public static int Run(Settings s, TextWriter o, bool interactive)
    {
        CheckSettings(s);
        var corpus = s.Text != null ? TextCorpus.FromFile(s.Text) : TextCorpus.FromFortunes();
        TextCorpus.CheckWindow(corpus.Train, s.SeqLen, $"training split of {corpus.Source}");
        TextCorpus.CheckWindow(corpus.Validation, s.SeqLen, $"validation split (last 10%) of {corpus.Source}");
        var device = DeviceOption.Apply(s.Device);
        var vocab = corpus.Vocabulary;
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

        Directory.CreateDirectory(s.Out);
        using var metrics = new StreamWriter(Path.Combine(s.Out, "metrics.csv"));
        metrics.WriteLine("step,train_loss,val_loss,val_bpc,bigram_val_loss,lr,mean_input_rate,dense_macs_per_token,spiking_macs_per_token,accumulates_per_token,elapsed_s");
        var rng = new Random(s.Seed);
        var sw = Stopwatch.StartNew();
        double trainLoss = double.NaN, lastVal = double.NaN, firstVal = double.NaN;
        var progress = interactive ? null : ProgressReporter.ForLog(); // a log line per ~10 % of the run

        void Step(int step)
        {
            using var scope = TensorScope.Begin();
            model.Train(); model.ResetState();
            var (x, y) = TextCorpus.SampleBatch(corpus.Train, s.SeqLen, s.BatchSize, rng);
            var logits = model.Forward(Tensor.FromArray(x, new[] { s.SeqLen, s.BatchSize }, device));
            var loss = Tensor.CrossEntropy(logits.Reshape(-1, vocab.Size), Tensor.FromArray(y, null, device));
            opt.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(model.Parameters(), 1f)?.Dispose();
            opt.Step(); sched.Step();
            if (step % 10 == 0 || step == s.Steps || progress?.IsDue(step) == true) trainLoss = loss.Item();
        }

        void Evaluate(int step, Action<string> log)
        {
            var (val, report) = EvaluateValidation(model, corpus.Validation, s, device);
            if (double.IsNaN(firstVal)) firstVal = val;
            lastVal = val;
            log(Inv($"step {step,5}  train {(double.IsNaN(trainLoss) ? "  -   " : trainLoss.ToString("F4", CultureInfo.InvariantCulture))}  val {val:F4} nats = {BigramBaseline.BitsPerChar(val):F3} bpc  (bigram {bigramLoss:F4})  lr {opt.Lr:G3}  {sw.Elapsed.TotalSeconds:F0}s"));
            log("  " + report.Summary());
            metrics.WriteLine(Inv($"{step},{trainLoss:G6},{val:G6},{BigramBaseline.BitsPerChar(val):G6},{bigramLoss:G6},{opt.Lr:G6},{report.MeanRate:G6},{report.DenseMacs:G6},{report.Macs:G6},{report.Accumulates:G6},{sw.Elapsed.TotalSeconds:F1}"));
            metrics.Flush();
        }

        Evaluate(0, o.WriteLine);
        if (interactive)
        {
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: s.Steps);
                    for (int step = 1; step <= s.Steps; step++)
                    {
                        Step(step);
                        task.Increment(1);
                        task.Description = Inv($"loss {trainLoss:F3}");
                        if (step % s.EvalEvery == 0 || step == s.Steps) Evaluate(step, l => AnsiConsole.MarkupLine(Markup.Escape(l)));
                    }
                });
        }
        else
        {
            progress!.Start(s.Steps);
            for (int step = 1; step <= s.Steps; step++)
            {
                Step(step);
                if (step % s.EvalEvery == 0 || step == s.Steps)
                {
                    Evaluate(step, o.WriteLine);
                    progress.Reported(step);
                }
                else if (progress.Report(step))
                    o.WriteLine(Inv($"  step {step}/{s.Steps}  train loss {trainLoss:F4}  lr {opt.Lr:G3}  ")
                        + progress.Timing(step));
            }
        }

        SpikingLmCheckpoint.Save(s.Out, model, vocab, new Dictionary<string, object>
        {
            ["text"] = corpus.Source, ["seq_len"] = s.SeqLen, ["batch_size"] = s.BatchSize, ["steps"] = s.Steps, ["lr"] = s.Lr,
            ["seed"] = s.Seed, ["val_loss"] = lastVal, ["bigram_val_loss"] = bigramLoss,
        });
        if (MemoryReport.Line(device) is { } mem) o.WriteLine(mem);
        o.WriteLine(Inv($"validation loss {firstVal:F4} → {lastVal:F4} nats/char (bigram {bigramLoss:F4}); saved {Path.Combine(s.Out, SpikingLmCheckpoint.WeightsFile)}, config.json, metrics.csv"));
        return 0;
    }

    /// <summary>Mean validation loss over fixed windows (the same every evaluation) and the efficiency report of that pass.</summary>
    public static (double Loss, EfficiencyReport Report) EvaluateValidation(SpikingLanguageModel model, int[] valIds, Settings s, Device device)
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
                if (i == 0) report = model.Efficiency();
            }
        model.TrackFiringRates(false);
        model.Train();
        return (sum / batches, report!);
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
