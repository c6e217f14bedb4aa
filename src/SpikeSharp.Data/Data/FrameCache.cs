using System.Security.Cryptography;
using System.Text;
using SpikeSharp.IO;

namespace SpikeSharp.Data;

/// <summary>
/// Binned frames kept on disk so that a dataset is read and binned once. A cache file is named after the dataset,
/// the split, the binning and T (readable), and begins with its full key: the dataset, the split, the identity of
/// the source files (names, sizes and modification times, hashed), the binning, T, the sample limit and the frame
/// shape. A file whose key differs from the one asked for (the data or a parameter changed) or that cannot be read
/// is rebuilt; files are replaced atomically, so a killed run never leaves a half cache behind.
/// </summary>
/// <remarks>
/// Layout (little-endian): the 8 bytes "SSFRAME1"; the key (int32 length + UTF-8); int32 sample count; int32 rank
/// and the sample shape (int32 each); the labels (int32 each); count + 1 int64 offsets into the nonzeros; the
/// nonzeros' flat indices (int32) and values (float32).
/// </remarks>
public static class FrameCache
{
    private static readonly byte[] Magic = "SSFRAME1"u8.ToArray();

    /// <summary>The default cache directory: $XDG_CACHE_HOME/spikesharp/frames or ~/.cache/spikesharp/frames.</summary>
    public static string DefaultDirectory => MnistFamily.DefaultCacheDirectory("frames");

    /// <summary>A hex SHA-256 of the names, sizes and modification times of <paramref name="files"/>.</summary>
    public static string SourceIdentity(IEnumerable<string> files)
    {
        var text = new StringBuilder();
        foreach (var f in files)
        {
            var info = new FileInfo(f);
            text.Append(Path.GetFileName(Path.GetDirectoryName(f))).Append('/').Append(info.Name).Append(' ')
                .Append(info.Length).Append(' ').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>
    /// The frames under <paramref name="key"/> from the cache file <paramref name="name"/> in
    /// <paramref name="directory"/>, or those <paramref name="build"/> makes (then written to the cache). A null
    /// directory turns caching off.
    /// </summary>
    public static FrameDataset GetOrBuild(string? directory, string name, string key, Func<FrameDataset> build,
        Action<string>? log = null)
    {
        log ??= _ => { };
        if (directory is null) return build();
        string path = Path.Combine(directory, name + ".frames");
        if (File.Exists(path))
        {
            try
            {
                if (TryRead(path, key) is { } cached)
                {
                    log($"frames: read {cached.Count} samples from the cache {path}");
                    return cached;
                }
                log($"frames: the cache {path} was made from other data or parameters; rebuilding it");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                          or EndOfStreamException)
            {
                log($"frames: the cache {path} is unreadable ({e.Message}); rebuilding it");
            }
        }
        var frames = build();
        try
        {
            AtomicFile.Write(path, s => Write(s, key, frames));
            log($"frames: cached {frames.Count} samples in {path}");
        }
        catch (IOException e)
        {
            log($"frames: could not write the cache ({e.Message}); continuing without it");
        }
        return frames;
    }

    /// <summary>Writes <paramref name="frames"/> under <paramref name="key"/>.</summary>
    internal static void Write(Stream stream, string key, FrameDataset frames)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        var k = Encoding.UTF8.GetBytes(key);
        w.Write(k.Length); w.Write(k);
        w.Write(frames.Count);
        w.Write(frames.SampleShape.Length);
        foreach (var d in frames.SampleShape) w.Write(d);
        foreach (var l in frames.Labels) w.Write(l);
        foreach (var o in frames.Offsets) w.Write(o);
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(frames.Indices.AsSpan()));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(frames.Values.AsSpan()));
    }

    /// <summary>The frames in <paramref name="path"/> if its key is <paramref name="key"/>, else null.</summary>
    /// <exception cref="InvalidDataException">The file is not a frame cache or is damaged.</exception>
    internal static FrameDataset? TryRead(string path, string key)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var r = new BinaryReader(s, Encoding.UTF8);
        if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException("not a SpikeSharp frame cache");
        int keyLength = r.ReadInt32();
        if (keyLength < 0 || keyLength > 1 << 20) throw new InvalidDataException($"key length {keyLength}");
        var stored = r.ReadBytes(keyLength);
        if (stored.Length != keyLength) throw new InvalidDataException("the file ends inside its key (truncated)");
        if (Encoding.UTF8.GetString(stored) != key) return null;
        int count = r.ReadInt32(), rank = r.ReadInt32();
        if (count < 0 || rank is < 2 or > 8) throw new InvalidDataException($"{count} samples of rank {rank}");
        var shape = new int[rank];
        for (int i = 0; i < rank; i++) shape[i] = r.ReadInt32();
        long sampleSize = shape.Aggregate(1L, (a, d) => a * d);
        var labels = new int[count];
        for (int i = 0; i < count; i++) labels[i] = r.ReadInt32();
        var offsets = new long[count + 1];
        for (int i = 0; i <= count; i++) offsets[i] = r.ReadInt64();
        long nnz = offsets[^1];
        if (offsets[0] != 0 || nnz < 0 || nnz * 8 != s.Length - s.Position || nnz > int.MaxValue)
            throw new InvalidDataException($"{nnz} nonzero values do not match the file's length (truncated?)");
        for (int i = 0; i < count; i++)
            if (offsets[i + 1] < offsets[i]) throw new InvalidDataException($"offsets decrease at sample {i}");
        var indices = new int[nnz];
        var values = new float[nnz];
        s.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(indices.AsSpan()));
        s.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        if (indices.Any(i => (uint)i >= sampleSize)) throw new InvalidDataException("a value index is out of range");
        return new FrameDataset(shape, labels, offsets, indices, values);
    }
}
