namespace SpikeSharp.Tests;

/// <summary>Exception assertions that check the exact type and what the message says.</summary>
public static class Expect
{
    /// <summary>
    /// Asserts that <paramref name="action"/> throws exactly <typeparamref name="T"/> and that its message contains
    /// every one of <paramref name="parts"/> (ordinal, case-sensitive). Returns the exception.
    /// </summary>
    public static T Throws<T>(Action action, params string[] parts) where T : Exception
    {
        var e = Assert.Throws<T>(action);
        foreach (var p in parts) Assert.Contains(p, e.Message);
        return e;
    }

    /// <summary>As <see cref="Throws{T}(Action, string[])"/> for a call that returns a value.</summary>
    public static T Throws<T>(Func<object?> call, params string[] parts) where T : Exception
    {
        var e = Assert.Throws<T>(call);
        foreach (var p in parts) Assert.Contains(p, e.Message);
        return e;
    }
}
