namespace SpikeSharp.IO;

/// <summary>Replaces files atomically so a crash or failed write never leaves a half-written file behind.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes a file through a temporary sibling, flushes it to disk and renames it over <paramref name="path"/>.
    /// </summary>
    /// <param name="path">Destination; its directory is created if needed.</param>
    /// <param name="write">Writes the complete content to the given stream.</param>
    /// <remarks>
    /// The temporary file lives in the destination directory because a rename is only atomic within one
    /// file system. On any failure the previous file at <paramref name="path"/> is untouched and the
    /// temporary file is deleted; the exception is an <see cref="IOException"/> naming the path, with the
    /// original error as inner exception (exceptions thrown by <paramref name="write"/> itself that are not
    /// I/O or access errors propagate unchanged, after the cleanup).
    /// </remarks>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        string? temp = null;
        try
        {
            Directory.CreateDirectory(dir);
            temp = Path.Combine(dir, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            temp = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Could not write '{full}': {e.Message} The previous file, if any, is unchanged.", e);
        }
        finally
        {
            if (temp is not null) TryDelete(temp);
        }
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more than a leftover temp file.
        }
    }
}
