using PureHDF;
using PureHDF.VOL.Native;
using SpikeSharp.IO;

namespace SpikeSharp.Nir;

/// <summary>
/// Reads and writes the HDF5 layout of NIR files exactly as NIR's reference package (nir.write / nir.read, which use
/// h5py) does: a scalar variable-length UTF-8 string "version" at the root; a group "node" holding the scalar string
/// "type" = "NIRGraph", a group "nodes" with one group per node (a "type" string and one dataset per field: float32
/// arrays for parameters, int64 scalars or vectors for integer fields) and "edges", a variable-length UTF-8 string
/// array of shape (N, 2); a node's "metadata" group only when it has metadata.
/// </summary>
internal static class NirFile
{
    /// <summary>Writes <paramref name="graph"/> to <paramref name="path"/> through a temporary file (an existing file
    /// is replaced only once the new one is complete).</summary>
    public static void Write(NirGraph graph, string path)
    {
        var file = new H5File
        {
            ["version"] = Dataset(NirValue.Scalar(graph.Version)),
            ["node"] = GraphGroup(graph),
        };
        // Contiguous datasets, as h5py writes them (PureHDF would otherwise store small ones compact).
        var options = new H5WriteOptions(PreferCompactDatasetLayout: false);
        // PureHDF seeks back while writing, so the file is built in memory and then written out in one go.
        using var buffer = new MemoryStream();
        file.Write(buffer, options);
        AtomicFile.Write(path, stream => buffer.WriteTo(stream));
    }

    private static H5Group GraphGroup(NirGraph graph)
    {
        var nodes = new H5Group();
        foreach (var n in graph.Nodes) nodes[n.Name] = n.Subgraph is { } sub ? GraphGroup(sub) : NodeGroup(n);
        var edges = new string[graph.Edges.Count * 2];
        for (int i = 0; i < graph.Edges.Count; i++) (edges[2 * i], edges[2 * i + 1]) = graph.Edges[i];
        var g = new H5Group
        {
            ["type"] = Dataset(NirValue.Scalar("NIRGraph")),
            ["nodes"] = nodes,
            ["edges"] = new H5Dataset(edges, fileDims: new ulong[] { (ulong)graph.Edges.Count, 2 }),
        };
        if (graph.Metadata.Count > 0) g["metadata"] = ValuesGroup(graph.Metadata);
        return g;
    }

    private static H5Group NodeGroup(NirNode n)
    {
        var g = new H5Group { ["type"] = Dataset(NirValue.Scalar(n.Type)) };
        foreach (var (name, value) in n.Fields) g[name] = Dataset(value);
        if (n.Metadata.Count > 0) g["metadata"] = ValuesGroup(n.Metadata);
        return g;
    }

    private static H5Group ValuesGroup(Dictionary<string, NirValue> values)
    {
        var g = new H5Group();
        foreach (var (name, value) in values) g[name] = Dataset(value);
        return g;
    }

    // Every dataset gets its own copy of the data: PureHDF writes an object it has already written (the same array or
    // string instance, e.g. an interned "Affine") as a hard link to the first dataset, where h5py writes a new one.
    private static object Dataset(NirValue v)
    {
        if (v.IsScalar)
            return v.Floats?[0] ?? (object?)v.Ints?[0] ?? new string(v.Strings![0].AsSpan());
        object data = v.Floats?.Clone() ?? v.Ints?.Clone() ?? v.Strings!.Select(x => new string(x.AsSpan())).ToArray();
        return new H5Dataset(data, fileDims: v.Shape.Select(d => (ulong)d).ToArray());
    }

    /// <summary>Reads the NIR graph in <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not HDF5, is truncated, or lacks NIR's layout (the message
    /// names the object that could not be read).</exception>
    public static NirGraph Read(string path)
    {
        if (Directory.Exists(path))
            throw new InvalidDataException($"NIR: '{path}' is a directory, expected a .nir file");
        if (!File.Exists(path)) throw new FileNotFoundException($"NIR: '{path}' does not exist", path);
        NativeFile file;
        try { file = H5File.OpenRead(path); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"NIR: '{path}' is not a readable HDF5 file ({e.Message})", e);
        }
        using (file)
        {
            string version = Guard(path, "the root dataset 'version'", () =>
                file.LinkExists("version") ? ReadString(file.Dataset("version")) : "");
            var root = Guard(path, "the root group 'node'", () => file.LinkExists("node")
                ? file.Group("node")
                : throw new InvalidDataException("it has no group 'node'; a NIR file holds its graph there"));
            return ReadGraph(path, root, "node", version);
        }
    }

    private static NirGraph ReadGraph(string path, IH5Group group, string where, string version)
    {
        var type = Guard(path, $"'{where}/type'", () => ReadType(group));
        if (type != "NIRGraph")
            throw new InvalidDataException($"NIR: '{path}': '{where}' has type '{type}', expected 'NIRGraph'");
        var graph = new NirGraph { Version = version };
        var nodes = Guard(path, $"'{where}/nodes'", () => group.LinkExists("nodes")
            ? group.Group("nodes")
            : throw new InvalidDataException("the graph has no group 'nodes'"));
        foreach (var child in Guard(path, $"the children of '{where}/nodes'", () => nodes.Children().ToList()))
        {
            string at = $"{where}/nodes/{child.Name}";
            if (child is not IH5Group g)
                throw new InvalidDataException($"NIR: '{path}': '{at}' is not a group; every node is a group");
            string nodeType = Guard(path, $"'{at}/type'", () => ReadType(g));
            if (nodeType == "NIRGraph")
            {
                graph.Nodes.Add(new NirNode(child.Name, nodeType) { Subgraph = ReadGraph(path, g, at, version) });
                continue;
            }
            var node = new NirNode(child.Name, nodeType);
            foreach (var item in Guard(path, $"the datasets of '{at}'", () => g.Children().ToList()))
            {
                if (item.Name == "type") continue;
                if (item.Name == "metadata" && item is IH5Group meta)
                {
                    foreach (var m in Guard(path, $"'{at}/metadata'", () => meta.Children().ToList()))
                        if (m is IH5Dataset md)
                            node.Metadata[m.Name] = Guard(path, $"'{at}/metadata/{m.Name}'", () => ReadValue(md));
                    continue;
                }
                if (item is not IH5Dataset d)
                    throw new InvalidDataException($"NIR: '{path}': '{at}/{item.Name}' is a group, expected a dataset");
                node.Fields[item.Name] = Guard(path, $"'{at}/{item.Name}'", () => ReadValue(d));
            }
            graph.Nodes.Add(node);
        }
        var edges = Guard(path, $"'{where}/edges'", () => group.LinkExists("edges")
            ? ReadValue(group.Dataset("edges"))
            : throw new InvalidDataException("the graph has no dataset 'edges'"));
        if (edges.Strings is null || edges.Count % 2 != 0 || (edges.Shape.Length != 2 && edges.Count > 0)
            || (edges.Shape.Length == 2 && edges.Shape[1] != 2))
            throw new InvalidDataException($"NIR: '{path}': '{where}/edges' is {edges.Describe()}, expected an " +
                "(N, 2) array of node names");
        for (int i = 0; i < edges.Count; i += 2) graph.Edges.Add((edges.Strings[i], edges.Strings[i + 1]));
        return graph;
    }

    // Runs a read of PureHDF, turning its failures (a truncated file, an unexpected layout) into messages that name
    // the object being read.
    private static T Guard<T>(string path, string what, Func<T> read)
    {
        try { return read(); }
        catch (InvalidDataException e) when (!e.Message.StartsWith("NIR:", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"NIR: '{path}': cannot read {what}: {e.Message}", e);
        }
        catch (Exception e) when (e is not (InvalidDataException or OutOfMemoryException))
        {
            throw new InvalidDataException($"NIR: '{path}': cannot read {what} (truncated or damaged file?): " +
                e.Message, e);
        }
    }

    private static string ReadType(IH5Group g)
    {
        if (!g.LinkExists("type") || g.Get("type") is not IH5Dataset d)
            throw new InvalidDataException("it has no 'type' string");
        return ReadString(d);
    }

    private static string ReadString(IH5Dataset d)
    {
        var v = ReadValue(d);
        if (v.Strings is not { Length: 1 }) throw new InvalidDataException($"expected one string, got {v.Describe()}");
        return v.Strings[0];
    }

    private static NirValue ReadValue(IH5Dataset d)
    {
        var dims = d.Space.Type == H5DataspaceType.Scalar ? Array.Empty<int>()
            : d.Space.Dimensions.Select(x => checked((int)x)).ToArray();
        var t = d.Type;
        switch (t.Class)
        {
            case H5DataTypeClass.FloatingPoint when t.Size == 4:
                return NirValue.Of(d.Read<float[]>(), dims);
            case H5DataTypeClass.FloatingPoint when t.Size == 8:
                return NirValue.Of(d.Read<double[]>().Select(x => (float)x).ToArray(), dims);
            case H5DataTypeClass.FloatingPoint when t.Size == 2:
                return NirValue.Of(d.Read<Half[]>().Select(x => (float)x).ToArray(), dims);
            case H5DataTypeClass.FixedPoint:
                bool signed = t.FixedPoint.IsSigned;
                long[] ints = t.Size switch
                {
                    8 when signed => d.Read<long[]>(),
                    8 => d.Read<ulong[]>().Select(x => checked((long)x)).ToArray(),
                    4 when signed => d.Read<int[]>().Select(x => (long)x).ToArray(),
                    4 => d.Read<uint[]>().Select(x => (long)x).ToArray(),
                    2 when signed => d.Read<short[]>().Select(x => (long)x).ToArray(),
                    2 => d.Read<ushort[]>().Select(x => (long)x).ToArray(),
                    1 when signed => d.Read<sbyte[]>().Select(x => (long)x).ToArray(),
                    1 => d.Read<byte[]>().Select(x => (long)x).ToArray(),
                    _ => throw new InvalidDataException($"integers of {t.Size} bytes are not supported"),
                };
                return NirValue.Of(ints, dims);
            case H5DataTypeClass.String:
            case H5DataTypeClass.VariableLength:
                return NirValue.Of(d.Read<string[]>(), dims);
            default:
                throw new InvalidDataException($"datasets of HDF5 class {t.Class} are not part of NIR");
        }
    }
}
