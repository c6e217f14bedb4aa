using System.Text.Json;
using System.Text.Json.Serialization;
using SpikeSharp.IO;
using SpikeSharp.Optim;
using SpikeSharp.Text;

namespace SpikeSharp.Nn.Transformer;

/// <summary>The JSON written beside the weights: model kind, vocabulary and hyperparameters.</summary>
public sealed class SpikingLmCheckpointConfig
{
    /// <summary>Always <see cref="SpikingLanguageModel.Kind"/> for this model.</summary>
    [JsonPropertyName("kind")] public string Kind { get; set; } = SpikingLanguageModel.Kind;
    /// <summary>The vocabulary characters in id order.</summary>
    [JsonPropertyName("vocab")] public string Vocab { get; set; } = "";
    /// <summary>Model width.</summary>
    [JsonPropertyName("dim")] public int Dim { get; set; }
    /// <summary>Blocks.</summary>
    [JsonPropertyName("layers")] public int Layers { get; set; }
    /// <summary>Heads.</summary>
    [JsonPropertyName("heads")] public int Heads { get; set; }
    /// <summary>MLP ratio.</summary>
    [JsonPropertyName("mlp_ratio")] public int MlpRatio { get; set; } = 4;
    /// <summary>Training hyperparameters and results, for the record (not needed to load).</summary>
    [JsonPropertyName("training")] public Dictionary<string, object>? Training { get; set; }
}

/// <summary>
/// Saves and loads a spiking language model. A save is one atomic commit of <see cref="Checkpoint"/>: the run
/// directory's <c>checkpoints/step-N/</c> holds <c>model.safetensors</c>, <c>config.json</c> and
/// <c>trainer.safetensors</c> (optimiser state and training position, to resume), and copies of the three are placed
/// at the run's root. Loading reads the newest complete save, or the root files of runs written before
/// <c>checkpoints/</c> existed.
/// </summary>
public static class SpikingLmCheckpoint
{
    /// <summary>Weights file name.</summary>
    public const string WeightsFile = Checkpoint.ModelFile;
    /// <summary>Config file name.</summary>
    public const string ConfigFile = "config.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Writes the weights (float32, state-dict names), the config and the optimiser state as the save <c>step-N</c>.
    /// </summary>
    /// <param name="dir">The run directory.</param>
    /// <param name="model">The model.</param>
    /// <param name="vocab">Its vocabulary (stored in config.json).</param>
    /// <param name="training">Hyperparameters and results recorded in config.json (not needed to load).</param>
    /// <param name="step">Optimiser steps taken: names the save <c>step-N</c>.</param>
    /// <param name="optimizer">Optimiser whose state is saved for resuming; null saves none.</param>
    /// <param name="metadata">Strings stored in the safetensors files (e.g. the training position).</param>
    /// <param name="keep">Complete saves to keep, the newest included.</param>
    /// <returns>The committed save.</returns>
    public static CheckpointInfo Save(string dir, SpikingLanguageModel model, CharVocabulary vocab,
        Dictionary<string, object>? training = null, int step = 0, Optimizer? optimizer = null,
        IDictionary<string, string>? metadata = null, int keep = Checkpoint.DefaultKeep)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(vocab);
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"step must be >= 0, got {step}");
        var c = model.Config;
        var cfg = new SpikingLmCheckpointConfig
        {
            Vocab = vocab.Characters, Dim = c.Dim, Layers = c.Layers, Heads = c.Heads, MlpRatio = c.MlpRatio,
            Training = training,
        };
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["kind"] = SpikingLanguageModel.Kind,
        };
        var files = new Dictionary<string, Action<Stream>>
        {
            [ConfigFile] = stream => JsonSerializer.Serialize(stream, cfg, Json),
        };
        return Checkpoint.Save(dir, $"step-{step}", model, optimizer, meta, files, keep);
    }

    /// <summary>
    /// The directory holding the files of the newest complete save of <paramref name="dir"/> (a run directory or a
    /// save's directory): <c>checkpoints/step-N</c>, or <paramref name="dir"/> itself for runs of earlier versions.
    /// </summary>
    public static string Resolve(string dir, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        var latest = Checkpoint.FindLatest(dir, warn);
        return latest != null && File.Exists(Path.Combine(latest.Directory, ConfigFile)) ? latest.Directory : dir;
    }

    /// <summary>Reads config.json of the newest save of <paramref name="dir"/> (see <see cref="Resolve"/>).</summary>
    /// <exception cref="FileNotFoundException">There is no config.json.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is of another model kind, or malformed.</exception>
    public static SpikingLmCheckpointConfig ReadConfig(string dir)
    {
        var cfgPath = Path.Combine(Resolve(dir), ConfigFile);
        if (!File.Exists(cfgPath))
            throw new FileNotFoundException($"checkpoint: '{cfgPath}' does not exist; expected a directory written "
                + "by 'spikesharp train lm --out DIR'", cfgPath);
        SpikingLmCheckpointConfig cfg;
        try
        {
            cfg = JsonSerializer.Deserialize<SpikingLmCheckpointConfig>(File.ReadAllText(cfgPath))
                ?? throw new InvalidDataException("null config");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"checkpoint: '{cfgPath}' is not valid JSON: {e.Message}", e);
        }
        if (cfg.Kind != SpikingLanguageModel.Kind)
            throw new InvalidDataException($"checkpoint: '{dir}' holds a model of kind '{cfg.Kind}', "
                + $"expected '{SpikingLanguageModel.Kind}'");
        if (string.IsNullOrEmpty(cfg.Vocab))
            throw new InvalidDataException($"checkpoint: '{cfgPath}' has an empty vocabulary");
        return cfg;
    }

    /// <summary>Loads the newest save written by <see cref="Save"/> (or the root files of an earlier version).
    /// </summary>
    /// <exception cref="FileNotFoundException">The directory lacks config.json or model.safetensors.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is of another model kind, or malformed.</exception>
    public static (SpikingLanguageModel Model, CharVocabulary Vocab) Load(string dir, Device? device = null)
    {
        var src = Resolve(dir);
        var cfg = ReadConfig(src);
        var vocab = new CharVocabulary(cfg.Vocab);
        var model = new SpikingLanguageModel(
            new SpikingLmConfig(vocab.Size, cfg.Dim, cfg.Layers, cfg.Heads, cfg.MlpRatio), device: device);
        try { Checkpoint.LoadModel(Path.Combine(src, WeightsFile), model); }
        catch { model.Dispose(); throw; }
        return (model, vocab);
    }
}
