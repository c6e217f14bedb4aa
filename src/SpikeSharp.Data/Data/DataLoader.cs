using System.Collections.Concurrent;

namespace SpikeSharp.Data;

/// <summary>An in-memory labelled dataset of equal-shaped float samples (e.g. images scaled to [0, 1]).</summary>
public sealed class ArrayDataset : ILabelledDataset
{
    /// <summary>Creates a dataset from uint8 samples scaled by 1/255.</summary>
    public static ArrayDataset FromBytes(byte[] data, int[] labels, int[] sampleShape)
    {
        var f = new float[data.Length];
        for (int i = 0; i < f.Length; i++) f[i] = data[i] * (1f / 255f);
        return new ArrayDataset(f, labels, sampleShape);
    }

    /// <summary>Creates a dataset; <paramref name="data"/> holds <c>labels.Length</c> samples of
    /// <paramref name="sampleShape"/>.</summary>
    public ArrayDataset(float[] data, int[] labels, int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(data); ArgumentNullException.ThrowIfNull(labels);
        SampleSize = checked((int)ShapeUtil.Numel(sampleShape));
        if ((long)labels.Length * SampleSize != data.Length)
            throw new ArgumentException($"dataset: {labels.Length} labels × {SampleSize} values per sample "
                + $"{ShapeUtil.Format(sampleShape)} = {(long)labels.Length * SampleSize}, but data has {data.Length}",
                nameof(data));
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

    /// <summary>Always false: samples are static and batched as (B, …).</summary>
    public bool TimeMajor => false;

    /// <summary>The first <paramref name="n"/> samples (a copy).</summary>
    public ArrayDataset Take(int n)
    {
        n = Math.Min(n, Count);
        return new ArrayDataset(Data.AsSpan(0, n * SampleSize).ToArray(), Labels.AsSpan(0, n).ToArray(), SampleShape);
    }

    int ILabelledDataset.Label(int index) => Labels[index];

    void ILabelledDataset.CopySample(int index, Span<float> destination) =>
        Data.AsSpan(index * SampleSize, SampleSize).CopyTo(destination);

    ILabelledDataset ILabelledDataset.Take(int count) => Take(count);
}

/// <summary>
/// Batches a dataset onto a device: seeded shuffle per epoch, drop-last option, and host-side batch
/// assembly on a background thread one batch ahead (the upload happens on the consuming thread).
/// The loader owns the batches it yields: each (x (B, ...), y int32 (B)) pair is disposed when the next one
/// is taken and when the enumeration ends (at its end, at a <c>break</c> or on an exception), so the plain
/// loop <c>foreach (var (x, y) in loader.Batches()) { using var scope = TensorScope.Begin(); ... }</c> holds
/// one batch at a time. To keep a batch past its step, call <see cref="Tensor.Persist"/> on it inside the
/// loop: the loader then leaves it alone and you dispose it. A dataset of sequences
/// (<see cref="ILabelledDataset.TimeMajor"/>, samples (T, …)) gives time-major batches x (T, B, …).
/// </summary>
public sealed class DataLoader
{
    private const string FreedHint = "the DataLoader frees each batch when the next one is taken or the loop ends; "
        + "call Persist() on a batch inside the loop to keep it (and dispose it yourself)";
    private readonly ILabelledDataset _ds;
    private int _epoch;

    /// <summary>Creates a loader.</summary>
    /// <param name="dataset">The samples.</param>
    /// <param name="batchSize">Samples per batch (the last may be smaller unless <paramref name="dropLast"/>).</param>
    /// <param name="shuffle">A new seeded order every epoch.</param>
    /// <param name="dropLast">Skip a last, incomplete batch.</param>
    /// <param name="seed">Seed of the shuffle.</param>
    /// <param name="device">Where batches go (default <see cref="Device.Default"/>).</param>
    public DataLoader(ILabelledDataset dataset, int batchSize, bool shuffle = true, bool dropLast = false,
        ulong seed = 0, Device? device = null)
    {
        _ds = dataset ?? throw new ArgumentNullException(nameof(dataset));
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be positive, got {batchSize}");
        if (dropLast && batchSize > dataset.Count)
            throw new ArgumentException($"batch size {batchSize} is larger than the dataset ({dataset.Count} samples) "
                + "and dropLast is set: no batch would be produced", nameof(batchSize));
        BatchSize = batchSize; Shuffle = shuffle; DropLast = dropLast; Seed = seed;
        Device = device ?? SpikeSharp.Device.Default;
    }

    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch has its own seeded order.</summary>
    public bool Shuffle { get; }
    /// <summary>Whether an incomplete last batch is skipped.</summary>
    public bool DropLast { get; }
    /// <summary>Seed of the shuffle.</summary>
    public ulong Seed { get; }
    /// <summary>Where batches are placed.</summary>
    public Device Device { get; }

    /// <summary>The epoch whose order the next enumeration uses (set it when resuming).</summary>
    public int Epoch { get => _epoch; set => _epoch = value; }

    /// <summary>
    /// A random change applied to every sample as it is copied into a batch (training-set augmentation), or null.
    /// Its randomness comes from (<see cref="Seed"/>, epoch, sample index) only, so epochs replay exactly on resume.
    /// </summary>
    public ISampleTransform? Transform { get; init; }

    /// <summary>Batches per epoch.</summary>
    public int BatchCount => DropLast ? _ds.Count / BatchSize : (_ds.Count + BatchSize - 1) / BatchSize;

    /// <summary>The sample order of an epoch (deterministic in seed and epoch).</summary>
    public int[] Order(int epoch)
    {
        var idx = Enumerable.Range(0, _ds.Count).ToArray();
        if (Shuffle) new Random(unchecked((int)(Seed * 1000003UL + (ulong)epoch))).Shuffle(idx);
        return idx;
    }

    /// <summary>
    /// Enumerates one epoch and advances <see cref="Epoch"/>. Each batch is disposed when the next is taken and
    /// when the enumeration ends, unless it was made persistent (see the class remarks).
    /// </summary>
    public IEnumerable<(Tensor x, Tensor y)> Batches()
    {
        int epoch = _epoch++;
        var order = Order(epoch);
        int n = BatchCount;
        var queue = new BlockingCollection<(float[] x, int[] y, int b)>(2);
        var stop = new CancellationTokenSource();
        var producer = Task.Run(() =>
        {
            var scratch = _ds.TimeMajor ? new float[_ds.SampleSize] : null;
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
                        Fill(xs, i, len, s, scratch, epoch);
                        ys[i] = _ds.Label(s);
                    }
                    queue.Add((xs, ys, len), stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The consumer left early (break or exception): nothing more to produce.
            }
            finally { queue.CompleteAdding(); }
        });
        Tensor? x = null, y = null;
        try
        {
            foreach (var (xs, ys, len) in queue.GetConsumingEnumerable())
            {
                Free(x); Free(y);
                x = Own(Tensor.FromArray(xs, BatchShape(len), Device));
                y = Own(Tensor.FromArray(ys, new[] { len }, Device));
                yield return (x, y);
            }
            producer.GetAwaiter().GetResult(); // surfaces an error of the producer
        }
        finally
        {
            Free(x); Free(y);
            stop.Cancel();
            // Waiting lets the producer leave before the queue is disposed. Its own failure was reported above
            // when the epoch ran to the end; after a break or an exception of the loop it no longer matters.
            try { producer.Wait(); } catch (AggregateException) { }
            queue.Dispose();
            stop.Dispose();
        }
    }

    // x (B, …) for static samples; (T, B, …) for sequences.
    private int[] BatchShape(int len) => _ds.TimeMajor
        ? new[] { _ds.SampleShape[0], len }.Concat(_ds.SampleShape.Skip(1)).ToArray()
        : new[] { len }.Concat(_ds.SampleShape).ToArray();

    // Places sample s at batch position i: a block of its own, or one slice per time step in a time-major batch.
    private void Fill(float[] xs, int i, int len, int s, float[]? scratch, int epoch)
    {
        int size = _ds.SampleSize;
        if (scratch is null)
        {
            var dst = xs.AsSpan(i * size, size);
            _ds.CopySample(s, dst);
            Transform?.Apply(dst, _ds.SampleShape, SampleKey(epoch, s));
            return;
        }
        _ds.CopySample(s, scratch);
        Transform?.Apply(scratch, _ds.SampleShape, SampleKey(epoch, s));
        int steps = _ds.SampleShape[0], per = size / steps;
        for (int t = 0; t < steps; t++)
            scratch.AsSpan(t * per, per).CopyTo(xs.AsSpan((t * len + i) * per, per));
    }

    private ulong SampleKey(int epoch, int sample) =>
        unchecked(Seed * 0x9E3779B97F4A7C15UL ^ ((ulong)(uint)epoch << 32 | (uint)sample));

    // A batch belongs to the loader, not to a scope that happens to be open around the loop.
    private static Tensor Own(Tensor t)
    {
        TensorScope.Untrack(t);
        t.DisposedHint = FreedHint;
        return t;
    }

    private static void Free(Tensor? t)
    {
        if (t != null && !t.IsPersistent) t.Dispose();
    }
}
