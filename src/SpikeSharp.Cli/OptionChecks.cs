using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using SpikeSharp.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Cli;

/// <summary>
/// Checks every option of every command while the command line is parsed, so before any command runs and
/// before a dataset, a text or a device is touched. Numbers are read here (System.CommandLine's own messages
/// name .NET types such as <c>System.Nullable`1[System.Int32]</c>); ranges, choices, devices and paths are
/// checked here. Each problem reads "--option: expected X, got Y", and all of them are reported at once.
/// </summary>
/// <remarks>
/// The rules are keyed by option name, so a command declares its options as usual and gets the checks by being
/// in the tree that <see cref="Install"/> walks. An option without a rule still gets a number parser with a
/// readable message; the commands keep their own checks for callers that bypass the parser (tests, scripts).
/// </remarks>
internal static class OptionChecks
{
    private abstract record Rule;

    /// <summary>A whole number of at least <paramref name="Min"/>; <paramref name="Expected"/> words it.</summary>
    private sealed record Whole(long Min, string Expected) : Rule;

    /// <summary>A finite real number above 0 (or at least 0 when <paramref name="ZeroAllowed"/>).</summary>
    private sealed record Real(bool ZeroAllowed, string Expected) : Rule;

    /// <summary>One of <paramref name="Values"/> (case-insensitive), or an undocumented older spelling in
    /// <see cref="Aliases"/>, which the command still understands.</summary>
    private sealed record Choice(params string[] Values) : Rule
    {
        public string[] Aliases { get; init; } = Array.Empty<string>();
    }

    private sealed record DeviceName : Rule;

    /// <summary>An image augmentation specification (<see cref="ImageAugmentation.Parse"/>).</summary>
    private sealed record Augmentation : Rule;

    /// <summary>A directory the command will create or write into.</summary>
    private sealed record OutputDirectory : Rule;

    /// <summary>A file the command will create or replace (its directory is created if needed).</summary>
    private sealed record OutputFile(string What) : Rule;

    /// <summary>An existing file to read.</summary>
    private sealed record InputFile(string What) : Rule;

    /// <summary>An existing directory to read.</summary>
    private sealed record InputDirectory(string What) : Rule;

    private static readonly Whole Positive = new(1, "a positive whole number");
    private static readonly Whole NonNegative = new(0, "a whole number >= 0");

    private static readonly Dictionary<string, Rule> Rules = new(StringComparer.Ordinal)
    {
        ["--epochs"] = Positive,
        ["--batch-size"] = Positive,
        ["--steps"] = Positive, // train lm: optimiser steps; train (before the rename): time steps T
        ["--time-steps"] = Positive,
        ["--train-limit"] = Positive,
        ["--stop-after"] = Positive,
        ["--dim"] = Positive,
        ["--layers"] = Positive,
        ["--heads"] = Positive,
        ["--seq-len"] = Positive,
        ["--eval-every"] = Positive,
        ["--save-every"] = Positive,
        ["--tokens"] = NonNegative,
        ["--lr"] = new Real(false, "a positive number such as 0.001"),
        ["--temperature"] = new Real(true, "a number >= 0 (0 = greedy)"),
        ["--model"] = new Choice(Enum.GetValues<FashionModelKind>().Select(FashionModels.Name).ToArray())
        {
            Aliases = new[] { "plifcsnn" },
        },
        ["--encoding"] = new Choice("direct", "rate", "latency"),
        ["--precision"] = new Choice("fp32", "tf32"),
        ["--augment"] = new Augmentation(),
        ["--device"] = new DeviceName(),
        ["--out"] = new OutputDirectory(),
        ["--text"] = new InputFile("a UTF-8 text file"),
        ["--data"] = new InputDirectory("a directory holding the dataset files"),
        ["--checkpoint"] = new InputDirectory("a directory written by 'spikesharp train lm --out DIR'"),
        ["--tensorboard"] = new OutputDirectory(),
        ["--dt"] = new Real(false, "a positive number of seconds such as 0.0001"),
        ["--test-limit"] = Positive,
        ["--binning"] = new Choice("time-bins", "time-window", "event-count"),
        ["--window-us"] = new Whole(1, "a positive whole number of microseconds"),
        ["--events-per-frame"] = Positive,
        ["--cache"] = new OutputDirectory(),
    };

    /// <summary>Rules of options that mean something else in one command than elsewhere (by command name).</summary>
    private static readonly Dictionary<(string Command, string Option), Rule> CommandRules = new()
    {
        [("export", "--checkpoint")] =
            new InputDirectory("a run directory written by 'spikesharp train fashion-mnist --out DIR'"),
        [("export", "--out")] = new OutputFile("a .nir file to write"),
        [("export", "--format")] = new Choice("nir"),
        // The dataset recipes read their own layouts (with --download the directory must exist: it is filled).
        [("nmnist", "--data")] = new InputDirectory("a directory holding Train/<digit>/*.bin and Test/<digit>/*.bin"),
        [("shd", "--data")] = new InputDirectory("a directory holding shd_train.h5 and shd_test.h5"),
        [("cifar10", "--data")] = new InputDirectory("a directory holding the CIFAR-10 binary batches"),
    };

    private static Rule? RuleFor(Command command, Option option) =>
        CommandRules.GetValueOrDefault((command.Name, option.Name)) ?? Rules.GetValueOrDefault(option.Name);

    /// <summary>Installs the checks on every option of <paramref name="root"/> and of its subcommands.</summary>
    public static void Install(Command root)
    {
        foreach (var option in root.Options)
        {
            var rule = RuleFor(root, option);
            AttachParser(option, rule);
            // Option validators also run for a default value (runs/... for --out), before it is converted.
            if (rule is OutputDirectory or OutputFile or InputFile or InputDirectory or DeviceName
                && option is Option<string> or Option<string?>)
                option.Validators.Add(r => CheckPathOrDevice(r, rule));
        }
        // SPIKESHARP_DEVICE stands in for an absent --device, which has no option result to validate.
        if (root.Options.FirstOrDefault(o => RuleFor(root, o) is DeviceName) is { } device)
            root.Validators.Add(r =>
            {
                if (r.GetResult(device) is null && EnvironmentDeviceProblem() is string problem) r.AddError(problem);
            });
        foreach (var sub in root.Subcommands) Install(sub);
    }

    /// <summary>"--option: expected X, got 'Y'".</summary>
    public static string Expected(string option, string expected, string got) =>
        $"{option}: expected {expected}, got '{got}'";

    private static void AttachParser(Option option, Rule? rule)
    {
        var whole = rule as Whole ?? new Whole(long.MinValue, "a whole number");
        var real = rule as Real ?? new Real(true, "a number");
        switch (option)
        {
            case Option<int> o:
                o.CustomParser = r => (int)(ReadWhole(r, o.Name, whole, int.MinValue, int.MaxValue) ?? Default(o, r));
                break;
            case Option<int?> o:
                o.CustomParser = r => (int?)ReadWhole(r, o.Name, whole, int.MinValue, int.MaxValue) ?? Default(o, r);
                break;
            case Option<long> o:
                o.CustomParser = r => ReadWhole(r, o.Name, whole, long.MinValue, long.MaxValue) ?? Default(o, r);
                break;
            case Option<ulong> o: o.CustomParser = r => ReadUnsigned(r, o.Name) ?? Default(o, r); break;
            case Option<ulong?> o: o.CustomParser = r => ReadUnsigned(r, o.Name) ?? Default(o, r); break;
            case Option<float> o:
                o.CustomParser = r => (float)(ReadReal(r, o.Name, real, float.MaxValue) ?? Default(o, r));
                break;
            case Option<float?> o:
                o.CustomParser = r => (float?)ReadReal(r, o.Name, real, float.MaxValue) ?? Default(o, r);
                break;
            case Option<double> o:
                o.CustomParser = r => ReadReal(r, o.Name, real, double.MaxValue) ?? Default(o, r);
                break;
            case Option<string> o when rule is Choice c:
                o.CustomParser = r => ReadChoice(r, o.Name, c) ?? Default(o, r)!;
                break;
            case Option<string?> o when rule is Choice c:
                o.CustomParser = r => ReadChoice(r, o.Name, c) ?? Default(o, r);
                break;
            case Option<string?> o when rule is Augmentation:
                o.CustomParser = r => ReadAugmentation(r, o.Name) ?? Default(o, r);
                break;
        }
    }

    // The value when the option is absent (or after an error was recorded: the value is then never used).
    private static T Default<T>(Option<T> o, ArgumentResult r) => o.DefaultValueFactory is { } f ? f(r) : default!;

    private static string? Token(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;

    private static long? ReadWhole(ArgumentResult r, string name, Whole rule, long min, long max)
    {
        if (Token(r) is not string text) return null;
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
        {
            r.AddError(Expected(name, rule.Expected, text));
            return null;
        }
        if (v < Math.Max(min, rule.Min) || v > max)
        {
            r.AddError(Expected(name, v > max ? $"{rule.Expected} up to {max}" : rule.Expected, text));
            return null;
        }
        return v;
    }

    private static ulong? ReadUnsigned(ArgumentResult r, string name)
    {
        if (Token(r) is not string text) return null;
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) return v;
        r.AddError(Expected(name, $"a whole number from 0 to {ulong.MaxValue}", text));
        return null;
    }

    private static double? ReadReal(ArgumentResult r, string name, Real rule, double max)
    {
        if (Token(r) is not string text) return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            || !double.IsFinite(v) || Math.Abs(v) > max || v < 0 || (v == 0 && !rule.ZeroAllowed))
        {
            r.AddError(Expected(name, rule.Expected, text));
            return null;
        }
        return v;
    }

    private static string? ReadChoice(ArgumentResult r, string name, Choice rule)
    {
        if (Token(r) is not string text) return null;
        var match = rule.Values.Concat(rule.Aliases)
            .FirstOrDefault(v => string.Equals(v, text.Trim(), StringComparison.OrdinalIgnoreCase));
        if (match is null) r.AddError(Expected(name, Words(rule.Values), text));
        return match;
    }

    private static string? ReadAugmentation(ArgumentResult r, string name)
    {
        if (Token(r) is not string text) return null;
        try
        {
            return ImageAugmentation.Parse(text).ToString();
        }
        catch (ArgumentException)
        {
            r.AddError(Expected(name, ImageAugmentation.Expected, text));
            return null;
        }
    }

    /// <summary>"a, b or c".</summary>
    private static string Words(IReadOnlyList<string> v) =>
        v.Count == 1 ? v[0] : $"{string.Join(", ", v.Take(v.Count - 1))} or {v[^1]}";

    private static void CheckPathOrDevice(OptionResult result, Rule rule)
    {
        if (result.Tokens.Count == 0 && !result.Implicit) return; // "--out" without a value: the parser says so
        var value = result.Tokens.Count > 0 ? result.Tokens[^1].Value : result.GetValueOrDefault<string?>();
        if (value is null) return;
        string name = result.Option.Name;
        var error = rule switch
        {
            DeviceName => DeviceProblem(name, value, "use --device cpu"),
            OutputDirectory => OutputProblem(name, value),
            OutputFile f => OutputFileProblem(name, value, f.What),
            InputFile f => InputFileProblem(name, value, f.What),
            InputDirectory d => InputDirectoryProblem(name, value, d.What),
            _ => null,
        };
        if (error is not null) result.AddError(error);
    }

    /// <summary>
    /// Why <paramref name="value"/> cannot be used as the device, or null; <paramref name="hint"/> ends the message.
    /// </summary>
    internal static string? DeviceProblem(string option, string? value, string hint)
    {
        const string forms = "cpu, cuda, cuda:N or ilgpu-cpu";
        if (string.IsNullOrWhiteSpace(value)) return Expected(option, forms, value ?? "");
        Device device;
        try { device = Device.Parse(value); }
        catch (ArgumentException) { return Expected(option, forms, value); }
        return Backends.DeviceCatalog.Unavailable(device) is string why
            ? $"{option}: {device} is not available: {why}; {hint}"
            : null;
    }

    /// <summary>Why SPIKESHARP_DEVICE cannot be the default device, or null (also when it is not set).</summary>
    internal static string? EnvironmentDeviceProblem()
    {
        var env = Environment.GetEnvironmentVariable(Backends.DeviceCatalog.DeviceVariable);
        if (string.IsNullOrWhiteSpace(env)) return null;
        var name = Backends.DeviceCatalog.DeviceVariable;
        return DeviceProblem(name, env, $"unset {name} or pass --device cpu");
    }

    /// <summary>Why the command could not create or write the directory <paramref name="path"/>, or null.</summary>
    internal static string? OutputProblem(string option, string path)
    {
        if (string.IsNullOrWhiteSpace(path)) return Expected(option, "a directory path", path);
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return Expected(option, "a valid directory path", path);
        }
        if (File.Exists(full)) return Expected(option, "a directory", path) + ", which is a file";
        if (Directory.Exists(full))
            return WriteProblem(full) is string why ? $"{option}: cannot write in '{path}': {why}" : null;
        // The nearest existing ancestor decides whether the directory can be created.
        var ancestor = Path.GetDirectoryName(full);
        while (ancestor is not null && !Directory.Exists(ancestor) && !File.Exists(ancestor))
            ancestor = Path.GetDirectoryName(ancestor);
        if (ancestor is null) return $"{option}: cannot create '{path}': none of its parent directories exists";
        if (File.Exists(ancestor)) return $"{option}: cannot create '{path}': '{ancestor}' is a file, not a directory";
        return WriteProblem(ancestor) is string reason
            ? $"{option}: cannot create '{path}': {reason} in '{ancestor}'"
            : null;
    }

    /// <summary>Why the command could not write the file <paramref name="path"/>, or null.</summary>
    internal static string? OutputFileProblem(string option, string path, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) return Expected(option, what, path);
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return Expected(option, what, path);
        }
        if (Directory.Exists(full) || path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar))
            return Expected(option, what, path) + ", which is a directory";
        return OutputProblem(option, Path.GetDirectoryName(full)!);
    }

    // Creates and deletes a uniquely named empty file: the only portable test of write permission.
    private static string? WriteProblem(string directory)
    {
        var probe = Path.Combine(directory, $".spikesharp-write-test-{Guid.NewGuid():N}");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.DeleteOnClose,
            };
            using (new FileStream(probe, options)) { }
            return null;
        }
        catch (UnauthorizedAccessException) { return "no permission to write"; }
        catch (IOException e) { return $"cannot write ({e.Message.TrimEnd('.')})"; }
    }

    internal static string? InputFileProblem(string option, string path, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) return Expected(option, what, path);
        if (Directory.Exists(path)) return Expected(option, what, path) + ", which is a directory";
        if (!File.Exists(path)) return Expected(option, what, path) + ", which does not exist";
        return null;
    }

    internal static string? InputDirectoryProblem(string option, string path, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) return Expected(option, what, path);
        if (File.Exists(path)) return Expected(option, what, path) + ", which is a file";
        if (!Directory.Exists(path)) return Expected(option, what, path) + ", which does not exist";
        return null;
    }
}
