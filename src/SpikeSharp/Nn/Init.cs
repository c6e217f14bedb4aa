namespace SpikeSharp.Nn;

/// <summary>Parameter initialisers (seeded through a <see cref="Generator"/>).</summary>
public static class Init
{
    /// <summary>
    /// PyTorch's default for Linear and Conv weights: kaiming-uniform with a = √5, i.e. U(−b, b) with
    /// b = 1/√fanIn. Also the default bias range.
    /// </summary>
    public static Tensor KaimingUniform(int[] shape, int fanIn, Generator? gen = null, Device? device = null)
    {
        if (fanIn <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(fanIn), $"KaimingUniform: fanIn must be positive, got {fanIn}");
        float b = 1f / MathF.Sqrt(fanIn);
        return Tensor.Rand(shape, gen, device, -b, b);
    }
}
