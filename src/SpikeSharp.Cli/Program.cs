using System.CommandLine;
using System.CommandLine.Invocation;
using Spectre.Console;
using SpikeSharp.Cli.Commands;

namespace SpikeSharp.Cli;

/// <summary>Entry point of the <c>spikesharp</c> command.</summary>
public static class Program
{
    // Lines are never wrapped when output is not a terminal: far above any path (PATH_MAX is 4096), yet far
    // below int.MaxValue so that Spectre's width arithmetic cannot overflow.
    private const int UnwrappedWidth = 1 << 16;

    /// <summary>Builds the command tree (exposed for tests), with every option checked while parsing.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("SpikeSharp: fast spiking neural network training in .NET (CPU and CUDA).");
        root.Subcommands.Add(InfoCommand.Build());
        foreach (var c in CommandRegistry.Extra()) root.Subcommands.Add(c);
        OptionChecks.Install(root);
        return root;
    }

    /// <summary>Runs the CLI; returns the process exit code (0 success, 1 bad input or a failed run).</summary>
    public static int Main(string[] args)
    {
        ConfigureConsole();
        var parsed = BuildRoot().Parse(args);
        if (parsed.Action is ParseErrorAction) return ReportParseErrors(parsed);
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException
            or NotSupportedException or InvalidDataException or IndexOutOfRangeException
            or UnauthorizedAccessException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"error: {UserMessage(e)}");
            return 1;
        }
    }

    /// <summary>
    /// Every problem of the command line, one "error:" line each, then where to find the options; no help dump
    /// (it would bury the message).
    /// </summary>
    private static int ReportParseErrors(ParseResult parsed)
    {
        foreach (var message in parsed.Errors.Select(e => e.Message).Distinct())
            Console.Error.WriteLine($"error: {message}");
        var names = new List<string>();
        for (var r = parsed.CommandResult; r.Parent is System.CommandLine.Parsing.CommandResult parent; r = parent)
            names.Insert(0, r.Command.Name);
        Console.Error.WriteLine($"see 'spikesharp {string.Join(' ', names.Append("--help"))}' for the options");
        return 1;
    }

    /// <summary>
    /// The message of <paramref name="e"/> without what .NET appends for developers: " (Parameter 'name')" and
    /// "Actual value was …" name C# identifiers, not the command line.
    /// </summary>
    internal static string UserMessage(Exception e)
    {
        var message = e.Message;
        if (e is ArgumentException { ParamName: { Length: > 0 } param })
        {
            // The suffix as this runtime words it (it is localised).
            var suffix = new ArgumentException(string.Empty, param).Message;
            int at = message.IndexOf(suffix, StringComparison.Ordinal);
            if (at >= 0) message = message[..at];
        }
        return message;
    }

    /// <summary>
    /// Binds Spectre.Console to the current <see cref="Console.Out"/> (a test or a host may have replaced it since
    /// the last call) and, when that is not a terminal, turns off wrapping at 80 columns so log lines stay whole.
    /// </summary>
    private static void ConfigureConsole()
    {
        var output = new AnsiConsoleOutput(Console.Out);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = output });
        if (!output.IsTerminal) console.Profile.Width = UnwrappedWidth;
        AnsiConsole.Console = console;
    }
}
