namespace SpikeSharp.Data;

/// <summary>
/// CIFAR-10 (Krizhevsky, 2009), binary version: 32×32 colour images of 10 classes, 50,000 for training in
/// <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> and 10,000 for testing in <c>test_batch.bin</c>.
/// </summary>
/// <remarks>
/// Each file is a sequence of 3,073-byte records: the label byte (0–9), then 3,072 pixel bytes, the 1,024 red
/// values of the image row by row, then the green, then the blue ones; a sample is therefore (3, 32, 32), scaled to
/// [0, 1]. The files may sit in the data directory or in its <c>cifar-10-batches-bin</c> folder (the archive's).
/// A file whose length is not a whole number of records, or a label above 9, is an error naming the file and record.
/// </remarks>
public static class Cifar10
{
    /// <summary>Bytes per record: 1 label + 3·32·32 pixels.</summary>
    public const int RecordBytes = 1 + ImageBytes;
    /// <summary>Pixel bytes per image.</summary>
    public const int ImageBytes = 3 * 32 * 32;

    /// <summary>The class names, by label.</summary>
    public static readonly string[] ClassNames =
        { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };

    /// <summary>The training files, in load order.</summary>
    public static readonly string[] TrainFiles =
        { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin" };

    /// <summary>The test file.</summary>
    public const string TestFile = "test_batch.bin";

    /// <summary>The dataset's page.</summary>
    public const string HomePage = "https://www.cs.toronto.edu/~kriz/cifar.html";

    /// <summary>The binary archive ("CIFAR-10 binary version (suitable for C programs)") with the MD5 its page
    /// publishes; it unpacks to cifar-10-batches-bin/.</summary>
    public static readonly DatasetFile Archive = new("cifar-10-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Md5: "c32a1d4ab5d03f1284b67883e8d87530");

    /// <summary>The directory of <paramref name="root"/> that holds the batch files.</summary>
    public static string FindDirectory(string root)
    {
        foreach (var dir in new[] { root, Path.Combine(root, "cifar-10-batches-bin") })
            if (TrainFiles.Append(TestFile).All(f => File.Exists(Path.Combine(dir, f)))) return dir;
        var missing = TrainFiles.Append(TestFile).Where(f => !File.Exists(Path.Combine(root, f)));
        throw new FileNotFoundException(
            $"CIFAR-10: '{root}' lacks {string.Join(", ", missing)} (looked in '{root}' and " +
            $"'{Path.Combine(root, "cifar-10-batches-bin")}'; expected the binary version's *.bin files)");
    }

    /// <summary>Reads one batch file.</summary>
    /// <exception cref="InvalidDataException">A truncated record or a label out of range.</exception>
    public static (byte[] Pixels, int[] Labels) ReadBatch(string path, int? limit = null)
    {
        long length = new FileInfo(path).Length;
        if (length % RecordBytes != 0)
            throw new InvalidDataException(
                $"CIFAR-10: '{path}' has {length} bytes, not a whole number of {RecordBytes}-byte records (record " +
                $"#{length / RecordBytes} is truncated after {length % RecordBytes} bytes)");
        int n = (int)Math.Min(length / RecordBytes, limit ?? int.MaxValue);
        var pixels = new byte[(long)n * ImageBytes];
        var labels = new int[n];
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var record = new byte[RecordBytes];
        for (int i = 0; i < n; i++)
        {
            s.ReadExactly(record);
            if (record[0] >= ClassNames.Length)
                throw new InvalidDataException(
                    $"CIFAR-10: '{path}' record #{i} has label {record[0]}; expected 0 to {ClassNames.Length - 1}");
            labels[i] = record[0];
            record.AsSpan(1).CopyTo(pixels.AsSpan(i * ImageBytes, ImageBytes));
        }
        return (pixels, labels);
    }

    /// <summary>Loads a split as (3, 32, 32) images scaled to [0, 1].</summary>
    /// <param name="root">The data directory (see <see cref="FindDirectory"/>).</param>
    /// <param name="train">The five training batches, else the test batch.</param>
    /// <param name="limit">Read only the first this many images.</param>
    public static ByteImageDataset Load(string root, bool train, int? limit = null)
    {
        if (limit is <= 0)
            throw new ArgumentOutOfRangeException(nameof(limit), $"CIFAR-10: limit must be positive, got {limit}");
        string dir = FindDirectory(root);
        var parts = new List<(byte[] Pixels, int[] Labels)>();
        int left = limit ?? int.MaxValue;
        foreach (var f in train ? TrainFiles : new[] { TestFile })
        {
            if (left <= 0) break;
            var part = ReadBatch(Path.Combine(dir, f), left);
            parts.Add(part);
            left -= part.Labels.Length;
        }
        var pixels = parts.SelectMany(p => p.Pixels).ToArray();
        return new ByteImageDataset(pixels, parts.SelectMany(p => p.Labels).ToArray(), new[] { 3, 32, 32 });
    }
}

/// <summary>An image dataset kept as bytes (a quarter of the memory of floats), samples scaled by 1/255 when
/// copied out.</summary>
public sealed class ByteImageDataset : ILabelledDataset
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;

    /// <summary>Creates a dataset of <c>labels.Length</c> samples of <paramref name="sampleShape"/>.</summary>
    public ByteImageDataset(byte[] pixels, int[] labels, int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(pixels); ArgumentNullException.ThrowIfNull(labels);
        SampleSize = checked((int)ShapeUtil.Numel(sampleShape));
        if ((long)labels.Length * SampleSize != pixels.Length)
            throw new ArgumentException(
                $"dataset: {labels.Length} labels × {SampleSize} values per sample " +
                $"{ShapeUtil.Format(sampleShape)} = " +
                $"{(long)labels.Length * SampleSize}, but the pixels are {pixels.Length}", nameof(pixels));
        _pixels = pixels; _labels = labels; SampleShape = sampleShape;
    }

    /// <inheritdoc/>
    public int Count => _labels.Length;
    /// <inheritdoc/>
    public int[] SampleShape { get; }
    /// <inheritdoc/>
    public int SampleSize { get; }
    /// <summary>Images are static: false.</summary>
    public bool TimeMajor => false;
    /// <summary>The raw pixels, one sample after another.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;

    /// <inheritdoc/>
    public int Label(int index) => _labels[index];

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        var src = _pixels.AsSpan(index * SampleSize, SampleSize);
        for (int i = 0; i < src.Length; i++) destination[i] = src[i] * (1f / 255f);
    }

    /// <inheritdoc/>
    public ILabelledDataset Take(int count)
    {
        int n = Math.Clamp(count, 0, Count);
        return new ByteImageDataset(_pixels[..(n * SampleSize)], _labels[..n], SampleShape);
    }
}
