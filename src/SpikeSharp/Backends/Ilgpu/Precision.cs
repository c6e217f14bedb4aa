namespace SpikeSharp;

/// <summary>Process-wide numeric precision switches.</summary>
public static class Precision
{
    /// <summary>
    /// Lets float32 matrix products use TF32 tensor cores (cuBLAS): about 8x faster on recent GPUs,
    /// with a 10-bit mantissa in the products. Off by default so results match the CPU closely.
    /// </summary>
    public static bool AllowTf32 { get; set; }
}
