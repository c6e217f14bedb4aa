using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace SpikeSharp.IO;

/// <summary>Replaces files atomically so a crash or failed write never leaves a half-written file behind.</summary>
public static partial class AtomicFile
{
    private static readonly AsyncLocal<Action<string>?> Hook = new();

    /// <summary>
    /// Test hook: called with a short description before each file-system step of a save (this class's and
    /// the run checkpoint's in SpikeSharp.Training), so a test can look at the disk exactly as a kill at that moment
    /// would leave it.
    /// Flows with the calling async context only, so saves in concurrently running tests do not see it.
    /// </summary>
    internal static Action<string>? StepHook { get => Hook.Value; set => Hook.Value = value; }

    /// <summary>
    /// Marks a file-system step of a save built on this class (a run checkpoint's rename or delete, say), so the
    /// crash-consistency hook of the tests sees every step of the save in order; otherwise does nothing.
    /// </summary>
    /// <param name="description">What is about to happen, e.g. "rename A to B".</param>
    /// <exception cref="ArgumentException"><paramref name="description"/> is null or empty.</exception>
    public static void Step(string description)
    {
        ArgumentException.ThrowIfNullOrEmpty(description);
        Hook.Value?.Invoke(description);
    }

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
    /// I/O or access errors propagate unchanged, after the cleanup). A process killed mid-write leaves the
    /// temporary file (named <c>.NAME.tmp-XXXXXXXXXXXX</c>) behind; <see cref="DeleteStaleTemporaries"/> removes it.
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
            Step($"create {temp}");
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            Step($"rename {temp} to {full}");
            File.Move(temp, full, overwrite: true);
            temp = null;
            FlushDirectory(dir);
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

    /// <summary>Writes <paramref name="text"/> as UTF-8 without byte-order mark, atomically (<see cref="Write"/>).
    /// </summary>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));
    }

    /// <summary>Replaces <paramref name="path"/> atomically with a copy of <paramref name="source"/>.</summary>
    /// <exception cref="FileNotFoundException"><paramref name="source"/> does not exist.</exception>
    /// <exception cref="IOException">Writing failed; the file at <paramref name="path"/> is unchanged.</exception>
    public static void Copy(string source, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        if (!File.Exists(source))
            throw new FileNotFoundException($"Could not copy '{source}': it does not exist.", source);
        Write(path, dst =>
        {
            using var src = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            src.CopyTo(dst, 1 << 20);
        });
    }

    /// <summary>
    /// Places the content of <paramref name="source"/> at <paramref name="path"/> atomically, as a hard link where the
    /// file system allows it (Linux and macOS: no data is copied, and both names then share one file, which must not
    /// be modified in place), else as a copy (<see cref="Copy"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException"><paramref name="source"/> does not exist.</exception>
    /// <exception cref="IOException">Writing failed; the file at <paramref name="path"/> is unchanged.</exception>
    public static void LinkOrCopy(string source, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(source))
            throw new FileNotFoundException($"Could not copy '{source}': it does not exist.", source);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(dir, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        Step($"link {temp}");
        if (!TryLink(Path.GetFullPath(source), temp))
        {
            Copy(source, path); // another file system, or one without hard links
            return;
        }
        bool moved = false;
        try
        {
            Step($"rename {temp} to {full}");
            File.Move(temp, full, overwrite: true);
            moved = true;
            FlushDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Could not write '{full}': {e.Message} The previous file, if any, is unchanged.", e);
        }
        finally
        {
            if (!moved) TryDelete(temp);
        }
    }

    private static bool TryLink(string source, string link)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return false;
        try
        {
            return Native.link(source, link) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Deletes the temporary files that <see cref="Write"/> leaves in <paramref name="dir"/> when its process is
    /// killed mid-write. Returns how many were deleted. Call it only when no other writer works in that directory.
    /// </summary>
    public static int DeleteStaleTemporaries(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        int n = 0;
        foreach (var f in Directory.EnumerateFiles(dir, ".*.tmp-*"))
            if (TempName().IsMatch(Path.GetFileName(f)) && TryDelete(f)) n++;
        return n;
    }

    [GeneratedRegex(@"^\..+\.tmp-[0-9a-f]{12}$")]
    private static partial Regex TempName();

    /// <summary>
    /// Flushes a directory's entries to disk (best effort, Linux and macOS), so a rename into it survives a power
    /// loss as well as a killed process. Windows has no portable equivalent; there the call does nothing.
    /// </summary>
    /// <param name="dir">An existing directory (one that cannot be opened is passed over).</param>
    /// <exception cref="ArgumentException"><paramref name="dir"/> is null or empty.</exception>
    public static void FlushDirectory(string dir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        try
        {
            int fd = Native.open(dir, 0 /* O_RDONLY */);
            if (fd < 0) return;
            try { _ = Native.fsync(fd); }
            finally { _ = Native.close(fd); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Durability against power loss is a bonus: a killed process loses nothing without it.
        }
    }

    private static bool TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more than a leftover temp file.
            return false;
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc")]
        internal static partial int fsync(int fd);

        [LibraryImport("libc")]
        internal static partial int close(int fd);

        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int link(string oldPath, string newPath);
    }
}
