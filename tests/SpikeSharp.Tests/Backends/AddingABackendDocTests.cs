using System.Text.RegularExpressions;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>docs/adding-a-backend.md stays true: the files it names exist and its family table lists exactly the
/// families a backend registers.</summary>
public class AddingABackendDocTests
{
    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SpikeSharp.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no SpikeSharp.sln above {AppContext.BaseDirectory}");
    }

    private static string Doc() => File.ReadAllText(Path.Combine(RepoRoot(), "docs", "adding-a-backend.md"));

    [Fact]
    public void EveryFileTheGuideNamesExists()
    {
        var root = RepoRoot();
        var paths = Regex.Matches(Doc(), @"`((?:src|tests|bench|docs)/[^`<>*\s]+\.(?:cs|md))`")
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(paths.Count >= 15, $"expected the guide to name its files, found {paths.Count}");
        var missing = paths.Where(p => !File.Exists(Path.Combine(root, p))).ToList();
        Assert.True(missing.Count == 0, "docs/adding-a-backend.md names missing files: " + string.Join(", ", missing));
    }

    [Fact]
    public void TheFamilyTableListsEveryRegisteredContract()
    {
        var documented = Regex.Matches(Doc(), @"^\| `(I\w+)` \|", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).OrderBy(n => n);
        Assert.Equal(CpuKernelFamilies.All.Contracts.Select(t => t.Name).OrderBy(n => n), documented);
    }
}
