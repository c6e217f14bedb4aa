using System.Globalization;
using SpikeSharp.IO;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Training;

/// <summary>Settings of a character-level spiking language model run (<see cref="SpikingLmTrainer"/>).</summary>
public sealed record SpikingLmTrainOptions : RunOptions
{
    /// <summary>Default settings, writing into runs/lm.</summary>
    public SpikingLmTrainOptions() => OutDir = "runs/lm";

    /// <summary>UTF-8 text file to train on; null: the Debian 'fortunes' files.</summary>
    public string? Text { get; init; }
    /// <summary>Model width.</summary>
    public int Dim { get; init; } = 384;
    /// <summary>Transformer blocks.</summary>
    public int Layers { get; init; } = 6;
    /// <summary>Attention heads (divides <see cref="Dim"/>).</summary>
    public int Heads { get; init; } = 6;
    /// <summary>Characters per training window, which is the spiking layers' time steps T.</summary>
    public int SeqLen { get; init; } = 64;
    /// <summary>Windows per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Optimiser steps of the run (the span of the cosine schedule).</summary>
    public int Steps { get; init; } = 3000;
    /// <summary>Peak learning rate (AdamW, cosine decay to a tenth after a warm-up).</summary>
    public float Lr { get; init; } = 1e-3f;
    /// <summary>Seed of the weights and of the training windows.</summary>
    public int Seed { get; init; }
    /// <summary>Steps between validation evaluations (and one at the start and the end).</summary>
    public int EvalEvery { get; init; } = 250;
    /// <summary>Validation batches per evaluation (the same windows every time).</summary>
    public int EvalBatches { get; init; } = 4;
    /// <summary>Steps between checkpoints (and one at the end).</summary>
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>
    /// Names of the settings given explicitly, as command-line options without "--" ("dim", "seq-len", "steps",
    /// "precision"…); on <see cref="RunOptions.Resume"/> the others take the checkpoint's values, and a given one
    /// must match it. Null: every setting is given.
    /// </summary>
    public IReadOnlySet<string>? Given { get; init; }

    // Set by WithSaved: the settings not given have their run's values now.
    private bool Resolved { get; init; }

    /// <summary>
    /// Validates every field; throws naming the first bad one (as its command-line option). Settings of a resume
    /// with <see cref="Given"/> are checked once the checkpoint has filled in those not given
    /// (<see cref="WithSaved"/>); until then only the run's own (<see cref="RunOptions.Validate"/>).
    /// </summary>
    public override void Validate()
    {
        if (Resume && Given is not null && !Resolved)
        {
            base.Validate();
            return;
        }
        void Positive(int v, string name)
        {
            if (v <= 0) throw new ArgumentException($"--{name} must be positive, got {v}", name);
        }
        Positive(Dim, "dim"); Positive(Layers, "layers"); Positive(Heads, "heads"); Positive(SeqLen, "seq-len");
        Positive(BatchSize, "batch-size"); Positive(Steps, "steps"); Positive(EvalEvery, "eval-every");
        Positive(CheckpointEvery, "checkpoint-every"); Positive(EvalBatches, "eval-batches");
        if (Dim % Heads != 0) throw new ArgumentException($"--heads {Heads} must divide --dim {Dim}", "heads");
        if (!(Lr > 0 && float.IsFinite(Lr)))
            throw new ArgumentException($"--lr must be a positive number, got {Lr}", "lr");
        if (Text is { } t && string.IsNullOrWhiteSpace(t))
            throw new ArgumentException("--text must name a file (or be left out for the fortunes files)", "text");
        base.Validate();
    }

    /// <summary>Whether the setting of command-line option <paramref name="name"/> (without "--") was given.</summary>
    public bool IsGiven(string name) => Given?.Contains(name) ?? true;

    /// <summary>
    /// These settings with those not given replaced by the ones <paramref name="saved"/> records (its metadata and
    /// config.json); a given text other than the saved one is refused here, the other settings by the trainer's
    /// check. A different <see cref="Steps"/> is allowed (the schedule then spans the new count).
    /// </summary>
    /// <exception cref="ArgumentException">A given <see cref="Text"/> differs from the run's.</exception>
    public SpikingLmTrainOptions WithSaved(CheckpointInfo saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var m = saved.Metadata;
        var cfg = SpikingLmCheckpoint.ReadConfig(saved.Directory);
        int? Int(string key) => m.TryGetValue(key, out var v) && v.Length > 0
            ? int.Parse(v, CultureInfo.InvariantCulture) : null;
        int Pick(string name, int given, int? was) => IsGiven(name) || was is not int w ? given : w;
        string savedText = m.TryGetValue("text", out var st) ? st : "";
        string? text = Text;
        if (!IsGiven("text")) text = savedText.Length == 0 ? null : savedText;
        else if ((text is null ? "" : Path.GetFullPath(text)) != savedText)
            throw new ArgumentException(
                $"--resume: --text {text ?? "(the fortunes files)"} differs from the run in {OutDir}, which was " +
                $"trained on {(savedText.Length == 0 ? "the fortunes files" : savedText)}; leave --text out to " +
                "continue with the saved text, or start a new run with --overwrite or another --out", "text");
        return this with
        {
            Resolved = true,
            Text = text,
            Dim = Pick("dim", Dim, cfg.Dim),
            Layers = Pick("layers", Layers, cfg.Layers),
            Heads = Pick("heads", Heads, cfg.Heads),
            SeqLen = Pick("seq-len", SeqLen, Int("seq_len")),
            BatchSize = Pick("batch-size", BatchSize, Int("batch_size")),
            Lr = IsGiven("lr") || !m.TryGetValue("lr", out var lr) ? Lr : float.Parse(lr, CultureInfo.InvariantCulture),
            Seed = Pick("seed", Seed, Int("seed")),
            Steps = Pick("steps", Steps, Int("steps")),
            EvalEvery = Pick("eval-every", EvalEvery, Int("eval_every")),
            CheckpointEvery = Pick("checkpoint-every", CheckpointEvery, Int("checkpoint_every")),
            Precision = IsGiven("precision") || !m.TryGetValue("precision", out var p) ? Precision : ParsePrecision(p),
        };
    }
}
