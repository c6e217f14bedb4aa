using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Nir;

// Which layers an exported graph can hold, and the refusals (naming the layer and its path) for the others.
public static partial class NirExport
{
    private sealed partial class Builder
    {
        private static NotSupportedException? Unsupported(Step step)
        {
            var (path, layer) = (step.Path, step.Layer);
            var options = layer switch
            {
                SpikingLayer sl => sl.Options, CubaLif c => c.Options, LinearLif ll => ll.Options, _ => null,
            };
            if (options is { Reset: not ResetMode.Hard })
                return Refuse(layer, path, "it resets by subtraction (soft reset); NIR's neurons reset to v_reset " +
                    "(hard reset)");
            return layer switch
            {
                Dropout or Linear or Conv2d or BatchNormBase or Flatten or AvgPool2d or SumPool2d or Scale or LinearLif
                    or Lif or Plif or If or CubaLif or Li => null,
                MaxPool2d => Refuse(layer, path, "NIR has no max pooling (AvgPool2d and SumPool2d only); train with " +
                    "average pooling to export"),
                Alif => Refuse(layer, path, "NIR has no adaptive-threshold neuron"),
                SpikingSelfAttention or SpikingTransformerBlock or SpikingLanguageModel =>
                    Refuse(layer, path, "NIR has no attention"),
                _ => Refuse(layer, path, "NIR has no equivalent node"),
            };
        }

        // Layers whose input a pending Scale feeds directly (a LinearLif feeds its own Affine first).
        private static bool IsNeuron(Module m) => m is SpikingLayer or CubaLif or Li;

        private static NotSupportedException Refuse(Module layer, string path, string why) =>
            new($"NIR export: {layer.GetType().Name} at '{Show(path)}' cannot be exported: {why}");
    }
}
