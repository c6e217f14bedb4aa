using System.Globalization;

namespace SpikeSharp.Data;

/// <summary>
/// N-MNIST (Orchard et al., 2015): MNIST digits seen by a moving ATIS event camera, 34×34 pixels, 2 polarities,
/// 60,000 training and 10,000 test samples in the layout of the dataset's archives: <c>Train/&lt;digit&gt;/*.bin</c>
/// and <c>Test/&lt;digit&gt;/*.bin</c>.
/// </summary>
/// <remarks>
/// A <c>.bin</c> file holds 5 bytes per event (40 bits, big-endian): bits 39–32 x, 31–24 y, bit 23 the polarity,
/// bits 22–0 the timestamp in microseconds. Samples are ordered by file name (N-MNIST names are the MNIST
/// indices, so the classes are mixed), then by digit. A file whose length is not a multiple of 5, an event outside
/// the sensor, a timestamp earlier than the one before it or a folder that is not a digit 0–9 is an error naming
/// the file.
/// </remarks>
public static class NMnist
{
    /// <summary>The sensor: 34×34 pixels, 2 polarities.</summary>
    public static readonly SensorSize Sensor = new(34, 34, 2);

    /// <summary>Bytes per event in a .bin file.</summary>
    public const int EventBytes = 5;

    /// <summary>The dataset's page (Orchard et al.), which links the archives.</summary>
    public const string HomePage = "https://www.garrickorchard.com/datasets/n-mnist";

    private const string MendeleyFiles = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/";

    /// <summary>The training archive (Train.zip on Mendeley Data, dataset 468j46mzdv, linked from the home page).
    /// </summary>
    public static readonly DatasetFile TrainArchive = new("Train.zip",
        MendeleyFiles + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
        Md5: "20959b8e626244a1b502305a9e6e2031");

    /// <summary>The test archive (Test.zip).</summary>
    public static readonly DatasetFile TestArchive = new("Test.zip",
        MendeleyFiles + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
        Md5: "69ca8762b2fe404d9b9bad1103e97832");

    /// <summary>Reads the events of one .bin file.</summary>
    /// <exception cref="InvalidDataException">Truncated record, event outside the sensor or out of time order.
    /// </exception>
    public static EventStream ReadEvents(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var ev = ParseEvents(bytes, path);
        ev.Check(Sensor, $"N-MNIST: '{path}'");
        return ev;
    }

    /// <summary>Decodes 5-byte N-MNIST events (not checked against the sensor).</summary>
    public static EventStream ParseEvents(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length % EventBytes != 0)
            throw new InvalidDataException(
                $"N-MNIST: '{source}' has {bytes.Length} bytes, not a whole number of {EventBytes}-byte events " +
                $"(truncated after event #{bytes.Length / EventBytes - 1}?)");
        int n = bytes.Length / EventBytes;
        var x = new int[n]; var y = new int[n]; var p = new int[n]; var t = new long[n];
        for (int i = 0; i < n; i++)
        {
            var e = bytes.Slice(i * EventBytes, EventBytes);
            x[i] = e[0];
            y[i] = e[1];
            p[i] = e[2] >> 7;
            t[i] = ((e[2] & 0x7F) << 16) | (e[3] << 8) | e[4];
        }
        return new EventStream(x, y, p, t);
    }

    /// <summary>Encodes events as N-MNIST .bin bytes (for tests and tools).</summary>
    public static byte[] EncodeEvents(EventStream events)
    {
        var b = new byte[events.Count * EventBytes];
        for (int i = 0; i < events.Count; i++)
        {
            if ((uint)events.X[i] > 255 || (uint)events.Y[i] > 255 || (uint)events.P[i] > 1
                || (ulong)events.T[i] >= 1UL << 23)
                throw new ArgumentException(
                    $"N-MNIST: event #{i} (x={events.X[i]}, y={events.Y[i]}, p={events.P[i]}, t={events.T[i]}) does " +
                    "not fit the format (x, y bytes, p a bit, t below 2^23 µs)", nameof(events));
            int o = i * EventBytes;
            b[o] = (byte)events.X[i];
            b[o + 1] = (byte)events.Y[i];
            b[o + 2] = (byte)((events.P[i] << 7) | (int)(events.T[i] >> 16));
            b[o + 3] = (byte)(events.T[i] >> 8);
            b[o + 4] = (byte)events.T[i];
        }
        return b;
    }

    /// <summary>The .bin files of a split and their labels, in the documented order.</summary>
    /// <param name="root">A directory holding <c>Train</c> and <c>Test</c> (or <c>train</c>/<c>test</c>).</param>
    /// <param name="train">The training split, else the test split.</param>
    public static (string Path, int Label)[] ListFiles(string root, bool train)
    {
        string split = SplitDirectory(root, train);
        var files = new List<(string, int)>();
        foreach (var dir in Directory.GetDirectories(split))
        {
            string name = Path.GetFileName(dir);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int digit) || digit > 9)
                throw new InvalidDataException(
                    $"N-MNIST: '{dir}' is not a digit folder: expected the labels 0 to 9 as folder names, got " +
                    $"'{name}'");
            foreach (var f in Directory.GetFiles(dir, "*.bin")) files.Add((f, digit));
        }
        if (files.Count == 0)
            throw new FileNotFoundException(
                $"N-MNIST: '{split}' holds no <digit>/*.bin files (expected {Path.GetFileName(split)}/0/*.bin … " +
                "9/*.bin)");
        return files.OrderBy(f => Path.GetFileName(f.Item1), StringComparer.Ordinal).ThenBy(f => f.Item2).ToArray();
    }

    private static string SplitDirectory(string root, bool train)
    {
        foreach (var name in train ? new[] { "Train", "train" } : new[] { "Test", "test" })
        {
            var d = Path.Combine(root, name);
            if (Directory.Exists(d)) return d;
        }
        throw new DirectoryNotFoundException(
            $"N-MNIST: '{root}' has no {(train ? "Train" : "Test")} folder; expected the unpacked archives: " +
            $"{Path.Combine(root, train ? "Train" : "Test", "<digit>", "*.bin")}");
    }

    /// <summary>
    /// Loads a split binned into <paramref name="steps"/> frames per sample, (T, 2, 34, 34), through the frame
    /// cache in <paramref name="cacheDirectory"/> (null: no cache).
    /// </summary>
    /// <param name="root">The dataset directory (see <see cref="ListFiles"/>).</param>
    /// <param name="train">The training split, else the test split.</param>
    /// <param name="binning">How events become frames.</param>
    /// <param name="steps">Frames per sample, T.</param>
    /// <param name="limit">Read only the first this many samples.</param>
    /// <param name="cacheDirectory">Where binned frames are kept.</param>
    /// <param name="log">Told about the cache.</param>
    public static FrameDataset Load(string root, bool train, EventBinning binning, int steps, int? limit = null,
        string? cacheDirectory = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(binning);
        if (steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(steps), $"N-MNIST: time steps must be positive, got {steps}");
        if (limit is <= 0)
            throw new ArgumentOutOfRangeException(nameof(limit), $"N-MNIST: limit must be positive, got {limit}");
        var files = ListFiles(root, train);
        if (limit is int l) files = files.Take(l).ToArray();
        string split = train ? "train" : "test";
        int[] shape = { steps, Sensor.Polarities, Sensor.Height, Sensor.Width };
        string key = $"nmnist|{split}|{FrameCache.SourceIdentity(files.Select(f => f.Path))}|{binning.Key}|" +
                     $"T={steps}|n={files.Length}|{ShapeUtil.Format(shape)}";
        return FrameCache.GetOrBuild(cacheDirectory, $"nmnist-{split}-{Safe(binning.Key)}-T{steps}-n{files.Length}",
            key, () =>
            {
                var builder = new FrameDataset.Builder(shape);
                var dense = new float[steps * Sensor.FrameSize];
                foreach (var (path, label) in files)
                {
                    binning.ToFrames(ReadEvents(path), Sensor, steps, dense);
                    builder.Add(label, dense);
                }
                return builder.Build();
            }, log);
    }

    internal static string Safe(string key) => key.Replace(':', '-').Replace('+', '-');
}
