using SpikeSharp.Data;
using SpikeSharp.Nn;

namespace SpikeSharp.Training;

/// <summary>The networks <c>spikesharp train fashion-mnist</c> offers.</summary>
public enum FashionModelKind
{
    /// <summary>784 → 512 LIF → 10 readout averaged over time: the quick CPU default.</summary>
    Mlp,
    /// <summary>Conv3×3(32)+BN+LIF+MaxPool2, Conv3×3(64)+BN+LIF+MaxPool2, FC 3136→256 LIF, FC 256→10 readout.</summary>
    Csnn,
    /// <summary>
    /// The PLIF paper's Fashion-MNIST network (Fang et al., 2021): two blocks Conv3×3(128)+BN+PLIF+MaxPool2,
    /// dropout, FC 6272→2048, PLIF, dropout, FC 2048→100, PLIF, average-pool voting to 10 classes.
    /// </summary>
    PlifCsnn,
}

/// <summary>Builds the Fashion-MNIST models for inputs (T, B, 1, 28, 28).</summary>
public static class FashionModels
{
    /// <summary>Parses mlp, csnn or plif-csnn.</summary>
    public static FashionModelKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "mlp" => FashionModelKind.Mlp,
        "csnn" => FashionModelKind.Csnn,
        "plif-csnn" or "plifcsnn" => FashionModelKind.PlifCsnn,
        _ => throw new ArgumentException($"model: expected mlp, csnn or plif-csnn, got '{name}'", "model"),
    };

    /// <summary>The kebab-case name.</summary>
    public static string Name(FashionModelKind k) => k switch
    {
        FashionModelKind.Mlp => "mlp",
        FashionModelKind.Csnn => "csnn",
        _ => "plif-csnn",
    };

    /// <summary>Whether the model's output is a firing rate trained with MSE against one-hot targets (else logits
    /// with cross-entropy).</summary>
    public static bool UsesRateMse(FashionModelKind k) => k == FashionModelKind.PlifCsnn;

    /// <summary>
    /// The training-image augmentation a model's recipe uses unless told otherwise. The PLIF CSNN overfits
    /// Fashion-MNIST without any (98.9 % train, 94.0 % test) and underfits with shifts of two pixels, so it trains on
    /// mirrored images shifted by up to one pixel; the small models train on the images as they are.
    /// </summary>
    public static ImageAugmentation DefaultAugment(FashionModelKind k) =>
        k == FashionModelKind.PlifCsnn ? new ImageAugmentation(1, flip: true) : ImageAugmentation.None;

    /// <summary>Creates the model on <paramref name="device"/>; outputs (T, B, 10).</summary>
    public static Module Create(FashionModelKind kind, Generator gen, Device device)
    {
        Module m = kind switch
        {
            FashionModelKind.Mlp => new Sequential(
                new MultiStep(new Flatten(1), new Linear(784, 512, gen: gen, device: device)),
                new Lif(device: device),
                new MultiStep(new Linear(512, 10, gen: gen, device: device))),
            FashionModelKind.Csnn => new Sequential(
                new MultiStep(new Conv2d(1, 32, 3, padding: 1, bias: false, gen: gen, device: device),
                    new BatchNorm2d(32, device: device)),
                new Lif(device: device),
                new MultiStep(new MaxPool2d((2, 2)),
                    new Conv2d(32, 64, 3, padding: 1, bias: false, gen: gen, device: device),
                    new BatchNorm2d(64, device: device)),
                new Lif(device: device),
                new MultiStep(new MaxPool2d((2, 2)), new Flatten(1),
                    new Linear(64 * 7 * 7, 256, gen: gen, device: device)),
                new Lif(device: device),
                new MultiStep(new Linear(256, 10, gen: gen, device: device))),
            _ => new Sequential(
                new MultiStep(new Conv2d(1, 128, 3, padding: 1, bias: false, gen: gen, device: device),
                    new BatchNorm2d(128, device: device)),
                Plif(128 * 28 * 28),
                new MultiStep(new MaxPool2d((2, 2)),
                    new Conv2d(128, 128, 3, padding: 1, bias: false, gen: gen, device: device),
                    new BatchNorm2d(128, device: device)),
                Plif(128 * 14 * 14),
                new MultiStep(new MaxPool2d((2, 2)), new Flatten(1)),
                new Dropout(0.5f, sharedOverTime: true, gen: gen),
                new MultiStep(new Linear(128 * 7 * 7, 2048, gen: gen, device: device)),
                Plif(2048),
                new Dropout(0.5f, sharedOverTime: true, gen: gen),
                new MultiStep(new Linear(2048, 100, gen: gen, device: device)),
                Plif(100),
                new VotingPool(10)),
        };
        return m;
        Nn.Plif Plif(int features) => new(features, decay: 0.5f, device: device);
    }
}

/// <summary>Average-pool voting: (…, G·k) → (…, k) by averaging consecutive groups of G outputs.</summary>
public sealed class VotingPool : Module
{
    private readonly int _classes;

    /// <summary>Votes into <paramref name="classes"/> outputs.</summary>
    public VotingPool(int classes) => _classes = classes;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        int f = x.Size(-1);
        if (f % _classes != 0)
            throw new ArgumentException($"voting: {f} features are not divisible into {_classes} classes", nameof(x));
        var shape = x.Shape;
        var grouped = x.Reshape(shape.Take(shape.Length - 1).Append(_classes).Append(f / _classes).ToArray());
        return grouped.Mean(-1);
    }
}
