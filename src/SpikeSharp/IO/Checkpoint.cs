using System.Globalization;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.IO;

/// <summary>
/// Training checkpoints in a directory: <c>model.safetensors</c> (the model's state dict, readable by
/// PyTorch's <c>safetensors</c>) and <c>trainer.safetensors</c> (optimiser state, epoch, RNG state and
/// anything else the trainer records in metadata). Each file is written atomically; both carry the same
/// <c>checkpoint_id</c> so a pair torn by a crash between the two writes is detected on load.
/// </summary>
public static class Checkpoint
{
    public const string ModelFile = "model.safetensors";
    public const string TrainerFile = "trainer.safetensors";

    /// <summary>Converts a tensor to a safetensors entry (reads it to the host).</summary>
    public static SafeTensorEntry ToEntry(string name, Tensor t) => t.DType switch
    {
        DType.Float32 => SafeTensorEntry.FromFloat(name, t.ToArray<float>(), t.Shape),
        DType.Int32 => SafeTensorEntry.FromInt32(name, t.ToArray<int>(), t.Shape),
        DType.Float16 => SafeTensorEntry.FromHalf(name, t.ToArray<Half>(), t.Shape),
        DType.UInt8 => SafeTensorEntry.FromBytes(name, t.ToArray<byte>(), t.Shape),
        _ => throw new NotSupportedException($"checkpoint: tensor '{name}' has unsupported dtype {t.DType.Name()}"),
    };

    /// <summary>Creates a tensor on <paramref name="device"/> from an entry.</summary>
    public static Tensor FromEntry(SafeTensorEntry e, Device device) => e.DType switch
    {
        SafeTensorDType.F32 => Tensor.FromArray(e.ToFloatArray(), e.Shape, device),
        SafeTensorDType.I32 => Tensor.FromArray(e.ToInt32Array(), e.Shape, device),
        SafeTensorDType.F16 => Tensor.FromArray(e.ToHalfArray(), e.Shape, device),
        SafeTensorDType.U8 => Tensor.FromArray(e.ToByteArray(), e.Shape, device),
        _ => throw new NotSupportedException($"checkpoint: tensor '{e.Name}' has dtype {e.DType}, which SpikeSharp does not load"),
    };

    /// <summary>Saves a module's state dict with metadata.</summary>
    public static void SaveModel(string path, Module model, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Save(path, model.StateDict().Select(kv => ToEntry(kv.Key, kv.Value)), metadata);

    /// <summary>Loads a state dict saved by <see cref="SaveModel"/> into <paramref name="model"/> (strict: names and shapes must match).</summary>
    public static IReadOnlyDictionary<string, string> LoadModel(string path, Module model)
    {
        var file = SafeTensors.Load(path);
        var device = model.Parameters().FirstOrDefault()?.Device ?? Device.Default;
        var dict = new Dictionary<string, Tensor>();
        try
        {
            foreach (var e in file.Tensors) dict[e.Name] = FromEntry(e, device);
            model.LoadStateDict(dict);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"checkpoint {path} does not fit this model: {ex.Message}", ex);
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
        return file.Metadata;
    }

    /// <summary>Saves model and trainer state into <paramref name="dir"/>.</summary>
    public static void Save(string dir, Module model, Optimizer? optimizer, IDictionary<string, string> metadata)
    {
        Directory.CreateDirectory(dir);
        var id = Guid.NewGuid().ToString("N");
        var meta = new Dictionary<string, string>(metadata) { ["checkpoint_id"] = id };
        var entries = new List<SafeTensorEntry>();
        if (optimizer != null)
        {
            var st = optimizer.StateDict();
            foreach (var kv in st.Tensors) entries.Add(ToEntry("optim." + kv.Key, kv.Value));
            foreach (var kv in st.Scalars) meta["optim." + kv.Key] = kv.Value.ToString("R", CultureInfo.InvariantCulture);
        }
        // Trainer state first: a crash after it leaves the old model with a new trainer file, which the ids reveal.
        SafeTensors.Save(Path.Combine(dir, TrainerFile), entries, meta);
        SaveModel(Path.Combine(dir, ModelFile), model, meta);
    }

    /// <summary>The metadata of the model file in <paramref name="dir"/> (to check what a checkpoint holds before loading it).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string dir)
    {
        string mp = Path.Combine(dir, ModelFile);
        if (!File.Exists(mp)) throw new FileNotFoundException($"checkpoint: {mp} not found", mp);
        return SafeTensors.Load(mp).Metadata;
    }

    /// <summary>Loads what <see cref="Save"/> wrote; returns the metadata. Fails clearly on a torn or foreign checkpoint.</summary>
    public static IReadOnlyDictionary<string, string> Load(string dir, Module model, Optimizer? optimizer)
    {
        string mp = Path.Combine(dir, ModelFile), tp = Path.Combine(dir, TrainerFile);
        if (!File.Exists(mp)) throw new FileNotFoundException($"checkpoint: {mp} not found", mp);
        if (!File.Exists(tp)) throw new FileNotFoundException($"checkpoint: {tp} not found (needed to resume training)", tp);
        var trainer = SafeTensors.Load(tp);
        var peekModel = SafeTensors.Load(mp);
        trainer.Metadata.TryGetValue("checkpoint_id", out var a);
        peekModel.Metadata.TryGetValue("checkpoint_id", out var b);
        if (a != b) throw new InvalidDataException($"checkpoint in {dir}: {ModelFile} and {TrainerFile} come from different saves (checkpoint_id {b} vs {a}); the run was interrupted while saving");
        var meta = LoadModel(mp, model);
        if (optimizer != null)
        {
            var st = new OptimizerState();
            var device = model.Parameters().FirstOrDefault()?.Device ?? Device.Default;
            // State of a parameter saved in an older layout (a decay saved as its value, now learnt as a logit) does
            // not apply to the new parameter: that parameter starts with fresh optimiser statistics.
            var legacy = model.LegacyStateKeys().Select(k => "optim." + k.From + ".").ToArray();
            bool Current(string key) => key.StartsWith("optim.") && !legacy.Any(key.StartsWith);
            foreach (var e in trainer.Tensors.Where(e => Current(e.Name)))
                st.Tensors[e.Name["optim.".Length..]] = FromEntry(e, device);
            foreach (var kv in trainer.Metadata.Where(kv => Current(kv.Key)))
                st.Scalars[kv.Key["optim.".Length..]] = double.Parse(kv.Value, CultureInfo.InvariantCulture);
            try { optimizer.LoadStateDict(st); }
            finally { foreach (var t in st.Tensors.Values) t.Dispose(); }
        }
        return meta;
    }
}
