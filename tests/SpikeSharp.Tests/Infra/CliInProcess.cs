namespace SpikeSharp.Tests;

/// <summary>
/// Runs the <c>spikesharp</c> entry point in this process with the console redirected, as a user's shell would see
/// it. Test classes that use it redirect the process-wide Console, so they join the "Console" collection.
/// </summary>
public static class CliInProcess
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o); Console.SetError(e);
        try { return (SpikeSharp.Cli.Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }
}
