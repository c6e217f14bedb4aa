using PureHDF;
using PureHDF.VOL.Native;

namespace SpikeSharp.Data;

/// <summary>
/// The Spiking Heidelberg Digits (Cramer et al., 2020): spoken digits 0–9 in English and German (20 classes) as
/// spikes of 700 cochlea channels; <c>shd_train.h5</c> (8,156 samples) and <c>shd_test.h5</c> (2,264).
/// </summary>
/// <remarks>
/// Each file is HDF5: <c>spikes/times</c> (one variable-length array of float seconds per sample; float16, 32 or
/// 64 are read), <c>spikes/units</c> (one variable-length array of channel indices per sample, any integer type)
/// and <c>labels</c> (one integer per sample). Times become microseconds, rounded to the nearest. A sample's spikes
/// are sorted stably by time when they are not already in order (SHD lists spikes per sample, not as a stream);
/// the loader logs how many samples needed it. A channel ≥ 700, a label ≥ 20, a negative or non-finite time,
/// times and units of different lengths, a truncated or non-HDF5 file are errors naming the file and the sample.
/// </remarks>
public static class Shd
{
    /// <summary>Input channels.</summary>
    public const int Channels = 700;
    /// <summary>Classes (digits 0–9 in English, then in German).</summary>
    public const int Classes = 20;
    /// <summary>The "sensor": 700 channels, one row, one polarity.</summary>
    public static readonly SensorSize Sensor = new(Channels, 1, 1);

    /// <summary>The dataset's page.</summary>
    public const string HomePage = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/";

    /// <summary>The zipped training file.</summary>
    public static readonly DatasetFile TrainArchive = new("shd_train.h5.zip",
        "https://zenkelab.org/datasets/shd_train.h5.zip", Md5: "f3252aeb598ac776c1b526422d90eecb");

    /// <summary>The zipped test file.</summary>
    public static readonly DatasetFile TestArchive = new("shd_test.h5.zip",
        "https://zenkelab.org/datasets/shd_test.h5.zip", Md5: "1503a5064faa34311c398fb0a1ed0a6f");

    /// <summary>The file of a split in <paramref name="root"/>: shd_train.h5 or shd_test.h5.</summary>
    public static string FilePath(string root, bool train)
    {
        var path = Path.Combine(root, train ? "shd_train.h5" : "shd_test.h5");
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"SHD: '{root}' has no {Path.GetFileName(path)} (expected the unpacked shd_train.h5 and shd_test.h5)",
                path);
        return path;
    }

    /// <summary>Reads every sample of an SHD file as events (x = channel) and labels.</summary>
    /// <param name="path">An SHD HDF5 file.</param>
    /// <param name="limit">Read only the first this many samples.</param>
    /// <param name="log">Told how many samples had to be sorted.</param>
    public static (EventStream[] Samples, int[] Labels) Read(string path, int? limit = null, Action<string>? log = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"SHD: '{path}' does not exist", path);
        NativeFile file;
        try { file = H5File.OpenRead(path); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"SHD: '{path}' is not a readable HDF5 file ({e.Message})", e);
        }
        using (file)
        {
            var labels = Guard(path, "'labels'", () => ReadIntegers(file.Dataset("labels")));
            var times = Guard(path, "'spikes/times'", () => ReadTimes(file.Dataset("spikes/times")));
            var units = Guard(path, "'spikes/units'", () => ReadUnits(file.Dataset("spikes/units")));
            if (times.Length != labels.Length || units.Length != labels.Length)
                throw new InvalidDataException(
                    $"SHD: '{path}' has {labels.Length} labels, {times.Length} time arrays and {units.Length} unit " +
                    "arrays; expected one of each per sample");
            int n = limit is int l ? Math.Min(l, labels.Length) : labels.Length;
            var samples = new EventStream[n];
            int sorted = 0;
            for (int i = 0; i < n; i++)
            {
                if ((ulong)labels[i] >= Classes)
                    throw new InvalidDataException(
                        $"SHD: '{path}' sample #{i} has label {labels[i]}; expected 0 to {Classes - 1}");
                samples[i] = ToEvents(path, i, times[i], units[i], ref sorted);
            }
            if (sorted > 0) log?.Invoke($"SHD: sorted the spikes of {sorted} sample(s) of '{path}' by time");
            return (samples, labels[..n].Select(v => (int)v).ToArray());
        }
    }

    private static EventStream ToEvents(string path, int i, double[] time, long[] unit, ref int sorted)
    {
        if (time.Length != unit.Length)
            throw new InvalidDataException(
                $"SHD: '{path}' sample #{i} has {time.Length} spike times but {unit.Length} units; expected equal " +
                "counts");
        var t = new long[time.Length];
        var x = new int[unit.Length];
        for (int k = 0; k < t.Length; k++)
        {
            if (!double.IsFinite(time[k]) || time[k] < 0 || time[k] > 1e6)
                throw new InvalidDataException(
                    $"SHD: '{path}' sample #{i} spike {k} has time {time[k]} s; expected a finite time from 0 to " +
                    "1e6 seconds");
            if ((ulong)unit[k] >= Channels)
                throw new InvalidDataException(
                    $"SHD: '{path}' sample #{i} spike {k} has unit {unit[k]}; expected a channel 0 to {Channels - 1}");
            t[k] = (long)Math.Round(time[k] * 1e6);
            x[k] = (int)unit[k];
        }
        bool inOrder = true;
        for (int k = 1; k < t.Length && inOrder; k++) inOrder = t[k] >= t[k - 1];
        if (!inOrder)
        {
            var order = Enumerable.Range(0, t.Length).OrderBy(k => t[k]).ToArray(); // stable
            t = order.Select(k => t[k]).ToArray();
            x = order.Select(k => x[k]).ToArray();
            sorted++;
        }
        return new EventStream(x, new int[x.Length], new int[x.Length], t);
    }

    private static long[] ReadIntegers(IH5Dataset d)
    {
        if (d.Type.Class != H5DataTypeClass.FixedPoint)
            throw new InvalidDataException($"expected integers, got {d.Type.Class}");
        bool signed = d.Type.FixedPoint.IsSigned;
        return d.Type.Size switch
        {
            1 => signed ? Widen(d.Read<sbyte[]>(), v => v) : Widen(d.Read<byte[]>(), v => v),
            2 => signed ? Widen(d.Read<short[]>(), v => v) : Widen(d.Read<ushort[]>(), v => v),
            4 => signed ? Widen(d.Read<int[]>(), v => v) : Widen(d.Read<uint[]>(), v => v),
            8 => signed ? d.Read<long[]>() : d.Read<ulong[]>().Select(v => unchecked((long)v)).ToArray(),
            var s => throw new InvalidDataException($"expected integers of 1, 2, 4 or 8 bytes, got {s}"),
        };
    }

    private static double[][] ReadTimes(IH5Dataset d)
    {
        var b = VlenBase(d);
        if (b.Class != H5DataTypeClass.FloatingPoint)
            throw new InvalidDataException($"expected variable-length float arrays, got arrays of {b.Class}");
        return b.Size switch
        {
            2 => d.Read<Half[][]>().Select(a => a.Select(v => (double)v).ToArray()).ToArray(),
            4 => d.Read<float[][]>().Select(a => a.Select(v => (double)v).ToArray()).ToArray(),
            8 => d.Read<double[][]>(),
            var s => throw new InvalidDataException($"expected floats of 2, 4 or 8 bytes, got {s}"),
        };
    }

    private static long[][] ReadUnits(IH5Dataset d)
    {
        var b = VlenBase(d);
        if (b.Class != H5DataTypeClass.FixedPoint)
            throw new InvalidDataException($"expected variable-length integer arrays, got arrays of {b.Class}");
        bool signed = b.FixedPoint.IsSigned;
        return b.Size switch
        {
            1 => signed ? Widen(d.Read<sbyte[][]>(), v => v) : Widen(d.Read<byte[][]>(), v => v),
            2 => signed ? Widen(d.Read<short[][]>(), v => v) : Widen(d.Read<ushort[][]>(), v => v),
            4 => signed ? Widen(d.Read<int[][]>(), v => v) : Widen(d.Read<uint[][]>(), v => v),
            8 => signed ? d.Read<long[][]>() : Widen(d.Read<ulong[][]>(), v => unchecked((long)v)),
            var s => throw new InvalidDataException($"expected integers of 1, 2, 4 or 8 bytes, got {s}"),
        };
    }

    private static long[][] Widen<T>(T[][] a, Func<T, long> f) => a.Select(r => Widen(r, f)).ToArray();

    private static long[] Widen<T>(T[] a, Func<T, long> f) => a.Select(f).ToArray();

    private static IH5DataType VlenBase(IH5Dataset d) => d.Type.Class == H5DataTypeClass.VariableLength
        ? d.Type.VariableLength.BaseType
        : throw new InvalidDataException($"expected variable-length arrays (one per sample), got {d.Type.Class}");

    // PureHDF's failures (a truncated file, a missing dataset) as messages naming the file and the dataset.
    private static T Guard<T>(string path, string what, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"SHD: '{path}': cannot read {what} ({e.Message})", e);
        }
    }

    /// <summary>
    /// Loads a split binned into <paramref name="steps"/> frames per sample, (T, 700), through the frame cache.
    /// </summary>
    /// <param name="root">The directory holding shd_train.h5 and shd_test.h5.</param>
    /// <param name="train">The training split, else the test split.</param>
    /// <param name="binning">How spikes become frames.</param>
    /// <param name="steps">Frames per sample, T.</param>
    /// <param name="limit">Read only the first this many samples.</param>
    /// <param name="cacheDirectory">Where binned frames are kept (null: no cache).</param>
    /// <param name="log">Told about the cache and sorting.</param>
    public static FrameDataset Load(string root, bool train, EventBinning binning, int steps, int? limit = null,
        string? cacheDirectory = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(binning);
        if (steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(steps), $"SHD: time steps must be positive, got {steps}");
        if (limit is <= 0)
            throw new ArgumentOutOfRangeException(nameof(limit), $"SHD: limit must be positive, got {limit}");
        string path = FilePath(root, train), split = train ? "train" : "test";
        int[] shape = { steps, Channels };
        string n = limit is int l ? l.ToString(System.Globalization.CultureInfo.InvariantCulture) : "all";
        string key = $"shd|{split}|{FrameCache.SourceIdentity(new[] { path })}|{binning.Key}|T={steps}|n={n}|" +
                     ShapeUtil.Format(shape);
        return FrameCache.GetOrBuild(cacheDirectory, $"shd-{split}-{NMnist.Safe(binning.Key)}-T{steps}-n{n}", key, () =>
        {
            var (samples, labels) = Read(path, limit, log);
            var builder = new FrameDataset.Builder(shape);
            var dense = new float[steps * Channels];
            for (int i = 0; i < samples.Length; i++)
            {
                binning.ToFrames(samples[i], Sensor, steps, dense);
                builder.Add(labels[i], dense);
            }
            return builder.Build();
        }, log);
    }
}
