namespace SpikeSharp.Data;

/// <summary>
/// A labelled image classification dataset held in plain arrays (MNIST layout): uint8 pixels,
/// row-major, one <see cref="Rows"/> x <see cref="Cols"/> image after another, and one label byte per image.
/// </summary>
public sealed class ImageDataset
{
    internal ImageDataset(string name, IReadOnlyList<string> classNames, int rows, int cols,
        byte[] trainImages, byte[] trainLabels, byte[] testImages, byte[] testLabels,
        string source, bool isBundledSample)
    {
        Name = name;
        ClassNames = classNames;
        Rows = rows;
        Cols = cols;
        TrainImages = trainImages;
        TrainLabels = trainLabels;
        TestImages = testImages;
        TestLabels = testLabels;
        Source = source;
        IsBundledSample = isBundledSample;
    }

    /// <summary>Dataset name, e.g. "fashion-mnist".</summary>
    public string Name { get; }

    /// <summary>Human-readable class names indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of classes (labels are 0..ClassCount-1).</summary>
    public int ClassCount => ClassNames.Count;

    /// <summary>Image height in pixels.</summary>
    public int Rows { get; }

    /// <summary>Image width in pixels.</summary>
    public int Cols { get; }

    /// <summary>Pixels per image (Rows * Cols).</summary>
    public int ImageSize => Rows * Cols;

    /// <summary>Training pixels, length TrainCount * ImageSize.</summary>
    public byte[] TrainImages { get; }

    /// <summary>Training labels, length TrainCount.</summary>
    public byte[] TrainLabels { get; }

    /// <summary>Test pixels, length TestCount * ImageSize.</summary>
    public byte[] TestImages { get; }

    /// <summary>Test labels, length TestCount.</summary>
    public byte[] TestLabels { get; }

    /// <summary>Number of training images.</summary>
    public int TrainCount => TrainLabels.Length;

    /// <summary>Number of test images.</summary>
    public int TestCount => TestLabels.Length;

    /// <summary>Where the data came from: a directory path, or a description of the embedded sample.</summary>
    public string Source { get; }

    /// <summary>True when this is the small sample embedded in SpikeSharp.dll rather than the full dataset.</summary>
    public bool IsBundledSample { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: {TrainCount} train / {TestCount} test images {Rows}x{Cols}, {ClassCount} classes, from {Source}" +
        (IsBundledSample ? " (bundled sample)" : "");
}
