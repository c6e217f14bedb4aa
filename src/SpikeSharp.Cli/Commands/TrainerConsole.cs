using System.Globalization;
using Spectre.Console;
using SpikeSharp.IO;
using SpikeSharp.Training;

namespace SpikeSharp.Cli.Commands;

/// <summary>Runs a classification trainer with a progress bar (terminal) or progress lines (log), then prints what
/// it wrote and the test accuracy.</summary>
internal static class TrainerConsole
{
    public static int Run(ClassificationTrainer trainer, ClassificationTrainOptions o, Device device)
    {
        double acc = double.NaN;
        if (!Console.IsOutputRedirected)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    ProgressTask? task = null;
                    trainer.Progress += p =>
                    {
                        task ??= ctx.AddTask("training", maxValue: (double)p.StepsPerEpoch * p.Epochs);
                        task.Value = (double)(p.Epoch - 1) * p.StepsPerEpoch + p.Step;
                        task.Description = $"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} acc {p.Accuracy:F3} "
                            + $"{p.SamplesPerSecond:F0} samples/s";
                    };
                    acc = trainer.Run();
                });
        }
        else
        {
            var log = trainer.ProgressSchedule = ProgressReporter.ForLog(); // a line per ~10 % of an epoch
            trainer.Progress += p => Console.WriteLine(
                $"  epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.StepsPerEpoch} loss {p.Loss:F4} " +
                $"acc {p.Accuracy:F3} {p.SamplesPerSecond:F0} samples/s, {log.Timing(p.Step)}");
            acc = trainer.Run();
        }
        var wrote = new[] { "metrics.csv", Checkpoint.ModelFile, Checkpoint.TrainerFile }
            .Select(f => Path.Combine(o.OutDir, f)).ToList();
        if (trainer.LastCheckpoint?.Name is { } save)
            wrote[^1] += $" (checkpoint {Path.Combine(o.OutDir, Checkpoint.SavesDirectory, save)})";
        if (o.Plots) wrote.Add(Path.Combine(o.OutDir, "plots") + "/");
        if (o.TensorBoardDir is { } tb) wrote.Add($"TensorBoard events in {tb}");
        Console.WriteLine($"wrote {string.Join(", ", wrote)}");
        if (MemoryReport.Line(device) is { } mem) Console.WriteLine(mem);
        Console.WriteLine($"test accuracy: {acc.ToString("F4", CultureInfo.InvariantCulture)}");
        return 0;
    }
}
