namespace SpikeSharp.Attention;

/// <summary>
/// The byte that keeps the three spikes of one element for the backward pass when q, k and v are all spikes
/// (<see cref="Tensor.IsBinary"/>): bit 0 q, bit 1 k, bit 2 v. One byte instead of three float32 values (12 bytes),
/// exact, since a spike is 0 or 1. Shared by the CPU and ILGPU kernels.
/// </summary>
internal static class CausalAccumulationBits
{
    /// <summary>The byte of spikes q, k, v (each 0 or 1).</summary>
    public static byte Pack(float q, float k, float v) =>
        (byte)((q != 0f ? 1 : 0) | (k != 0f ? 2 : 0) | (v != 0f ? 4 : 0));

    /// <summary>The q spike of a packed byte.</summary>
    public static float Q(byte b) => (b & 1) != 0 ? 1f : 0f;

    /// <summary>The k spike of a packed byte.</summary>
    public static float K(byte b) => (b & 2) != 0 ? 1f : 0f;

    /// <summary>The v spike of a packed byte.</summary>
    public static float V(byte b) => (b & 4) != 0 ? 1f : 0f;
}
