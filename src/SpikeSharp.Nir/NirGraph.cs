namespace SpikeSharp.Nir;

/// <summary>
/// One dataset of a NIR node: float32 values (NIR's parameter arrays), int64 values (its integer fields) or strings,
/// with the dataset's shape (empty for a scalar).
/// </summary>
internal sealed class NirValue
{
    private NirValue(int[] shape, float[]? floats, long[]? ints, string[]? strings)
    {
        Shape = shape; Floats = floats; Ints = ints; Strings = strings;
    }

    /// <summary>The dataset's dims; empty for a scalar dataset.</summary>
    public int[] Shape { get; }
    /// <summary>The values of a floating-point dataset (float64 files are narrowed), else null.</summary>
    public float[]? Floats { get; }
    /// <summary>The values of an integer dataset, else null.</summary>
    public long[]? Ints { get; }
    /// <summary>The values of a string dataset, else null.</summary>
    public string[]? Strings { get; }

    /// <summary>Number of values (1 for a scalar).</summary>
    public int Count => Floats?.Length ?? Ints?.Length ?? Strings!.Length;

    /// <summary>True for a scalar dataspace.</summary>
    public bool IsScalar => Shape.Length == 0;

    public static NirValue Of(float[] values, params int[] shape) =>
        new(Check(shape, values.Length), values, null, null);
    public static NirValue Of(long[] values, params int[] shape) =>
        new(Check(shape, values.Length), null, values, null);
    public static NirValue Of(string[] values, params int[] shape) =>
        new(Check(shape, values.Length), null, null, values);
    public static NirValue Scalar(long value) => new(Array.Empty<int>(), null, new[] { value }, null);
    public static NirValue Scalar(string value) => new(Array.Empty<int>(), null, null, new[] { value });

    /// <summary>A vector of int64 values (NIR's shapes, strides, paddings).</summary>
    public static NirValue Vector(params long[] values) => Of(values, values.Length);

    /// <summary>float32 values of <paramref name="shape"/>, all <paramref name="value"/>.</summary>
    public static NirValue Filled(float value, int[] shape) =>
        Of(Enumerable.Repeat(value, (int)ShapeUtil.Numel(shape)).ToArray(), shape);

    private static int[] Check(int[] shape, int count)
    {
        if (ShapeUtil.Numel(shape) != count)
            throw new ArgumentException($"NIR value: shape {ShapeUtil.Format(shape)} does not hold {count} values");
        return shape;
    }

    /// <summary>"float32 (4, 3)", for messages.</summary>
    public string Describe() =>
        (Floats != null ? "float" : Ints != null ? "integer" : "string")
        + (IsScalar ? " scalar" : " " + ShapeUtil.Format(Shape));
}

/// <summary>A node of a NIR graph: its name, its NIR type ("Affine", "LIF", …), its datasets, and its metadata group.
/// </summary>
internal sealed class NirNode
{
    public NirNode(string name, string type)
    {
        Name = name; Type = type;
    }

    public string Name { get; }
    public string Type { get; }
    /// <summary>The node's datasets other than "type", by NIR field name, in the order written.</summary>
    public Dictionary<string, NirValue> Fields { get; } = new(StringComparer.Ordinal);
    /// <summary>Datasets of the node's "metadata" group (written only when non-empty, as NIR does).</summary>
    public Dictionary<string, NirValue> Metadata { get; } = new(StringComparer.Ordinal);
    /// <summary>For a nested NIRGraph node: the subgraph.</summary>
    public NirGraph? Subgraph { get; init; }

    public NirNode With(string field, NirValue value)
    {
        Fields[field] = value;
        return this;
    }
}

/// <summary>
/// A NIR graph as stored in a .nir file (HDF5): the root holds a "version" string and a group "node" of type
/// "NIRGraph" with a group "nodes" (one group per node) and "edges", an (N, 2) array of node names.
/// </summary>
internal sealed class NirGraph
{
    /// <summary>The NIR version this writer follows (the reference package's version whose spec it was checked
    /// against).</summary>
    public const string WriterVersion = "1.0.7";

    public string Version { get; init; } = WriterVersion;
    /// <summary>Nodes in file order.</summary>
    public List<NirNode> Nodes { get; } = new();
    /// <summary>(source, target) pairs.</summary>
    public List<(string From, string To)> Edges { get; } = new();
    /// <summary>The graph node's own metadata group.</summary>
    public Dictionary<string, NirValue> Metadata { get; } = new(StringComparer.Ordinal);
}
