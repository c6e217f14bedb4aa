using System.Collections.Concurrent;

namespace SpikeSharp.Data;

/// <summary>An in-memory labelled dataset of equal-shaped float samples (e.g. images scaled to [0, 1]).</summary>
public sealed class ArrayDataset
{
    /// <summary>Creates a dataset from uint8 samples scaled by 1/255.</summary>
    public static ArrayDataset FromBytes(byte[] data, int[] labels, int[] sampleShape)
    {
        var f = new float[data.Length];
        for (int i = 0; i < f.Length; i++) f[i] = data[i] * (1f / 255f);
        return new ArrayDataset(f, labels, sampleShape);
    }

    /// <summary>Creates a dataset; <paramref name="data"/> holds <c>labels.Length</c> samples of <paramref name="sampleShape"/>.</summary>
    public ArrayDataset(float[] data, int[] labels, int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(data); ArgumentNullException.ThrowIfNull(labels);
        SampleSize = checked((int)ShapeUtil.Numel(sampleShape));
        if ((long)labels.Length * SampleSize != data.Length)
            throw new ArgumentException($"dataset: {labels.Length} labels × {SampleSize} values per sample {ShapeUtil.Format(sampleShape)} = {(long)labels.Length * SampleSize}, but data has {data.Length}", nameof(data));
        Data = data; Labels = labels; SampleShape = sampleShape;
    }

    /// <summary>Flat sample data.</summary>
    public float[] Data { get; }
    /// <summary>One label per sample.</summary>
    public int[] Labels { get; }
    /// <summary>Shape of one sample.</summary>
    public int[] SampleShape { get; }
    /// <summary>Values per sample.</summary>
    public int SampleSize { get; }
    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;

    /// <summary>The first <paramref name="n"/> samples (a copy).</summary>
    public ArrayDataset Take(int n)
    {
        n = Math.Min(n, Count);
        return new ArrayDataset(Data.AsSpan(0, n * SampleSize).ToArray(), Labels.AsSpan(0, n).ToArray(), SampleShape);
    }
}

/// <summary>
/// Batches a dataset onto a device: seeded shuffle per epoch, drop-last option, and host-side batch
/// assembly on a background thread one batch ahead (the upload happens on the consuming thread).
/// Each yielded (x (B, ...), y int32 (B)) pair belongs to the caller's scope.
/// </summary>
public sealed class DataLoader
{
    private readonly ArrayDataset _ds;
    private int _epoch;

    /// <summary>Creates a loader.</summary>
    public DataLoader(ArrayDataset dataset, int batchSize, bool shuffle = true, bool dropLast = false, ulong seed = 0, Device? device = null)
    {
        _ds = dataset ?? throw new ArgumentNullException(nameof(dataset));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be positive, got {batchSize}");
        if (dropLast && batchSize > dataset.Count)
            throw new ArgumentException($"batch size {batchSize} is larger than the dataset ({dataset.Count} samples) and dropLast is set: no batch would be produced", nameof(batchSize));
        BatchSize = batchSize; Shuffle = shuffle; DropLast = dropLast; Seed = seed; Device = device ?? SpikeSharp.Device.Default;
    }

    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public ulong Seed { get; }
    public Device Device { get; }

    /// <summary>The epoch whose order the next enumeration uses (set it when resuming).</summary>
    public int Epoch { get => _epoch; set => _epoch = value; }

    /// <summary>Batches per epoch.</summary>
    public int BatchCount => DropLast ? _ds.Count / BatchSize : (_ds.Count + BatchSize - 1) / BatchSize;

    /// <summary>The sample order of an epoch (deterministic in seed and epoch).</summary>
    public int[] Order(int epoch)
    {
        var idx = Enumerable.Range(0, _ds.Count).ToArray();
        if (Shuffle) new Random(unchecked((int)(Seed * 1000003UL + (ulong)epoch))).Shuffle(idx);
        return idx;
    }

    /// <summary>Enumerates one epoch and advances <see cref="Epoch"/>.</summary>
    public IEnumerable<(Tensor x, Tensor y)> Batches()
    {
        var order = Order(_epoch++);
        int n = BatchCount;
        using var queue = new BlockingCollection<(float[] x, int[] y, int b)>(2);
        var producer = Task.Run(() =>
        {
            try
            {
                for (int b = 0; b < n; b++)
                {
                    int start = b * BatchSize, len = Math.Min(BatchSize, order.Length - start);
                    var xs = GC.AllocateUninitializedArray<float>(len * _ds.SampleSize);
                    var ys = new int[len];
                    for (int i = 0; i < len; i++)
                    {
                        int s = order[start + i];
                        Array.Copy(_ds.Data, (long)s * _ds.SampleSize, xs, (long)i * _ds.SampleSize, _ds.SampleSize);
                        ys[i] = _ds.Labels[s];
                    }
                    queue.Add((xs, ys, len));
                }
            }
            finally { queue.CompleteAdding(); }
        });
        foreach (var (xs, ys, len) in queue.GetConsumingEnumerable())
        {
            var x = Tensor.FromArray(xs, new[] { len }.Concat(_ds.SampleShape).ToArray(), Device);
            var y = Tensor.FromArray(ys, new[] { len }, Device);
            yield return (x, y);
        }
        producer.GetAwaiter().GetResult();
    }
}
