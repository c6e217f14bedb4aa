using System.Text.Json;
using System.Text.Json.Serialization;
using SpikeSharp.IO;
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

/// <summary>Saves and loads a spiking language model: DIR/model.safetensors + DIR/config.json.</summary>
public static class SpikingLmCheckpoint
{
    /// <summary>Weights file name.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>Config file name.</summary>
    public const string ConfigFile = "config.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes the weights (float32, state-dict names) and the config.</summary>
    public static void Save(string dir, SpikingLanguageModel model, CharVocabulary vocab, Dictionary<string, object>? training = null)
    {
        Directory.CreateDirectory(dir);
        Checkpoint.SaveModel(Path.Combine(dir, WeightsFile), model, new Dictionary<string, string> { ["kind"] = SpikingLanguageModel.Kind });
        var c = model.Config;
        var cfg = new SpikingLmCheckpointConfig { Vocab = vocab.Characters, Dim = c.Dim, Layers = c.Layers, Heads = c.Heads, MlpRatio = c.MlpRatio, Training = training };
        AtomicFile.Write(Path.Combine(dir, ConfigFile), stream => JsonSerializer.Serialize(stream, cfg, Json));
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/>.</summary>
    /// <exception cref="FileNotFoundException">The directory lacks config.json or model.safetensors.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is of another model kind, or malformed.</exception>
    public static (SpikingLanguageModel Model, CharVocabulary Vocab) Load(string dir, Device? device = null)
    {
        var cfgPath = Path.Combine(dir, ConfigFile);
        if (!File.Exists(cfgPath)) throw new FileNotFoundException($"checkpoint: '{cfgPath}' does not exist; expected a directory written by 'spikesharp train lm --out DIR'", cfgPath);
        SpikingLmCheckpointConfig cfg;
        try { cfg = JsonSerializer.Deserialize<SpikingLmCheckpointConfig>(File.ReadAllText(cfgPath)) ?? throw new InvalidDataException("null config"); }
        catch (JsonException e) { throw new InvalidDataException($"checkpoint: '{cfgPath}' is not valid JSON: {e.Message}", e); }
        if (cfg.Kind != SpikingLanguageModel.Kind)
            throw new InvalidDataException($"checkpoint: '{dir}' holds a model of kind '{cfg.Kind}', expected '{SpikingLanguageModel.Kind}'");
        if (string.IsNullOrEmpty(cfg.Vocab)) throw new InvalidDataException($"checkpoint: '{cfgPath}' has an empty vocabulary");
        var vocab = new CharVocabulary(cfg.Vocab);
        var model = new SpikingLanguageModel(new SpikingLmConfig(vocab.Size, cfg.Dim, cfg.Layers, cfg.Heads, cfg.MlpRatio), device: device);
        try { Checkpoint.LoadModel(Path.Combine(dir, WeightsFile), model); }
        catch { model.Dispose(); throw; }
        return (model, vocab);
    }
}
