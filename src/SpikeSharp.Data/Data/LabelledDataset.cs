namespace SpikeSharp.Data;

/// <summary>
/// A labelled classification dataset of equal-shaped float samples, as a <see cref="DataLoader"/> reads it: each
/// sample is copied out on demand, so a dataset may keep its samples compact (bytes, sparse frames) in memory.
/// </summary>
public interface ILabelledDataset
{
    /// <summary>Number of samples.</summary>
    int Count { get; }

    /// <summary>Shape of one sample; its first dimension is time when <see cref="TimeMajor"/> is set.</summary>
    int[] SampleShape { get; }

    /// <summary>Values per sample (the product of <see cref="SampleShape"/>).</summary>
    int SampleSize { get; }

    /// <summary>
    /// True when a sample is a sequence (T, …): a loader then places time first in a batch, (T, B, …), which is the
    /// layout every spiking layer takes; false for static samples, batched as (B, …).
    /// </summary>
    bool TimeMajor { get; }

    /// <summary>The label of sample <paramref name="index"/>.</summary>
    int Label(int index);

    /// <summary>Writes sample <paramref name="index"/> (<see cref="SampleSize"/> values, row-major) into
    /// <paramref name="destination"/>.</summary>
    void CopySample(int index, Span<float> destination);

    /// <summary>The first <paramref name="count"/> samples (all of them when there are fewer).</summary>
    ILabelledDataset Take(int count);
}
