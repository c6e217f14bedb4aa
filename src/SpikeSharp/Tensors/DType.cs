namespace SpikeSharp;

/// <summary>
/// Element type of a tensor. Float32 is first-class; the others are for storage, indices and raw data.
/// </summary>
public enum DType
{
    /// <summary>32-bit IEEE float: every differentiable op computes in it.</summary>
    Float32,
    /// <summary>16-bit IEEE float: storage only (saved state, checkpoints).</summary>
    Float16,
    /// <summary>32-bit signed integer: labels, indices and bit-packed spikes.</summary>
    Int32,
    /// <summary>8-bit unsigned integer: raw data such as images.</summary>
    UInt8,
}

/// <summary>Helpers on <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int SizeInBytes(this DType t) => t switch
    {
        DType.Float32 => 4,
        DType.Float16 => 2,
        DType.Int32 => 4,
        DType.UInt8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>The lower-case name used in messages and <c>ToString</c>.</summary>
    public static string Name(this DType t) => t switch
    {
        DType.Float32 => "float32",
        DType.Float16 => "float16",
        DType.Int32 => "int32",
        DType.UInt8 => "uint8",
        _ => t.ToString(),
    };

    internal static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        throw new NotSupportedException($"element type {typeof(T).Name} has no SpikeSharp dtype; use float, "
            + "int, byte or Half");
    }
}
