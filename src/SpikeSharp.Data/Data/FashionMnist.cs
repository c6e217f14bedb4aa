namespace SpikeSharp.Data;

/// <summary>Fashion-MNIST (Zalando, MIT licence): 60000 train / 10000 test 28x28 grey images of 10 clothing
/// classes.</summary>
public static class FashionMnist
{
    /// <summary>Class names indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Array.AsReadOnly(new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    });

    /// <summary>Where the Debian package dataset-fashion-mnist installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    internal static readonly MnistFamilySpec Spec = new(
        "fashion-mnist",
        ClassNames.ToArray(),
        DebianDirectory,
        new[] { "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" },
        "SpikeSharp.Data.Samples.fashion-mnist.");

    /// <summary>Loads Fashion-MNIST, falling back to a bundled 4000/1000-image sample when the full set is
    /// unavailable.</summary>
    /// <param name="dataRoot">
    /// Directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and
    /// t10k-labels-idx1-ubyte[.gz] (or a parent holding them in a "fashion-mnist" subfolder). When given, it must be
    /// usable: no fallback happens.
    /// </param>
    /// <param name="log">Receives progress and the source chosen.</param>
    /// <remarks>
    /// Without <paramref name="dataRoot"/> the first usable location wins: $SPIKESHARP_DATA (or its fashion-mnist
    /// subfolder), /usr/share/datasets/fashion-mnist, the user cache ($XDG_CACHE_HOME or
    /// ~/.cache)/spikesharp/fashion-mnist, a download into that cache (skipped when SPIKESHARP_OFFLINE=1), and finally
    /// the sample embedded in SpikeSharp.dll (check <see cref="ImageDataset.IsBundledSample"/>). Files found but
    /// malformed raise <see cref="InvalidDataException"/>.
    /// </remarks>
    public static ImageDataset Load(string? dataRoot = null, Action<string>? log = null) =>
        MnistFamily.Load(Spec, dataRoot, log);

    /// <summary>Loads the small class-balanced sample embedded in SpikeSharp.dll (4000 train, 1000 test).</summary>
    public static ImageDataset LoadBundledSample() => MnistFamily.LoadEmbedded(Spec, Spec.EmbeddedResourcePrefix!);
}
