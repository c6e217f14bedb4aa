namespace SpikeSharp.Data;

/// <summary>MNIST handwritten digits: 60000 train / 10000 test 28x28 grey images of digits 0-9.</summary>
public static class Mnist
{
    /// <summary>Class names indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Array.AsReadOnly(
        Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());

    /// <summary>Conventional system location (same layout as the Fashion-MNIST Debian package).</summary>
    public const string SystemDirectory = "/usr/share/datasets/mnist";

    internal static readonly MnistFamilySpec Spec = new(
        "mnist",
        ClassNames.ToArray(),
        SystemDirectory,
        new[] { "https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/" },
        EmbeddedResourcePrefix: null);

    /// <summary>Loads MNIST; same resolution order as <see cref="FashionMnist.Load"/> but with no bundled
    /// sample.</summary>
    /// <param name="dataRoot">Directory with the four IDX files (or a parent with an "mnist" subfolder); must be
    /// usable if given.</param>
    /// <param name="log">Receives progress and the source chosen.</param>
    /// <exception cref="FileNotFoundException">No location holds the dataset and downloading failed or is
    /// disabled.</exception>
    public static ImageDataset Load(string? dataRoot = null, Action<string>? log = null) =>
        MnistFamily.Load(Spec, dataRoot, log);
}
