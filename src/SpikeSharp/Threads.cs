using System.Globalization;

namespace SpikeSharp;

/// <summary>
/// How many threads the CPU backend's kernels use (PyTorch's <c>torch.set_num_threads</c>): every parallel loop of
/// the CPU backend, and the BLAS library when one is used for matrix products. The default is
/// <see cref="SpikeSharp.Threads.Variable"/> when set, else every core of the machine.
/// </summary>
public static class Threads
{
    /// <summary>The environment variable read for the default thread count.</summary>
    public const string Variable = "SPIKESHARP_NUM_THREADS";

    private static readonly object _gate = new();
    private static int _count; // 0: not resolved yet
    private static string? _variableError;

    /// <summary>The cores the process may use (<see cref="Environment.ProcessorCount"/>): the most threads
    /// allowed.</summary>
    public static int MaxCount => Environment.ProcessorCount;

    /// <summary>
    /// Threads used by CPU kernels, 1 to <see cref="MaxCount"/>. Setting it takes effect for the next kernel.
    /// Reading it fails when <see cref="Variable"/> holds something other than a thread count and no value was set.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1 or more than <see cref="MaxCount"/>.
    /// </exception>
    /// <exception cref="InvalidOperationException">Read while <see cref="Variable"/> is not a valid thread count.
    /// </exception>
    public static int Count
    {
        get
        {
            int n = Volatile.Read(ref _count);
            return n > 0 ? n : Resolve();
        }
        set
        {
            Check(value, nameof(value));
            lock (_gate)
            {
                _count = value;
                _variableError = null;
            }
        }
    }

    /// <summary>Validates a thread count, naming <paramref name="what"/> in the error.</summary>
    internal static void Check(int value, string what)
    {
        if (value < 1 || value > MaxCount)
            throw new ArgumentOutOfRangeException(what, value,
                $"thread count: expected 1 to {MaxCount} (the cores of this machine), got {value}");
    }

    /// <summary>
    /// Parses a <see cref="Variable"/> value: null or blank gives <see cref="MaxCount"/>; anything else must be an
    /// integer from 1 to <see cref="MaxCount"/>. Returns null and an error message otherwise.
    /// </summary>
    internal static int? ParseVariable(string? text, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return MaxCount;
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
        {
            error = $"{Variable}='{text}' is not a thread count: expected an integer from 1 to {MaxCount}";
            return null;
        }
        if (n < 1 || n > MaxCount)
        {
            error = $"{Variable}={n} is out of range: expected 1 to {MaxCount} (the cores of this machine)";
            return null;
        }
        return n;
    }

    private static int Resolve()
    {
        lock (_gate)
        {
            if (_count > 0) return _count;
            if (_variableError == null)
            {
                var n = ParseVariable(Environment.GetEnvironmentVariable(Variable), out _variableError);
                if (n is int ok)
                {
                    Volatile.Write(ref _count, ok);
                    return ok;
                }
            }
            throw new InvalidOperationException(
                _variableError + $"; fix or unset {Variable}, or set SpikeSharp.Threads.Count");
        }
    }
}
