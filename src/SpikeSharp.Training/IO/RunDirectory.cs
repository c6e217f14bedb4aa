namespace SpikeSharp.IO;

/// <summary>Guards a training run's output directory against being overwritten by accident.</summary>
public static class RunDirectory
{
    /// <summary>Files and directories a Fashion-MNIST or LM run writes at its root.</summary>
    public static IReadOnlyList<string> RunEntries { get; } = new[]
    {
        "metrics.csv", Checkpoint.ModelFile, Checkpoint.TrainerFile, "config.json", Checkpoint.SavesDirectory, "plots",
    };

    /// <summary>The entries of <see cref="RunEntries"/> in <paramref name="dir"/> (none if it does not exist).
    /// </summary>
    public static IReadOnlyList<string> FindRunEntries(string dir) =>
        RunEntries.Where(e => File.Exists(Path.Combine(dir, e)) || Directory.Exists(Path.Combine(dir, e))).ToList();

    /// <summary>
    /// Makes <paramref name="dir"/> ready for a new run: creates it; if it already holds a run, deletes that run's
    /// entries (<see cref="RunEntries"/>, nothing else) when <paramref name="overwrite"/> is set, else refuses.
    /// </summary>
    /// <exception cref="IOException">The directory holds a run and <paramref name="overwrite"/> is false; the message
    /// names the entries found and the options --resume and --overwrite.</exception>
    public static void PrepareNew(string dir, bool overwrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        var found = FindRunEntries(dir);
        if (found.Count > 0 && !overwrite)
            throw new IOException($"--out {dir} already holds a training run ({string.Join(", ", found)}); pass " +
                "--resume to continue it, or --overwrite to delete it and start again (or choose another --out)");
        foreach (var e in found)
        {
            var p = Path.Combine(dir, e);
            if (Directory.Exists(p)) Directory.Delete(p, recursive: true);
            else File.Delete(p);
        }
        Directory.CreateDirectory(dir);
        Checkpoint.DeleteStaleTemporaries(dir);
    }

    /// <summary>
    /// The newest complete save of the run in <paramref name="dir"/>, for --resume; refuses clearly when there is none.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">It holds no complete save.</exception>
    public static CheckpointInfo FindResumable(string dir, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException(
                $"--resume: {dir} does not exist; leave out --resume to start a new run there");
        var info = Checkpoint.FindLatest(dir, warn);
        if (info != null) return info;
        var found = FindRunEntries(dir);
        if (found.Contains(Checkpoint.ModelFile) && !found.Contains(Checkpoint.TrainerFile)
            && !found.Contains(Checkpoint.SavesDirectory))
            throw new FileNotFoundException(
                $"--resume: {dir} holds a model but no trainer state ({Checkpoint.TrainerFile}; " +
                "earlier versions saved none for 'train lm'), so its run cannot be continued; start a new run with " +
                "--overwrite or another --out", Path.Combine(dir, Checkpoint.TrainerFile));
        throw new FileNotFoundException(found.Count == 0
            ? $"--resume: {dir} holds no training run; leave out --resume to start a new run there"
            : $"--resume: {dir} holds no complete checkpoint (it has {string.Join(", ", found)}: the run was stopped " +
              "before its first save finished); start it again with --overwrite",
            Path.Combine(dir, Checkpoint.SavesDirectory));
    }
}
