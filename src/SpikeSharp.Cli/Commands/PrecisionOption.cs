using System.CommandLine;

namespace SpikeSharp.Cli.Commands;

/// <summary>The shared <c>--precision</c> option of the training commands.</summary>
internal static class PrecisionOption
{
    public static Option<string?> Create() => new("--precision")
    {
        Description = "fp32 (float32 products throughout, TF32 off; spike products exact) or tf32 (TF32 tensor cores "
            + "for GEMMs and convolutions); default: the library's (float32 GEMMs, TF32 convolutions as in PyTorch)",
    };

    /// <summary>Checks the option and, when given, sets every precision switch for the process
    /// (<see cref="Precision.Apply"/>); returns the mode given, null for none (the trainer records it).</summary>
    /// <exception cref="ArgumentException">"--precision: expected fp32 or tf32, got '…'".</exception>
    public static PrecisionMode? Apply(string? value)
    {
        if (value is null) return null;
        var mode = Precision.Parse(value, "--precision");
        Precision.Apply(mode);
        return mode;
    }
}
