using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using SpikeSharp.IO;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp train lm</c>: trains a character-level spiking language model.</summary>
internal static class LmTrainCommand
{
    /// <summary>The <c>lm</c> subcommand.</summary>
    public static Command BuildLm()
    {
        var text = new Option<string?>("--text")
        {
            Description = "UTF-8 text file to train on (default: the Debian 'fortunes' files)",
        };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => 384, Description = "model width" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 6, Description = "transformer blocks" };
        var heads = new Option<int>("--heads")
        {
            DefaultValueFactory = _ => 6, Description = "attention heads (divides dim)",
        };
        // One character per time step: the window's length is the spiking layers' T (-T, as in 'train').
        var seqLen = new Option<int>("--seq-len", "--time-steps", "-T")
        {
            DefaultValueFactory = _ => 64, Description = "characters per training window = time steps T",
        };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32, Description = "windows per step" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 3000, Description = "optimiser steps" };
        var lr = new Option<float>("--lr")
        {
            DefaultValueFactory = _ => 1e-3f, Description = "peak learning rate (AdamW, cosine decay)",
        };
        var device = DeviceOption.Create();
        var precision = PrecisionOption.Create();
        var outDir = new Option<string>("--out")
        {
            DefaultValueFactory = _ => "runs/lm",
            Description = "output directory (model.safetensors, config.json, trainer.safetensors, metrics.csv, "
                + "checkpoints/)",
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "random seed" };
        var evalEvery = new Option<int>("--eval-every")
        {
            DefaultValueFactory = _ => 250, Description = "steps between validation evaluations",
        };
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
        var cmd = new Command("lm",
            "Train a character-level spiking language model (embedding → spiking transformer blocks → head).")
        {
            text, dim, layers, heads, seqLen, batch, steps, lr, device, outDir, seed, evalEvery, checkpointEvery,
            resume, overwrite, tensorboard, precision,
        };
        cmd.SetAction(p =>
        {
            var mode = PrecisionOption.Apply(p.GetValue(precision));
            var options = new SpikingLmTrainOptions
            {
                Text = p.GetValue(text), Dim = p.GetValue(dim), Layers = p.GetValue(layers), Heads = p.GetValue(heads),
                SeqLen = p.GetValue(seqLen), BatchSize = p.GetValue(batch), Steps = p.GetValue(steps),
                Lr = p.GetValue(lr), Device = DeviceOption.Apply(p.GetValue(device)), OutDir = p.GetValue(outDir)!,
                Seed = p.GetValue(seed), EvalEvery = p.GetValue(evalEvery),
                CheckpointEvery = p.GetValue(checkpointEvery), Resume = p.GetValue(resume),
                Overwrite = p.GetValue(overwrite), TensorBoardDir = p.GetValue(tensorboard), Precision = mode,
                Given = cmd.Options.Where(o => p.GetResult(o) is { Implicit: false })
                    .Select(o => o.Name.TrimStart('-')).ToHashSet(),
            };
            return Run(options, Console.Out, interactive: !Console.IsOutputRedirected);
        });
        return cmd;
    }

    /// <summary>Trains with a progress bar (terminal) or progress lines (log); returns the exit code.</summary>
    private static int Run(SpikingLmTrainOptions options, TextWriter o, bool interactive)
    {
        Action<string> log = interactive ? l => AnsiConsole.MarkupLine(Markup.Escape(l)) : o.WriteLine;
        var trainer = new SpikingLmTrainer(options, log); // validates the options first
        if (interactive)
        {
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(),
                    new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    ProgressTask? task = null;
                    trainer.Progress += p =>
                    {
                        task ??= ctx.AddTask("training", maxValue: p.Steps);
                        task.Value = p.Step;
                        task.Description = Inv($"loss {p.TrainLoss:F3}");
                    };
                    trainer.Run();
                });
        }
        else
        {
            var schedule = trainer.ProgressSchedule = ProgressReporter.ForLog(); // a log line per ~10 % of the run
            trainer.Progress += p =>
            {
                if (p.IsReport)
                    o.WriteLine(Inv($"  step {p.Step}/{p.Steps}  train loss {p.TrainLoss:F4}  lr {p.Lr:G3}  ") +
                        schedule.Timing(p.Step));
            };
            trainer.Run();
        }
        var s = trainer.Options;
        if (MemoryReport.Line(s.Device) is { } mem) o.WriteLine(mem);
        string ckpt = trainer.LastCheckpoint?.Name is { } name
            ? $" (checkpoint {Path.Combine(s.OutDir, Checkpoint.SavesDirectory, name)})" : "";
        o.WriteLine(Inv($"validation loss {trainer.FirstValidationLoss:F4} → {trainer.ValidationLoss:F4} ") +
            "nats/char " +
            Inv($"(bigram {trainer.BigramLoss:F4}); saved ") +
            $"{Path.Combine(s.OutDir, SpikingLmCheckpoint.WeightsFile)}, config.json, trainer.safetensors{ckpt}, " +
            "metrics.csv");
        return 0;
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
