namespace SpikeSharp.Data;

/// <summary>
/// Event frames of a whole dataset, (T, …frame shape) per sample, held sparsely (the nonzero values and their
/// positions) since event frames are mostly empty. A <see cref="DataLoader"/> batches it time-major: x (T, B, …).
/// </summary>
public sealed class FrameDataset : ILabelledDataset
{
    private readonly int[] _labels;
    private readonly long[] _offsets; // sample i's nonzeros are [_offsets[i], _offsets[i + 1])
    private readonly int[] _indices;
    private readonly float[] _values;

    internal FrameDataset(int[] sampleShape, int[] labels, long[] offsets, int[] indices, float[] values)
    {
        if (sampleShape.Length < 2 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException(
                $"frames: expected a sample shape (T, …) of positive sizes, got {ShapeUtil.Format(sampleShape)}",
                nameof(sampleShape));
        if (offsets.Length != labels.Length + 1 || offsets[^1] != indices.Length || values.Length != indices.Length)
            throw new ArgumentException(
                $"frames: {labels.Length} samples need {labels.Length + 1} offsets ending at {indices.Length}, got " +
                $"{offsets.Length} ending at {(offsets.Length > 0 ? offsets[^1] : 0)}", nameof(offsets));
        SampleShape = sampleShape;
        SampleSize = checked((int)ShapeUtil.Numel(sampleShape));
        _labels = labels; _offsets = offsets; _indices = indices; _values = values;
    }

    /// <inheritdoc/>
    public int Count => _labels.Length;
    /// <summary>(T, …frame shape).</summary>
    public int[] SampleShape { get; }
    /// <inheritdoc/>
    public int SampleSize { get; }
    /// <summary>Frames are sequences: always true.</summary>
    public bool TimeMajor => true;
    /// <summary>Frames per sample, T.</summary>
    public int Steps => SampleShape[0];
    /// <summary>Nonzero values stored over all samples.</summary>
    public long NonZeros => _indices.Length;

    internal int[] Labels => _labels;
    internal long[] Offsets => _offsets;
    internal int[] Indices => _indices;
    internal float[] Values => _values;

    /// <inheritdoc/>
    public int Label(int index) => _labels[index];

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        destination[..SampleSize].Clear();
        for (long k = _offsets[index]; k < _offsets[index + 1]; k++) destination[_indices[k]] = _values[k];
    }

    /// <summary>Sample <paramref name="index"/> as a dense array (T·frame values).</summary>
    public float[] Sample(int index)
    {
        var d = new float[SampleSize];
        CopySample(index, d);
        return d;
    }

    /// <inheritdoc/>
    public ILabelledDataset Take(int count)
    {
        int n = Math.Clamp(count, 0, Count);
        long nnz = _offsets[n];
        return new FrameDataset(SampleShape, _labels[..n], _offsets[..(n + 1)], _indices[..(int)nnz],
            _values[..(int)nnz]);
    }

    /// <summary>Collects samples given densely and keeps their nonzero values.</summary>
    internal sealed class Builder
    {
        private readonly int[] _shape;
        private readonly List<int> _labels = new();
        private readonly List<long> _offsets = new() { 0 };
        private readonly List<int> _indices = new();
        private readonly List<float> _values = new();

        public Builder(int[] sampleShape) => _shape = sampleShape;

        public void Add(int label, ReadOnlySpan<float> dense)
        {
            for (int i = 0; i < dense.Length; i++)
                if (dense[i] != 0) { _indices.Add(i); _values.Add(dense[i]); }
            _labels.Add(label);
            _offsets.Add(_indices.Count);
        }

        public FrameDataset Build() =>
            new(_shape, _labels.ToArray(), _offsets.ToArray(), _indices.ToArray(), _values.ToArray());
    }
}
