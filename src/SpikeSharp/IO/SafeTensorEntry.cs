using System.Runtime.InteropServices;

namespace SpikeSharp.IO;

/// <summary>One named tensor of a safetensors file: dtype, shape and little-endian raw bytes.</summary>
public sealed class SafeTensorEntry
{
    /// <summary>Creates an entry from raw little-endian bytes.</summary>
    /// <param name="name">Tensor name (non-empty, not "__metadata__").</param>
    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Dimensions; empty for a scalar.</param>
    /// <param name="data">Raw bytes; length must be product(shape) * dtype size. Not copied.</param>
    public SafeTensorEntry(string name, SafeTensorDType dtype, int[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (name.Length == 0)
            throw new ArgumentException("Tensor name must be non-empty.", nameof(name));
        if (name == SafeTensors.MetadataKey)
            throw new ArgumentException(
                $"Tensor name '{SafeTensors.MetadataKey}' is reserved for file metadata.", nameof(name));
        foreach (var d in shape)
            if (d < 0)
                throw new ArgumentException(
                    $"Tensor '{name}': shape [{string.Join(", ", shape)}] has a negative dimension.", nameof(shape));
        long expected = ElementCountOf(shape) * dtype.SizeOf();
        if (expected != data.Length)
            throw new ArgumentException(
                $"Tensor '{name}': {dtype} shape [{string.Join(", ", shape)}] "
                + $"needs {expected} bytes, got {data.Length}.",
                nameof(data));
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>Creates an entry from a header dtype name such as "F32".</summary>
    public SafeTensorEntry(string name, string dtype, int[] shape, byte[] data)
        : this(name, SafeTensorDTypes.Parse(dtype), shape, data) { }

    /// <summary>Tensor name.</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>Header name of <see cref="DType"/>, e.g. "F32".</summary>
    public string DTypeName => DType.ToHeaderName();

    /// <summary>Dimensions (row-major, outermost first).</summary>
    public int[] Shape { get; }

    /// <summary>Raw little-endian element bytes.</summary>
    public byte[] Data { get; }

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>Wraps float32 values.</summary>
    public static SafeTensorEntry FromFloat(string name, float[] values, params int[] shape) =>
        new(name, SafeTensorDType.F32, ShapeFor(name, values.Length, shape), ToBytes<float>(values));

    /// <summary>Wraps float64 values.</summary>
    public static SafeTensorEntry FromDouble(string name, double[] values, params int[] shape) =>
        new(name, SafeTensorDType.F64, ShapeFor(name, values.Length, shape), ToBytes<double>(values));

    /// <summary>Wraps half-precision values.</summary>
    public static SafeTensorEntry FromHalf(string name, Half[] values, params int[] shape) =>
        new(name, SafeTensorDType.F16, ShapeFor(name, values.Length, shape), ToBytes<Half>(values));

    /// <summary>Wraps int32 values.</summary>
    public static SafeTensorEntry FromInt32(string name, int[] values, params int[] shape) =>
        new(name, SafeTensorDType.I32, ShapeFor(name, values.Length, shape), ToBytes<int>(values));

    /// <summary>Wraps int64 values.</summary>
    public static SafeTensorEntry FromInt64(string name, long[] values, params int[] shape) =>
        new(name, SafeTensorDType.I64, ShapeFor(name, values.Length, shape), ToBytes<long>(values));

    /// <summary>Wraps uint8 values (copied).</summary>
    public static SafeTensorEntry FromBytes(string name, byte[] values, params int[] shape) =>
        new(name, SafeTensorDType.U8, ShapeFor(name, values.Length, shape), (byte[])values.Clone());

    /// <summary>The values as float32; the dtype must be F32.</summary>
    public float[] ToFloatArray() => FromBytes<float>(SafeTensorDType.F32);

    /// <summary>The values as float64; the dtype must be F64.</summary>
    public double[] ToDoubleArray() => FromBytes<double>(SafeTensorDType.F64);

    /// <summary>The values as half floats; the dtype must be F16.</summary>
    public Half[] ToHalfArray() => FromBytes<Half>(SafeTensorDType.F16);

    /// <summary>The values as int32; the dtype must be I32.</summary>
    public int[] ToInt32Array() => FromBytes<int>(SafeTensorDType.I32);

    /// <summary>The values as int64; the dtype must be I64.</summary>
    public long[] ToInt64Array() => FromBytes<long>(SafeTensorDType.I64);

    /// <summary>
    /// A copy of the values as bytes; the dtype must be U8 (use <see cref="Data"/> for raw bytes of any dtype).
    /// </summary>
    public byte[] ToByteArray()
    {
        RequireDType(SafeTensorDType.U8);
        return (byte[])Data.Clone();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", Shape)}]";

    internal static long ElementCountOf(int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    private static int[] ShapeFor(string name, int length, int[] shape)
    {
        // No shape means a 1-D tensor over all values; scalars need an explicit empty array via the raw constructor.
        if (shape.Length == 0) return new[] { length };
        long n = ElementCountOf(shape);
        if (n != length)
            throw new ArgumentException(
                $"Tensor '{name}': shape [{string.Join(", ", shape)}] "
                + $"holds {n} elements but {length} values were given.",
                nameof(shape));
        return (int[])shape.Clone();
    }

    private static byte[] ToBytes<T>(T[] values) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) SwapEndianness(bytes, System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return bytes;
    }

    private T[] FromBytes<T>(SafeTensorDType expected) where T : unmanaged
    {
        RequireDType(expected);
        var bytes = Data;
        if (!BitConverter.IsLittleEndian)
        {
            bytes = (byte[])bytes.Clone();
            SwapEndianness(bytes, expected.SizeOf());
        }
        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    private void RequireDType(SafeTensorDType expected)
    {
        if (DType != expected)
            throw new InvalidOperationException($"Tensor '{Name}' has dtype {DType}; this accessor needs {expected}.");
    }

    private static void SwapEndianness(byte[] bytes, int size)
    {
        for (int i = 0; i + size <= bytes.Length; i += size) Array.Reverse(bytes, i, size);
    }
}
