using System.Globalization;
using System.Text.RegularExpressions;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

namespace SpikeSharp.IO;

/// <summary>One complete save found on disk.</summary>
/// <param name="Directory">The directory holding its <c>model.safetensors</c> and <c>trainer.safetensors</c>.</param>
/// <param name="Name">Its name, e.g. <c>epoch-3</c>; <c>null</c> for a run directory in the layout before
/// <c>checkpoints/</c> existed (the pair at the run's root).</param>
/// <param name="Metadata">The metadata the trainer saved with it (epoch, run configuration, RNG offsets…).</param>
public sealed record CheckpointInfo(string Directory, string? Name, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Training checkpoints of a run directory. Each save is one atomic commit:
/// <list type="number">
/// <item>the save is written whole into <c>RUN/checkpoints/.tmp-XXXXXXXXXXXX/</c>: <c>model.safetensors</c> (the
/// model's state dict, readable by PyTorch's <c>safetensors</c>), <c>trainer.safetensors</c> (optimiser state, and
/// epoch, RNG offsets and the run configuration as metadata) and any extra files (e.g. the LM's
/// <c>config.json</c>), each flushed to disk;</item>
/// <item>that directory is renamed to its name (<c>RUN/checkpoints/epoch-3/</c>): from then on it is complete;</item>
/// <item>the pointer <c>RUN/checkpoints/latest</c> (one line: the save's name) is replaced atomically: this is the
/// commit. Until then the previous save is the latest, and it stays on disk;</item>
/// <item>the committed files are placed at the run's root too (<c>RUN/model.safetensors</c>,
/// <c>RUN/trainer.safetensors</c>, …), each replaced atomically, for tools that read the layout of earlier
/// versions: hard links where the file system has them (no data copied), else copies. The pointer, not these
/// files, decides what a resume loads;</item>
/// <item>older saves beyond the newest <c>keep</c> are deleted.</item>
/// </list>
/// A process killed at any point therefore leaves the previous or the new save complete and named by the pointer.
/// Loading picks the save the pointer names; if that is missing or damaged, the newest other complete save; and
/// for runs written before <c>checkpoints/</c> existed, the pair at the root (both files carry the same
/// <c>checkpoint_id</c>, so a pair torn by a crash between the two writes is detected). Temporaries left by a killed
/// save are deleted by the next save.
/// </summary>
public static partial class Checkpoint
{
    /// <summary>Weights file of a save (the model's state dict).</summary>
    public const string ModelFile = "model.safetensors";
    /// <summary>Trainer file of a save (optimiser state; epoch, RNG and configuration in metadata).</summary>
    public const string TrainerFile = "trainer.safetensors";
    /// <summary>Subdirectory of a run that holds its saves.</summary>
    public const string SavesDirectory = "checkpoints";
    /// <summary>File in <see cref="SavesDirectory"/> naming the latest committed save.</summary>
    public const string LatestFile = "latest";
    /// <summary>Saves kept by default: the newest and the one before it.</summary>
    public const int DefaultKeep = 2;

    private const string TempPrefix = ".tmp-";

    [GeneratedRegex(@"^(?<prefix>[A-Za-z][A-Za-z0-9_]*)-(?<number>[0-9]{1,9})$")]
    private static partial Regex SaveName();

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
        _ => throw new NotSupportedException(
            $"checkpoint: tensor '{e.Name}' has dtype {e.DType}, which SpikeSharp does not load"),
    };

    /// <summary>Saves a module's state dict with metadata (one atomically written file).</summary>
    public static void SaveModel(string path, Module model, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Save(path, model.StateDict().Select(kv => ToEntry(kv.Key, kv.Value)), metadata);

    /// <summary>Loads a state dict saved by <see cref="SaveModel"/> into <paramref name="model"/> (strict: names
    /// and shapes must match).</summary>
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

    /// <summary>
    /// Saves model and trainer state into <paramref name="runDir"/> as one atomic commit named
    /// <paramref name="name"/> (see the class remarks for the steps).
    /// </summary>
    /// <param name="runDir">The run directory (created if needed).</param>
    /// <param name="name">The save's name: a word, a dash and a number that orders the saves, e.g. <c>epoch-3</c>
    /// or <c>step-500</c>. Saving under the latest save's name replaces it; a kill midway then leaves the save
    /// before it as the newest complete one.</param>
    /// <param name="model">The model; its state dict goes to <see cref="ModelFile"/>.</param>
    /// <param name="optimizer">The optimiser, whose state goes to <see cref="TrainerFile"/>; null saves none.</param>
    /// <param name="metadata">Strings stored in both files (epoch, configuration…).</param>
    /// <param name="extraFiles">Further files of the save: file name → writer (e.g. a JSON config).</param>
    /// <param name="keep">Complete saves to keep, the newest included (at least 1).</param>
    /// <returns>The committed save.</returns>
    /// <exception cref="ArgumentException">A bad name, a reserved extra file name or <paramref name="keep"/> &lt; 1.
    /// </exception>
    /// <exception cref="IOException">Writing failed; the previous save is still the latest and complete.</exception>
    public static CheckpointInfo Save(string runDir, string name, Module model, Optimizer? optimizer,
        IDictionary<string, string> metadata, IReadOnlyDictionary<string, Action<Stream>>? extraFiles = null,
        int keep = DefaultKeep)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDir);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(metadata);
        if (name is null || !SaveName().IsMatch(name))
            throw new ArgumentException(
                $"checkpoint: a save's name is a word, a dash and a number (e.g. 'epoch-3'), got '{name}'",
                nameof(name));
        if (keep < 1)
            throw new ArgumentOutOfRangeException(nameof(keep), $"checkpoint: keep must be at least 1, got {keep}");
        foreach (var f in extraFiles?.Keys ?? Enumerable.Empty<string>())
            if (f is ModelFile or TrainerFile || f.IndexOfAny(new[] { '/', '\\' }) >= 0 || f.StartsWith('.'))
                throw new ArgumentException(
                    $"checkpoint: extra file name '{f}' is reserved or not a plain file name", nameof(extraFiles));

        string root = Path.GetFullPath(runDir), saves = Path.Combine(root, SavesDirectory);
        Directory.CreateDirectory(saves);
        string? current = ReadPointer(saves);
        DeleteStaleTemporaries(root);

        var id = Guid.NewGuid().ToString("N");
        var meta = new Dictionary<string, string>(metadata) { ["checkpoint_id"] = id, ["checkpoint_name"] = name };
        var entries = new List<SafeTensorEntry>();
        if (optimizer != null)
        {
            var st = optimizer.StateDict();
            foreach (var kv in st.Tensors) entries.Add(ToEntry("optim." + kv.Key, kv.Value));
            foreach (var kv in st.Scalars)
                meta["optim." + kv.Key] = kv.Value.ToString("R", CultureInfo.InvariantCulture);
        }

        string temp = Path.Combine(saves, TempPrefix + id[..12]), final = Path.Combine(saves, name);
        bool renamed = false;
        try
        {
            AtomicFile.Step($"create {temp}");
            Directory.CreateDirectory(temp);
            SafeTensors.Save(Path.Combine(temp, TrainerFile), entries, meta);
            SaveModel(Path.Combine(temp, ModelFile), model, meta);
            foreach (var (file, write) in extraFiles ?? new Dictionary<string, Action<Stream>>())
                AtomicFile.Write(Path.Combine(temp, file), write);
            if (Directory.Exists(final))
            {
                // A save renamed into place by a run killed before its commit, or the latest save being replaced
                // (a kill before the rename below then leaves the save before it as the newest complete one).
                AtomicFile.Step($"delete {final}, to be replaced");
                DeleteSave(saves, name);
            }
            AtomicFile.Step($"rename {temp} to {final}");
            Directory.Move(temp, final);
            renamed = true;
            AtomicFile.FlushDirectory(saves);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"checkpoint: could not save '{name}' in {saves}: {e.Message} " + (
                current is null ? "No earlier save exists." :
                current == name ? "The save before it is the newest complete one." :
                $"The latest save is still '{current}'."), e);
        }
        finally
        {
            if (!renamed) TryDeleteDirectory(temp);
        }

        AtomicFile.WriteAllText(Path.Combine(saves, LatestFile), name + "\n"); // the commit
        foreach (var file in new[] { ModelFile, TrainerFile }.Concat(extraFiles?.Keys ?? Enumerable.Empty<string>()))
            AtomicFile.LinkOrCopy(Path.Combine(final, file), Path.Combine(root, file));
        Prune(saves, name, keep);
        return new CheckpointInfo(final, name, meta);
    }

    /// <summary>
    /// The newest complete save of <paramref name="runDir"/>: the one <c>checkpoints/latest</c> names; if that is
    /// missing or damaged, the newest other complete save in <c>checkpoints/</c>; else the pair at the root (runs
    /// written before <c>checkpoints/</c> existed, or <paramref name="runDir"/> is itself a save's directory).
    /// Reads only the files' headers. Returns null when there is no save at all.
    /// </summary>
    /// <param name="runDir">A run directory, or a save's directory.</param>
    /// <param name="warn">Told about every damaged save passed over.</param>
    /// <exception cref="InvalidDataException">The only save is a torn root pair (from an earlier version killed while
    /// saving); the message says so.</exception>
    public static CheckpointInfo? FindLatest(string runDir, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDir);
        string root = Path.GetFullPath(runDir), saves = Path.Combine(root, SavesDirectory);
        var passedOver = new List<string>();
        if (Directory.Exists(saves))
        {
            string? pointed = ReadPointer(saves);
            var names = ListSaves(saves).OrderByDescending(n => n.Number).Select(n => n.Name).ToList();
            if (pointed != null) { names.Remove(pointed); names.Insert(0, pointed); }
            foreach (var n in names)
            {
                try
                {
                    var info = Inspect(Path.Combine(saves, n), n);
                    foreach (var p in passedOver) warn?.Invoke(p);
                    return info;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
                {
                    passedOver.Add($"checkpoint: passing over the damaged save {Path.Combine(saves, n)}: {e.Message}");
                }
            }
        }
        if (File.Exists(Path.Combine(root, ModelFile)) && File.Exists(Path.Combine(root, TrainerFile)))
        {
            try
            {
                var info = Inspect(root, null);
                foreach (var p in passedOver) warn?.Invoke(p);
                return info;
            }
            catch (InvalidDataException e) when (passedOver.Count == 0)
            {
                throw new InvalidDataException($"{e.Message} No other save exists in {root}: it cannot be resumed " +
                    $"(its {ModelFile} still loads as a model); start a new run with --overwrite.", e);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                passedOver.Add($"checkpoint: passing over the damaged pair at {root}: {e.Message}");
            }
        }
        foreach (var p in passedOver) warn?.Invoke(p);
        return null;
    }

    /// <summary>The metadata of the newest complete save in <paramref name="dir"/>, see <see cref="FindLatest"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no save.</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string dir) =>
        (FindLatest(dir) ?? throw NoSave(dir)).Metadata;

    /// <summary>
    /// Loads the newest complete save of <paramref name="dir"/> (a run directory or a save's directory, see
    /// <see cref="FindLatest"/>) into <paramref name="model"/> and <paramref name="optimizer"/>.
    /// </summary>
    /// <returns>The save loaded.</returns>
    /// <exception cref="FileNotFoundException">There is no complete save.</exception>
    /// <exception cref="InvalidDataException">The save does not fit the model or the optimiser.</exception>
    public static CheckpointInfo Load(string dir, Module model, Optimizer? optimizer, Action<string>? warn = null)
    {
        var info = FindLatest(dir, warn) ?? throw NoSave(dir);
        string mp = Path.Combine(info.Directory, ModelFile), tp = Path.Combine(info.Directory, TrainerFile);
        var trainer = SafeTensors.Load(tp);
        LoadModel(mp, model);
        if (optimizer != null)
        {
            var st = new OptimizerState();
            var device = model.Parameters().FirstOrDefault()?.Device ?? Device.Default;
            // State of a parameter saved in an older layout (a decay saved as its value, now learnt as a logit) does
            // not apply to the new parameter: that parameter starts with fresh optimiser statistics.
            var legacy = model.LegacyStateKeys().Select(k => "optim." + k.From + ".").ToArray();
            bool Current(string key) => key.StartsWith("optim.") && !legacy.Any(key.StartsWith);
            try
            {
                foreach (var e in trainer.Tensors.Where(e => Current(e.Name)))
                    st.Tensors[e.Name["optim.".Length..]] = FromEntry(e, device);
                foreach (var kv in trainer.Metadata.Where(kv => Current(kv.Key)))
                    st.Scalars[kv.Key["optim.".Length..]] = double.Parse(kv.Value, CultureInfo.InvariantCulture);
                optimizer.LoadStateDict(st);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"checkpoint {tp} does not fit this optimiser: {ex.Message}", ex);
            }
            finally { foreach (var t in st.Tensors.Values) t.Dispose(); }
        }
        return info;
    }

    /// <summary>
    /// Deletes what saves killed midway left in <paramref name="runDir"/>: <c>checkpoints/.tmp-*</c> directories and
    /// the temporary files of atomic writes. Returns how many were deleted. <see cref="Save"/> calls it; call it only
    /// when no other process writes into the run.
    /// </summary>
    public static int DeleteStaleTemporaries(string runDir)
    {
        string root = Path.GetFullPath(runDir), saves = Path.Combine(root, SavesDirectory);
        int n = AtomicFile.DeleteStaleTemporaries(root) + AtomicFile.DeleteStaleTemporaries(saves);
        if (Directory.Exists(saves))
            foreach (var d in Directory.EnumerateDirectories(saves, TempPrefix + "*"))
                if (TryDeleteDirectory(d)) n++;
        return n;
    }

    private static FileNotFoundException NoSave(string dir) => new(
        $"checkpoint: {dir} holds no complete save (looked for {SavesDirectory}/{LatestFile}, the saves in " +
        $"{SavesDirectory}/ and {ModelFile} with {TrainerFile})", Path.Combine(dir, SavesDirectory));

    // Reads both files' headers (which checks their lengths too) and that they come from one save.
    private static CheckpointInfo Inspect(string dir, string? name)
    {
        string mp = Path.Combine(dir, ModelFile), tp = Path.Combine(dir, TrainerFile);
        if (!File.Exists(mp)) throw new FileNotFoundException($"{mp} is missing", mp);
        if (!File.Exists(tp)) throw new FileNotFoundException($"{tp} is missing", tp);
        var trainer = SafeTensors.ReadMetadata(tp);
        var model = SafeTensors.ReadMetadata(mp);
        trainer.TryGetValue("checkpoint_id", out var a);
        model.TryGetValue("checkpoint_id", out var b);
        if (a != b)
            throw new InvalidDataException($"checkpoint in {dir}: {ModelFile} and {TrainerFile} come from different " +
                $"saves (checkpoint_id {b} vs {a}); the run was interrupted while saving.");
        return new CheckpointInfo(dir, name, trainer);
    }

    private static string? ReadPointer(string saves)
    {
        var p = Path.Combine(saves, LatestFile);
        if (!File.Exists(p)) return null;
        var name = File.ReadAllText(p).Trim();
        return SaveName().IsMatch(name) ? name : null;
    }

    private static IEnumerable<(string Name, int Number)> ListSaves(string saves) =>
        Directory.EnumerateDirectories(saves)
            .Select(Path.GetFileName)
            .Select(n => (Name: n!, Match: SaveName().Match(n!)))
            .Where(x => x.Match.Success)
            .Select(x => (x.Name, int.Parse(x.Match.Groups["number"].Value, CultureInfo.InvariantCulture)));

    // Keeps the latest save and the keep − 1 newest older ones; deletes the rest, including saves numbered after
    // the latest (renamed into place by a run that was killed before committing them, then resumed from earlier).
    private static void Prune(string saves, string latest, int keep)
    {
        int latestNumber = int.Parse(SaveName().Match(latest).Groups["number"].Value, CultureInfo.InvariantCulture);
        var others = ListSaves(saves).Where(s => s.Name != latest).ToList();
        var kept = others.Where(s => s.Number < latestNumber).OrderByDescending(s => s.Number).Take(keep - 1)
            .Select(s => s.Name).ToHashSet();
        foreach (var s in others.Where(s => !kept.Contains(s.Name)))
        {
            AtomicFile.Step($"delete old save {s.Name}");
            try { DeleteSave(saves, s.Name); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // the next save retries
        }
    }

    // Renames the save to a temporary name first, so that a kill midway leaves a temporary, not a damaged save.
    private static void DeleteSave(string saves, string name)
    {
        var doomed = Path.Combine(saves, TempPrefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.Move(Path.Combine(saves, name), doomed);
        AtomicFile.Step($"delete {doomed}");
        Directory.Delete(doomed, recursive: true);
    }

    private static bool TryDeleteDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // a leftover is deleted by the next save
        }
    }
}
