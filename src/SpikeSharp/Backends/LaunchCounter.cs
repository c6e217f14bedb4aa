using System.Runtime.CompilerServices;

namespace SpikeSharp.Backends;

/// <summary>
/// Counts the work items backends issue, for "kernels per step" in benchmarks: on an ILGPU device each kernel
/// launch, each cuBLAS call and each device copy or upload; on the CPU each parallel loop a primitive runs
/// (<c>CpuParallel.For</c>, whether or not it fans out to worker threads). The count is process-wide (every backend,
/// every thread) and only moves while at least one <see cref="Start"/> scope is open, so that it costs one static
/// read per launch when nobody is counting.
/// </summary>
/// <example><code>
/// using var launches = LaunchCounter.Start();
/// RunStep();
/// Console.WriteLine(launches.Launches);
/// </code></example>
public static class LaunchCounter
{
    private static int _active;
    private static long _total;

    /// <summary>Launches counted since the process started (only while a scope was open).</summary>
    public static long Total => Volatile.Read(ref _total);

    /// <summary>True while a <see cref="Start"/> scope is open.</summary>
    public static bool IsCounting => Volatile.Read(ref _active) != 0;

    /// <summary>Starts counting until the returned scope is disposed (scopes nest and may overlap).</summary>
    public static Scope Start()
    {
        Interlocked.Increment(ref _active);
        return new Scope(Total);
    }

    /// <summary>Counts one launch (called by the backends right where they issue work).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Hit()
    {
        if (_active != 0) Interlocked.Increment(ref _total);
    }

    /// <summary>An open counting scope: <see cref="Launches"/> since it started.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly long _start;
        private long _end = -1;

        internal Scope(long start) => _start = start;

        /// <summary>Launches counted since <see cref="Start"/> (frozen once disposed). Counts every thread.</summary>
        public long Launches => (_end >= 0 ? _end : Total) - _start;

        /// <summary>Stops this scope's counting (the counter stops when the last open scope is disposed).</summary>
        public void Dispose()
        {
            if (_end >= 0) return;
            _end = Total;
            Interlocked.Decrement(ref _active);
        }
    }
}
