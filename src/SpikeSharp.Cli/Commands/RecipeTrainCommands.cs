using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using SpikeSharp.Data;
using SpikeSharp.IO;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary>
/// <c>spikesharp train nmnist|shd|cifar10 --data DIR</c>: the event-camera, spoken-digit and CIFAR-10 recipes of
/// <see cref="ClassificationTrainer"/>. On --resume the checkpoint's settings fill every option not given.
/// </summary>
internal static class RecipeTrainCommands
{
    private sealed record Recipe(string Name, string Title, bool Events, int Epochs, int TimeSteps, string Data);

    private static readonly Recipe[] Recipes =
    {
        new("nmnist", "N-MNIST", true, 5, 10, "directory holding Train/<digit>/*.bin and Test/<digit>/*.bin"),
        new("shd", "SHD", true, 20, 50, "directory holding shd_train.h5 and shd_test.h5"),
        new("cifar10", "CIFAR-10", false, 20, 4,
            "directory holding data_batch_1..5.bin and test_batch.bin (or cifar-10-batches-bin/ with them)"),
    };

    public static IEnumerable<Command> Build()
    {
        foreach (var r in Recipes)
        {
            var c = new Command(r.Name, $"Train a spiking classifier on {r.Title} (--data DIR: {r.Data}).");
            var opts = new RecipeOptions(r);
            opts.AddTo(c);
            c.SetAction(p => opts.Run(p));
            yield return c;
        }
    }

    private sealed class RecipeOptions
    {
        private readonly Recipe _r;
        private readonly Option<int?> _epochs, _timeSteps;
        private readonly Option<int> _batch = new("--batch-size")
        {
            Description = "batch size",
            DefaultValueFactory = _ => 128,
        };
        private readonly Option<float> _lr = new("--lr")
        {
            Description = "Adam learning rate (cosine schedule)",
            DefaultValueFactory = _ => 1e-3f,
        };
        private readonly Option<string?> _device = DeviceOption.Create();
        private readonly Option<string?> _data;
        private readonly Option<bool> _download;
        private readonly Option<string> _out;
        private readonly Option<bool> _resume = new("--resume")
        {
            Description = "continue the run in --out from its newest complete checkpoint, with its saved settings",
        };
        private readonly Option<bool> _overwrite = new("--overwrite")
        {
            Description = "delete the run already in --out and start again",
        };
        private readonly Option<ulong> _seed = new("--seed")
        {
            Description = "random seed",
            DefaultValueFactory = _ => 0UL,
        };
        private readonly Option<bool> _noPlots = new("--no-plots") { Description = "skip the PNG plots" };
        private readonly Option<int?> _stopAfter = new("--stop-after")
        {
            Description = "stop after N epochs of this invocation (continue later with --resume)",
        };
        private readonly Option<int?> _limit = new("--train-limit")
        {
            Description = "use only the first N training samples",
        };
        private readonly Option<int?> _testLimit = new("--test-limit")
        {
            Description = "use only the first N test samples",
        };
        private readonly Option<string?> _tensorboard = new("--tensorboard")
        {
            Description = "also write TensorBoard event files into DIR",
        };
        private readonly Option<string?> _precision = PrecisionOption.Create();
        private readonly Option<string> _encoding = new("--encoding")
        {
            Description = "direct | rate | latency",
            DefaultValueFactory = _ => "direct",
        };
        private readonly Option<string?> _binning = new("--binning")
        {
            Description = "how events become the T frames of a sample: time-bins (T equal bins over the sample, the " +
                "default), time-window (--window-us each) or event-count (--events-per-frame each); Tonic's rules",
        };
        private readonly Option<int?> _windowUs = new("--window-us")
        {
            Description = "frame duration in µs for --binning time-window",
        };
        private readonly Option<int?> _eventsPerFrame = new("--events-per-frame")
        {
            Description = "events per frame for --binning event-count",
        };
        private readonly Option<bool> _incomplete = new("--include-incomplete")
        {
            Description = "also make the last, incomplete window (time-window, event-count)",
        };
        private readonly Option<string?> _cache = new("--cache")
        {
            Description = "directory of the binned-frame cache (default: ~/.cache/spikesharp/frames)",
        };
        private readonly Option<bool> _noCache = new("--no-cache")
        {
            Description = "bin the events on every run; keep no frame cache",
        };

        public RecipeOptions(Recipe r)
        {
            _r = r;
            _epochs = new("--epochs") { Description = $"epochs (default {r.Epochs})" };
            _timeSteps = new("--time-steps", "-T")
            {
                Description = r.Events
                    ? $"frames T per sample (default {r.TimeSteps})"
                    : $"time steps T per image (default {r.TimeSteps})",
            };
            _data = new("--data") { Required = true, Description = r.Data };
            _download = new("--download")
            {
                Description = "first fetch the published archives into --data (resumed if cut, checked against their " +
                    "checksums) and unpack them",
            };
            _out = new("--out") { Description = "output directory", DefaultValueFactory = _ => $"runs/{r.Name}" };
        }

        public void AddTo(Command c)
        {
            var common = new Option[]
            {
                _epochs, _batch, _timeSteps, _lr, _device, _data, _download, _out, _resume, _overwrite, _seed, _limit,
                _testLimit, _stopAfter, _noPlots, _tensorboard, _precision,
            };
            var own = _r.Events
                ? new Option[] { _binning, _windowUs, _eventsPerFrame, _incomplete, _cache, _noCache }
                : new Option[] { _encoding };
            foreach (var o in common.Concat(own)) c.Options.Add(o);
        }

        public int Run(ParseResult p)
        {
            var precision = PrecisionOption.Apply(p.GetValue(_precision));
            bool resume = p.GetValue(_resume);
            var saved = resume && !p.GetValue(_overwrite)
                ? RunDirectory.FindResumable(p.GetValue(_out)!).Metadata
                : null;
            bool Given(Option option) => p.GetResult(option) is { Implicit: false };
            string? Saved(string key) =>
                saved is not null && saved.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
            int? SavedInt(string key) => Saved(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;
            var device = DeviceOption.Apply(p.GetValue(_device));
            string data = p.GetValue(_data)!;
            Action<string> log = msg => AnsiConsole.WriteLine(msg);
            if (p.GetValue(_download)) DatasetArchives.Fetch(_r.Name, data, log: log);
            int timeSteps = p.GetValue(_timeSteps) ?? SavedInt("time_steps") ?? _r.TimeSteps;
            ClassificationTrainOptions o = _r.Events
                ? new EventTrainOptions
                {
                    Binning = Binning(p, Saved("binning")),
                    CacheDir = p.GetValue(_noCache) ? null : p.GetValue(_cache) ?? FrameCache.DefaultDirectory,
                }
                : new Cifar10TrainOptions
                {
                    Encoding = !Given(_encoding) && Saved("encoding") is { } e
                        ? Enum.Parse<EncodingKind>(e, ignoreCase: true)
                        : Enum.Parse<EncodingKind>(p.GetValue(_encoding)!, ignoreCase: true),
                };
            o = o with
            {
                Epochs = p.GetValue(_epochs) ?? SavedInt("epochs") ?? _r.Epochs,
                BatchSize = !Given(_batch) && SavedInt("batch_size") is int b ? b : p.GetValue(_batch),
                TimeSteps = timeSteps,
                Lr = !Given(_lr) && Saved("lr") is { } lr
                    ? float.Parse(lr, CultureInfo.InvariantCulture)
                    : p.GetValue(_lr),
                Device = device,
                DataRoot = data,
                OutDir = p.GetValue(_out)!,
                Resume = resume,
                Overwrite = p.GetValue(_overwrite),
                Seed = !Given(_seed) && Saved("seed") is { } seed
                    ? ulong.Parse(seed, CultureInfo.InvariantCulture)
                    : p.GetValue(_seed),
                TrainLimit = p.GetValue(_limit) ?? SavedInt("train_limit"),
                TestLimit = p.GetValue(_testLimit),
                StopAfter = p.GetValue(_stopAfter),
                Plots = !p.GetValue(_noPlots),
                TensorBoardDir = p.GetValue(_tensorboard),
                Precision = precision ?? RunOptions.ParsePrecision(Saved("precision")),
            };
            ClassificationTask task = _r.Name switch
            {
                "nmnist" => new NMnistTask((EventTrainOptions)o),
                "shd" => new ShdTask((EventTrainOptions)o),
                _ => new Cifar10Task((Cifar10TrainOptions)o),
            };
            var trainer = new ClassificationTrainer(o, task, log); // validates the options first
            string extra = o is EventTrainOptions ev
                ? $", binning {ev.EffectiveBinning.Key}"
                : $", encoding {o.Encoding.ToString().ToLowerInvariant()}";
            AnsiConsole.MarkupLine($"[bold]SpikeSharp[/] train {_r.Name}: model [green]{task.ModelName}[/], " +
                $"T={o.TimeSteps}{extra}, epochs {o.Epochs}, batch {o.BatchSize}, " +
                $"lr {o.Lr.ToString(CultureInfo.InvariantCulture)}, device [green]{device}[/]");
            return TrainerConsole.Run(trainer, o, device);
        }

        // The binning options, checked together: a size belongs to its mode only.
        private EventBinning? Binning(ParseResult p, string? saved)
        {
            string? mode = p.GetValue(_binning);
            int? window = p.GetValue(_windowUs);
            int? count = p.GetValue(_eventsPerFrame);
            bool incomplete = p.GetValue(_incomplete);
            if (mode is null && window is null && count is null && !incomplete)
                return saved is null ? null : EventBinning.Parse(saved);
            mode ??= window is not null ? "time-window" : count is not null ? "event-count" : "time-bins";
            if (window is not null && mode != "time-window")
                throw new ArgumentException(
                    $"--window-us: only with --binning time-window, got --binning {mode}", "window-us");
            if (count is not null && mode != "event-count")
                throw new ArgumentException(
                    $"--events-per-frame: only with --binning event-count, got --binning {mode}", "events-per-frame");
            if (incomplete && mode == "time-bins")
                throw new ArgumentException("--include-incomplete: only with --binning time-window or event-count, " +
                    "got --binning time-bins", "include-incomplete");
            return mode switch
            {
                "time-window" => EventBinning.TimeWindow(window ?? throw new ArgumentException(
                    "--window-us: expected the frame duration in µs for --binning time-window, got none",
                    "window-us"), incomplete),
                "event-count" => EventBinning.EventCount(count ?? throw new ArgumentException(
                    "--events-per-frame: expected the events per frame for --binning event-count, got none",
                    "events-per-frame"), incomplete),
                _ => null, // T equal time bins
            };
        }
    }
}
