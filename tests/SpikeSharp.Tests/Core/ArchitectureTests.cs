using System.Reflection;
using System.Text.RegularExpressions;

namespace SpikeSharp.Tests.Core;

/// <summary>
/// The tensor layer's boundary holds: <see cref="Tensor"/> is declared only in src/SpikeSharp/Tensors/ (data,
/// autograd state, creation, in-place ops, operators), functional ops live in static classes, and only the tensor
/// layer (Tensors/, Ops/, Autograd/) reads the shape array itself; everything else goes through the public
/// Shape, Size(d), Rank and Numel.
/// </summary>
public class ArchitectureTests
{
    private static readonly string[] TensorLayer =
        { "src/SpikeSharp/Tensors/", "src/SpikeSharp/Ops/", "src/SpikeSharp/Autograd/" };

    // Written with character classes so that this file does not match its own patterns.
    private static readonly Regex PartialTensor = new(@"\bpartial\s+class\s+Tensor\b");
    private static readonly Regex ShapeInternals = new(@"[.](_shape|Dims)\b");

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SpikeSharp.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no SpikeSharp.sln above {AppContext.BaseDirectory}");
    }

    // Every C# source line of the repository (src, tests, bench, examples), as (relative path, line number, code)
    // with // comments cut off, so that prose about the shape does not count as a use.
    private static IEnumerable<(string Path, int Line, string Code)> SourceLines()
    {
        var root = RepoRoot();
        foreach (var top in new[] { "src", "tests", "bench", "examples" })
        {
            var dir = Path.Combine(root, top);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (rel.Contains("/bin/") || rel.Contains("/obj/")) continue;
                var lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    var code = lines[i];
                    int comment = code.IndexOf("//", StringComparison.Ordinal);
                    if (comment >= 0) code = code[..comment];
                    yield return (rel, i + 1, code);
                }
            }
        }
    }

    private static bool InTensorLayer(string path) =>
        TensorLayer.Any(p => path.StartsWith(p, StringComparison.Ordinal));

    [Fact]
    public void TensorIsDeclaredOnlyInTheTensorsFolder()
    {
        var hits = SourceLines()
            .Where(l => PartialTensor.IsMatch(l.Code) && !l.Path.StartsWith("src/SpikeSharp/Tensors/"))
            .Select(l => $"{l.Path}:{l.Line}").ToList();
        Assert.True(hits.Count == 0, "partial Tensor declared outside src/SpikeSharp/Tensors/ (ops belong in a "
            + "static <Family>Ops class): " + string.Join(", ", hits));
    }

    [Fact]
    public void OnlyTheTensorLayerReadsTheShapeArray()
    {
        var hits = SourceLines()
            .Where(l => !InTensorLayer(l.Path) && ShapeInternals.IsMatch(l.Code))
            .Select(l => $"{l.Path}:{l.Line}: {l.Code.Trim()}").ToList();
        Assert.True(hits.Count == 0, "the tensor's shape array is read outside the tensor layer (use Shape, Size(d), "
            + "Rank or Numel):\n" + string.Join("\n", hits));
    }

    [Fact]
    public void TheShapeFieldIsPrivate()
    {
        var field = typeof(Tensor).GetField("_shape", BindingFlags.NonPublic | BindingFlags.Instance);
        Assert.NotNull(field);
        Assert.True(field!.IsPrivate,
            "the shape field of Tensor must be private; the tensor layer reads it through Dims");
    }

    [Fact]
    public void TheScanSeesTheTree()
    {
        // Guards the two scans above against passing vacuously (wrong root, empty enumeration).
        var files = SourceLines().Select(l => l.Path).Distinct().ToList();
        Assert.Contains("src/SpikeSharp/Tensors/Tensor.cs", files);
        Assert.Contains("src/SpikeSharp/Nn/Module.cs", files);
        Assert.True(files.Count > 200, $"expected the whole source tree, saw {files.Count} files");
    }
}
