namespace SpikeSharp.IO;

/// <summary>The content of a safetensors file: tensors in file (data offset) order plus string metadata.</summary>
public sealed class SafeTensorFile
{
    private readonly Dictionary<string, SafeTensorEntry> _byName;

    internal SafeTensorFile(IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Tensors in the order their data appears in the file.</summary>
    public IReadOnlyList<SafeTensorEntry> Tensors { get; }

    /// <summary>The "__metadata__" map (empty if the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor names in file order.</summary>
    public IEnumerable<string> Names => Tensors.Select(t => t.Name);

    /// <summary>The tensor with this name.</summary>
    /// <exception cref="KeyNotFoundException">
    /// No tensor has that name; the message lists the available names.
    /// </exception>
    public SafeTensorEntry this[string name] =>
        _byName.TryGetValue(name, out var e) ? e
            : throw new KeyNotFoundException(
                $"No tensor named '{name}'; the file holds: {string.Join(", ", _byName.Keys.Take(20))}"
                + $"{(_byName.Count > 20 ? ", ..." : "")}.");

    /// <summary>True if a tensor with this name exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks up a tensor by name.</summary>
    public bool TryGet(string name, out SafeTensorEntry entry) => _byName.TryGetValue(name, out entry!);
}
