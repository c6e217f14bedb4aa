using System.Runtime.CompilerServices;

namespace SpikeSharp.Backends;

/// <summary>
/// Counts the work items backends issue, for "kernels per step" in benchmarks: on an ILGPU device each kernel
/// launch, each cuBLAS call and each device copy or upload; on the CPU each parallel loop a primitive runs
/// (<c>CpuParallel.For</c>, whether or not it fans out to worker threads, and the neuron driver's parallel loops).
/// Counts are per thread: a scope counts what the thread that opened it issues (a training step issues its work
/// from one thread; loops nested inside a CPU worker are not counted), so concurrent work elsewhere does not disturb
/// it. The counter moves only while a <see cref="Start"/> scope is open on the thread: a launch costs one
/// thread-local read when nobody is counting.
/// </summary>
/// <example><code>
/// using var launches = LaunchCounter.Start();
/// RunStep();
/// Console.WriteLine(launches.Launches);
/// </code></example>
public static class LaunchCounter
{
    [ThreadStatic] private static int _active;
    [ThreadStatic] private static long _total;

    /// <summary>Launches this thread issued while a scope was open on it.</summary>
    public static long Total => _total;

    /// <summary>True while a <see cref="Start"/> scope is open on this thread.</summary>
    public static bool IsCounting => _active != 0;

    /// <summary>Starts counting this thread's launches until the returned scope is disposed on this thread (scopes
    /// nest and may overlap).</summary>
    public static Scope Start()
    {
        _active++;
        return new Scope(Total);
    }

    /// <summary>Counts one launch (called by the backends right where they issue work).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Hit()
    {
        if (_active != 0) _total++;
    }

    /// <summary>An open counting scope: <see cref="Launches"/> since it started.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly long _start;
        private long _end = -1;

        internal Scope(long start) => _start = start;

        /// <summary>Launches counted since <see cref="Start"/> (frozen once disposed); read it on the counting
        /// thread.</summary>
        public long Launches => (_end >= 0 ? _end : Total) - _start;

        /// <summary>Stops this scope's counting (the thread's counter stops when its last open scope is disposed).
        /// </summary>
        public void Dispose()
        {
            if (_end >= 0) return;
            _end = Total;
            if (_active > 0) _active--;
        }
    }
}
