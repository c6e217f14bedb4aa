using System.CommandLine;
using SpikeSharp.Cli.Commands;

namespace SpikeSharp.Cli;

/// <summary>Entry point of the <c>spikesharp</c> command.</summary>
public static class Program
{
    /// <summary>Builds the command tree (exposed for tests).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("SpikeSharp: fast spiking neural network training in .NET (CPU and CUDA).");
        root.Subcommands.Add(InfoCommand.Build());
        foreach (var c in CommandRegistry.Extra()) root.Subcommands.Add(c);
        return root;
    }

    /// <summary>Runs the CLI; returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        try
        {
            return BuildRoot().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or NotSupportedException or InvalidDataException or IndexOutOfRangeException or UnauthorizedAccessException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
