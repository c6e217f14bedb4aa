using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp train [fashion-mnist|nmnist|shd|cifar10|lm]</c>: trains a spiking network; the main job.
/// </summary>
internal static class TrainCommand
{
    public static Command Build()
    {
        var train = new Command("train",
            "Train a spiking neural network. With no subcommand: Fashion-MNIST with the default model.");
        var fm = new Command("fashion-mnist", "Train a spiking classifier on Fashion-MNIST.");
        var opts = new FashionOptions();
        opts.AddTo(train);
        opts.AddTo(fm);
        train.SetAction(r => opts.Run(r));
        fm.SetAction(r => opts.Run(r));
        train.Subcommands.Add(fm);
        train.Subcommands.Add(LmTrainCommand.BuildLm());
        foreach (var recipe in RecipeTrainCommands.Build()) train.Subcommands.Add(recipe);
        return train;
    }

    private sealed class FashionOptions
    {
        private readonly Option<string> _model = new("--model")
        {
            Description = "mlp | csnn | plif-csnn", DefaultValueFactory = _ => "mlp",
        };
        private readonly Option<int?> _epochs = new("--epochs")
        {
            Description = "epochs (default: 2 for mlp (10 on the bundled sample), 4 for csnn, 80 for plif-csnn: "
                + "3.7 s per epoch on an H200)",
        };
        private readonly Option<int> _batch = new("--batch-size")
        {
            Description = "batch size", DefaultValueFactory = _ => 128,
        };
        private readonly Option<int?> _timeSteps = new("--time-steps", "-T")
        {
            Description = "time steps T per sample (default: 4, plif-csnn 8)",
        };
        // The former spelling of --time-steps: an error now, so that it never silently means what it means in
        // 'train lm' (optimiser steps).
        private readonly Option<string?> _oldSteps = new("--steps") { Hidden = true };
        private readonly Option<float> _lr = new("--lr")
        {
            Description = "Adam learning rate (cosine schedule)", DefaultValueFactory = _ => 1e-3f,
        };
        private readonly Option<string> _encoding = new("--encoding")
        {
            Description = "direct | rate | latency", DefaultValueFactory = _ => "direct",
        };
        private readonly Option<string?> _device = DeviceOption.Create();
        private readonly Option<string?> _precision = PrecisionOption.Create();
        private readonly Option<string?> _data = new("--data")
        {
            Description = "Fashion-MNIST directory (default: SPIKESHARP_DATA, /usr/share/datasets/fashion-mnist, "
                + "cache, download, bundled sample)",
        };
        private readonly Option<string> _out = new("--out")
        {
            Description = "output directory", DefaultValueFactory = _ => "runs/fashion-mnist",
        };
        private readonly Option<bool> _resume = new("--resume")
        {
            Description = "continue the run in --out from its newest complete checkpoint, with its saved model and "
                + "settings",
        };
        private readonly Option<bool> _overwrite = new("--overwrite")
        {
            Description = "delete the run already in --out and start again (without it, or --resume, an existing "
                + "run is refused)",
        };
        private readonly Option<ulong> _seed = new("--seed")
        {
            Description = "random seed", DefaultValueFactory = _ => 0UL,
        };
        private readonly Option<bool> _noPlots = new("--no-plots")
        {
            Description = "skip the PNG plots (e.g. on machines without the plotting native libraries)",
        };
        private readonly Option<int?> _stopAfter = new("--stop-after")
        {
            Description = "stop after N epochs of this invocation (continue later with --resume)",
        };
        private readonly Option<string?> _augment = new("--augment")
        {
            Description = "training-image augmentation: none | flip | shiftN | flip+shiftN (default: flip+shift1 for "
                + "plif-csnn, none otherwise; on --resume the run's own)",
        };
        private readonly Option<int?> _limit = new("--train-limit")
        {
            Description = "use only the first N training samples",
        };
        private readonly Option<string?> _tensorboard = new("--tensorboard")
        {
            Description = "also write TensorBoard event files into DIR (losses, accuracies, learning rate, "
                + "firing rates, "
                + "parameter histograms; view with 'tensorboard --logdir DIR')",
        };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[]
                     {
                         _model, _epochs, _batch, _timeSteps, _oldSteps, _lr, _encoding, _device, _data, _out, _resume,
                         _overwrite, _seed, _limit, _stopAfter, _noPlots, _tensorboard, _precision, _augment,
                     })
                c.Options.Add(o);
        }

        public int Run(ParseResult r)
        {
            if (r.GetResult(_oldSteps) is not null)
                throw new ArgumentException("--steps is not an option of 'train': the time steps T per sample are " +
                    "--time-steps (or -T), e.g. --time-steps 8 (--steps counts optimiser steps in 'train lm')",
                    "steps");
            // On --resume the run's saved configuration fills every option not given; a given one must match it.
            bool resume = r.GetValue(_resume);
            // (Damaged saves passed over are reported by the trainer, which reads the checkpoint again.)
            var saved = resume && !r.GetValue(_overwrite) ? FashionRunConfig.Read(r.GetValue(_out)!) : null;
            bool Given(Option option) => r.GetResult(option) is { Implicit: false };
            var kind = Given(_model) || saved is null ? FashionModels.Parse(r.GetValue(_model)!) : saved.Model;
            var device = DeviceOption.Apply(r.GetValue(_device));
            var precision = PrecisionOption.Apply(r.GetValue(_precision)) ?? saved?.Precision;
            var augment = r.GetValue(_augment) is { } spec ? ImageAugmentation.Parse(spec) : null;
            var enc = !Given(_encoding) && saved?.Encoding is EncodingKind savedEnc
                ? savedEnc
                : r.GetValue(_encoding)!.ToLowerInvariant() switch
            {
                "direct" => EncodingKind.Direct,
                "rate" => EncodingKind.Rate,
                "latency" => EncodingKind.Latency,
                var s => throw new ArgumentException($"--encoding: expected direct, rate or latency, got '{s}'"),
            };
            var o = new FashionTrainOptions
            {
                Model = kind,
                Epochs = r.GetValue(_epochs) ?? saved?.Epochs
                    ?? kind switch { FashionModelKind.Mlp => 2, FashionModelKind.Csnn => 4, _ => 80 },
                BatchSize = !Given(_batch) && saved?.BatchSize is int b ? b : r.GetValue(_batch),
                TimeSteps = r.GetValue(_timeSteps) ?? saved?.TimeSteps ?? (kind == FashionModelKind.PlifCsnn ? 8 : 4),
                Lr = !Given(_lr) && saved?.Lr is float lr ? lr : r.GetValue(_lr),
                Encoding = enc,
                Augment = augment,
                Device = device,
                DataRoot = r.GetValue(_data),
                OutDir = r.GetValue(_out)!,
                Resume = resume,
                Overwrite = r.GetValue(_overwrite),
                Seed = !Given(_seed) && saved?.Seed is ulong seed ? seed : r.GetValue(_seed),
                TrainLimit = r.GetValue(_limit) ?? (saved is { TrainLimitKnown: true } ? saved.TrainLimit : null),
                StopAfter = r.GetValue(_stopAfter),
                SampleEpochs = r.GetValue(_epochs) is null && saved?.Epochs is null && kind == FashionModelKind.Mlp
                    ? 10 : null,
                Plots = !r.GetValue(_noPlots),
                TensorBoardDir = r.GetValue(_tensorboard),
                Precision = precision,
            };
            var trainer = new FashionTrainer(o, msg => AnsiConsole.WriteLine(msg)); // validates the options first
            AnsiConsole.MarkupLine($"[bold]SpikeSharp[/] train fashion-mnist: model [green]{FashionModels.Name(kind)}"
                + $"[/], T={o.TimeSteps}, epochs {o.Epochs}, batch {o.BatchSize}, "
                + $"lr {o.Lr.ToString(CultureInfo.InvariantCulture)}, device [green]{device}[/]");
            return TrainerConsole.Run(trainer, o, device);
        }
    }
}
