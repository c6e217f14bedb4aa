using System.CommandLine;

namespace SpikeSharp.Cli.Commands;

/// <summary>Commands beyond <c>info</c>.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> Extra()
    {
        yield return TrainCommand.Build();
        yield return GenerateCommand.Build();
        yield return ExportCommand.Build();
    }
}
