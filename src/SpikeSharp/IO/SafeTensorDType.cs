namespace SpikeSharp.IO;

/// <summary>Element types of the safetensors format (names as written in the JSON header).</summary>
public enum SafeTensorDType
{
    /// <summary>64-bit IEEE float ("F64").</summary>
    F64,
    /// <summary>32-bit IEEE float ("F32").</summary>
    F32,
    /// <summary>16-bit IEEE half float ("F16").</summary>
    F16,
    /// <summary>bfloat16 ("BF16"); raw bytes only.</summary>
    BF16,
    /// <summary>Signed 64-bit integer ("I64").</summary>
    I64,
    /// <summary>Signed 32-bit integer ("I32").</summary>
    I32,
    /// <summary>Signed 16-bit integer ("I16").</summary>
    I16,
    /// <summary>Signed 8-bit integer ("I8").</summary>
    I8,
    /// <summary>Unsigned 8-bit integer ("U8").</summary>
    U8,
    /// <summary>Boolean stored as one byte ("BOOL").</summary>
    BOOL,
}

/// <summary>Helpers for <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        SafeTensorDType.I8 or SafeTensorDType.U8 or SafeTensorDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The header name, e.g. "F32".</summary>
    public static string ToHeaderName(this SafeTensorDType dtype) =>
        Enum.IsDefined(dtype)
            ? dtype.ToString()
            : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype.");

    /// <summary>Parses a header dtype name (exact, upper case); false if unknown.</summary>
    public static bool TryParse(string name, out SafeTensorDType dtype)
    {
        foreach (var d in Enum.GetValues<SafeTensorDType>())
            if (string.Equals(d.ToString(), name, StringComparison.Ordinal)) { dtype = d; return true; }
        dtype = default;
        return false;
    }

    /// <summary>Parses a header dtype name; throws naming the accepted names if unknown.</summary>
    public static SafeTensorDType Parse(string name) =>
        TryParse(name, out var d) ? d
            : throw new ArgumentException(
                $"Unknown safetensors dtype '{name}'; "
                + $"expected one of {string.Join(", ", Enum.GetNames<SafeTensorDType>())}.",
                nameof(name));
}
