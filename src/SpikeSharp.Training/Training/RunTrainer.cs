using System.Globalization;
using SpikeSharp.IO;
using SpikeSharp.Monitoring;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.Training;

/// <summary>
/// The loop every trainer shares: a run of numbered units (epochs or optimiser steps) in a run directory. It owns
/// the rules of the directory (a new run refuses or overwrites an old one, <c>--resume</c> continues the newest
/// complete checkpoint after checking that the run's settings match it), the metrics CSV (rows of steps about to
/// run again are dropped on resume), the evaluation and checkpoint cadence, TensorBoard, and the precision scope.
/// A trainer brings its data and model (<see cref="Setup"/>), one unit of training (<see cref="TrainUnit"/>), its
/// evaluation (<see cref="Evaluate"/>) and the settings its checkpoints record (<see cref="Settings"/>).
/// </summary>
public abstract class RunTrainer
{
    private RunOptions _run;

    /// <summary>Checks <paramref name="options"/> (<see cref="RunOptions.Validate"/>).</summary>
    /// <param name="options">The run's settings.</param>
    /// <param name="log">Receives every line the run prints; null prints nothing.</param>
    protected RunTrainer(RunOptions options, Action<string>? log)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _run = options;
        Log = log ?? (_ => { });
    }

    /// <summary>Where the run's lines go.</summary>
    protected Action<string> Log { get; }

    /// <summary>Reports a warning (a damaged save passed over, a changed run length); default: a log line.</summary>
    protected virtual void Warn(string message) => Log(message);

    /// <summary>Decides which steps report progress (each reads the running loss back, a sync); see each trainer.
    /// </summary>
    public ProgressReporter? ProgressSchedule { get; set; }

    /// <summary>The last checkpoint this run saved (or resumed from, if it saved none); null before.</summary>
    public CheckpointInfo? LastCheckpoint { get; private set; }

    /// <summary>The run's metrics.csv (open while <see cref="RunLoop"/> runs).</summary>
    protected MetricsCsv Metrics { get; private set; } = null!;

    /// <summary>The TensorBoard writer while <see cref="RunLoop"/> runs, null without a directory.</summary>
    protected TensorBoardWriter? TensorBoard { get; private set; }

    /// <summary>The checkpoint kind, e.g. "spiking-lm".</summary>
    protected abstract string Kind { get; }

    /// <summary>What a checkpoint of this kind is, in messages: "a Fashion-MNIST classifier".</summary>
    protected abstract string KindDescription { get; }

    /// <summary>The unit the run counts: "epoch" or "step" (metrics column, checkpoint key, save name, options
    /// <c>--epochs</c> / <c>--steps</c>).</summary>
    protected abstract string Unit { get; }

    /// <summary>Units of the whole run (known after <see cref="Setup"/>); the learning-rate schedule spans them.
    /// </summary>
    protected abstract int TotalUnits { get; }

    /// <summary>Units to run in this invocation at most (null: to the end).</summary>
    protected virtual int? StopAfter => null;

    /// <summary>Header of metrics.csv; the first column is <see cref="Unit"/>.</summary>
    protected abstract IReadOnlyList<string> MetricsColumns { get; }

    /// <summary>
    /// Settings that shape the run's trajectory, recorded with every checkpoint and checked on resume; the base adds
    /// <c>--precision</c> after the trainer's.
    /// </summary>
    protected virtual IEnumerable<RunSetting> Settings()
    {
        yield return new RunSetting("--precision", "precision", _run.PrecisionName,
            v => v.Length == 0 ? "(none: the library's default)" : v);
    }

    /// <summary>The settings a checkpoint records, by key (default its metadata).</summary>
    protected virtual IReadOnlyDictionary<string, string> SavedSettings(CheckpointInfo saved) => saved.Metadata;

    /// <summary>On resume, before the settings are checked: a trainer may take the settings not given from the
    /// checkpoint here and return the options the run then uses (default: the options as given).</summary>
    protected virtual RunOptions ResolveSettings(CheckpointInfo saved) => _run;

    /// <summary>Checks that must refuse the run before the run directory is touched (a bad text file).</summary>
    protected virtual void BeforeOutput(CheckpointInfo? saved) { }

    /// <summary>Loads the data and creates the model and optimiser (restored from <paramref name="saved"/> after).
    /// </summary>
    protected abstract (Module Model, Optimizer Optimizer) Setup(CheckpointInfo? saved);

    /// <summary>After the checkpoint's weights and optimiser state are loaded: restore the rest of the position
    /// (schedule, generators, history) after <paramref name="completed"/> units.</summary>
    protected virtual void Restored(IReadOnlyDictionary<string, string> metadata, int completed) { }

    /// <summary>Before the first unit of a new run (an evaluation of the untrained model, say).</summary>
    protected virtual void Started() { }

    /// <summary>Before the loop, new or resumed, with the units already done.</summary>
    protected virtual void BeginLoop(int completed) { }

    /// <summary>Trains unit <paramref name="unit"/> (numbered from 1).</summary>
    protected abstract void TrainUnit(int unit);

    /// <summary>Whether an evaluation follows <paramref name="unit"/> (default every unit).</summary>
    protected virtual bool EvaluatesAfter(int unit) => true;

    /// <summary>Evaluates after <paramref name="unit"/>, logs it and appends its row to <see cref="Metrics"/>.
    /// </summary>
    protected abstract void Evaluate(int unit);

    /// <summary>Whether a checkpoint follows <paramref name="unit"/> (default every unit).</summary>
    protected virtual bool SavesAfter(int unit) => true;

    /// <summary>Metadata of the save after <paramref name="unit"/> beyond the kind, position and settings.</summary>
    protected virtual void AddSaveMetadata(int unit, IDictionary<string, string> metadata) { }

    /// <summary>Writes the checkpoint after <paramref name="unit"/> (default <see cref="Checkpoint.Save"/> as
    /// <c>UNIT-N</c>).</summary>
    protected virtual CheckpointInfo Save(int unit, Module model, Optimizer optimizer,
        IDictionary<string, string> metadata) =>
        Checkpoint.Save(_run.OutDir, $"{Unit}-{unit}", model, optimizer, metadata, keep: _run.KeepCheckpoints);

    /// <summary>After the last unit of this invocation (plots, say).</summary>
    protected virtual void Finished() { }

    /// <summary>Runs the loop (see the class remarks).</summary>
    /// <exception cref="IOException">--out holds a run and neither Resume nor Overwrite is set, or Resume finds no
    /// complete checkpoint.</exception>
    /// <exception cref="ArgumentException">Resume with a setting other than the checkpoint's (the message names
    /// the option, the saved value and the given one).</exception>
    protected void RunLoop()
    {
        CheckpointInfo? saved = null;
        if (_run.Resume)
        {
            saved = RunDirectory.FindResumable(_run.OutDir, Warn);
            var m = saved.Metadata;
            if (!m.TryGetValue("kind", out var kind) || kind != Kind)
                throw new InvalidDataException(
                    $"--resume: the checkpoint in {saved.Directory} is not {KindDescription} (kind '{kind}')");
            _run = ResolveSettings(saved);
            CheckCompatible(saved);
        }
        using var precision = _run.Precision is { } p ? Precision.Use(p) : null;
        BeforeOutput(saved);
        if (saved is null) RunDirectory.PrepareNew(_run.OutDir, _run.Overwrite);
        var (model, optimizer) = Setup(saved);
        Metrics = new MetricsCsv(Path.Combine(_run.OutDir, "metrics.csv"), MetricsColumns,
            overwrite: saved is null);
        int start = 0;
        if (saved != null) start = Resume(saved, model, optimizer);
        using var tb = TensorBoard = _run.TensorBoardDir is { } dir ? new TensorBoardWriter(dir) : null;
        if (saved is null) Started();
        int end = StopAfter is int stop ? Math.Min(TotalUnits, start + stop) : TotalUnits;
        BeginLoop(start);
        for (int unit = start + 1; unit <= end; unit++)
        {
            TrainUnit(unit);
            if (EvaluatesAfter(unit)) Evaluate(unit);
            if (!SavesAfter(unit)) continue;
            var metadata = new Dictionary<string, string>
            {
                ["kind"] = Kind, [Unit] = Inv(unit), [Unit + "s"] = Inv(TotalUnits),
            };
            AddSaveMetadata(unit, metadata);
            foreach (var s in Settings()) metadata[s.Key] = s.Value;
            LastCheckpoint = Save(unit, model, optimizer, metadata);
        }
        Finished();
        TensorBoard = null;
    }

    // Loads the checkpoint into the model and optimiser; returns the units it completed.
    private int Resume(CheckpointInfo saved, Module model, Optimizer optimizer)
    {
        var m = saved.Metadata;
        int start = m.TryGetValue(Unit, out var u) && int.TryParse(u, CultureInfo.InvariantCulture, out int done)
            ? done
            : throw new InvalidDataException(
                $"--resume: the checkpoint in {saved.Directory} does not record its {Unit}");
        if (m.TryGetValue(Unit + "s", out var ts) && int.TryParse(ts, CultureInfo.InvariantCulture, out int was)
            && was != TotalUnits)
            Warn($"--{Unit}s {TotalUnits}: the run was started with {was} {Unit}s; its cosine learning-rate " +
                 $"schedule now spans {TotalUnits}, so the rate changes from {Unit} {start + 1} on");
        var metadata = Checkpoint.Load(saved.Directory, model, optimizer, Warn).Metadata;
        LastCheckpoint = saved;
        // Rows after the checkpoint belong to units about to run again (a kill between a row and its save).
        int dropped = Metrics.TruncateAfter(Unit, start);
        Restored(metadata, start);
        Log($"resumed from {saved.Directory} after {Unit} {start}" +
            (dropped > 0 ? $" (dropped {dropped} row(s) of metrics.csv written after that checkpoint)" : ""));
        if (start >= TotalUnits)
            Log($"the run already completed {start} of {TotalUnits} {Unit}s; " +
                $"pass a larger --{Unit}s to train further");
        return start;
    }

    // Everything that shapes the trajectory must match the checkpoint; only the run's length may change.
    private void CheckCompatible(CheckpointInfo saved)
    {
        var m = SavedSettings(saved);
        foreach (var s in Settings())
        {
            // Checkpoints of earlier versions may lack a key (or name T "steps"): nothing to compare then.
            if (!m.TryGetValue(s.Key, out var was) && !(s.Key == "time_steps" && m.TryGetValue("steps", out was)))
                continue;
            if ((s.Same ?? string.Equals)(was, s.Value)) continue;
            var show = s.Show ?? (v => v);
            throw new ArgumentException(
                $"--resume: {s.Option} {show(s.Value)} differs from the run in {_run.OutDir}, which was trained " +
                $"with {s.Option} {show(was)} (checkpoint {saved.Directory}); leave {s.Option} out to continue with " +
                "the saved value, or start a new run with --overwrite or another --out", s.Option.TrimStart('-'));
        }
    }

    /// <summary>Whether two recorded floats are the same number (or the same text when either is none).</summary>
    protected static bool SameFloat(string a, string b) =>
        float.TryParse(a, CultureInfo.InvariantCulture, out var x) && float.TryParse(b, CultureInfo.InvariantCulture,
            out var y) ? x == y : a == b;

    /// <summary>Invariant-culture text of a number (checkpoint metadata, metrics).</summary>
    protected static string Inv(IFormattable v, string? format = null) =>
        v.ToString(format, CultureInfo.InvariantCulture);
}
