using System.Runtime.ExceptionServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>A loop body over [start, end) with its state passed by reference (a static lambda allocates
/// nothing).</summary>
internal delegate void RangeBody<TState>(in TState state, int start, int end);

/// <summary>
/// The CPU backend's fork-join loop: <see cref="Threads.Count"/> − 1 worker threads that spin briefly between
/// kernels and then sleep, and the calling thread, take chunks of one loop at a time from a shared counter.
/// Nothing is allocated per loop (unlike Parallel.For): the state travels in a per-type job object.
/// One loop runs at a time; a loop started while another runs (another thread's kernel, or a kernel called from
/// inside a loop body) runs on its calling thread alone, so there is never a deadlock or oversubscription.
/// </summary>
internal static class CpuParallel
{
    // How long a worker spins for the next loop before it sleeps: longer than the host-side gap between two kernels
    // of a training step (a few µs), short enough not to hold a core from other work (a library's thread pool, another
    // process) when the next kernel is far away. Timed, not counted: a pause instruction costs 10 to 140 cycles
    // depending on the CPU.
    internal static long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 20_000; // 50 µs

    private abstract class Job
    {
        public int N, ChunkSize, Workers;
        public abstract void Run(int chunk);
        public abstract void Clear();
    }

    private sealed class Job<TState> : Job
    {
        // Only the thread that owns the pool uses it, so one instance per state type suffices.
        public static readonly Job<TState> Shared = new();
        public TState State = default!;
        public RangeBody<TState> Body = null!;

        public override void Run(int chunk)
        {
            int s = chunk * ChunkSize;
            Body(in State, s, Math.Min(N, s + ChunkSize));
        }

        public override void Clear() { State = default!; Body = null!; }
    }

    private static readonly object _gate = new();
    private static readonly List<Thread> _workers = new();
    private static int _busy;          // 1 while a loop owns the workers
    private static long _state;        // (generation << 32) | (chunks << 16) | next chunk to claim
    private const int MaxChunks = 0xFFFF;
    private static int _finished;      // chunks done in the current generation
    private static int _sleepers;      // workers blocked on _gate
    private static Job? _job;
    private static Exception? _error;

    /// <summary>
    /// Runs body(state, start, end) over [0, n) in chunks of at least <paramref name="grain"/> elements, on up to
    /// <see cref="Threads.Count"/> threads; at most a few chunks per thread, so that the dynamic claiming balances
    /// a busy machine without paying per-chunk costs on small ones. Work of one grain or less stays on this thread.
    /// </summary>
    public static void For<TState>(int n, in TState state, RangeBody<TState> body, int grain)
    {
        if (n <= 0) return;
        LaunchCounter.Hit();
        grain = Math.Max(1, grain);
        int threads = Threads.Count; // read even for small loops: a bad SPIKESHARP_NUM_THREADS fails every kernel alike
        if (n <= grain) threads = 1;
        if (threads == 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            body(in state, 0, n);
            return;
        }
        try
        {
            long perChunk = Math.Max(grain, ((long)n + 4L * threads - 1) / (4L * threads));
            perChunk = Math.Max(perChunk, ((long)n + MaxChunks - 1) / MaxChunks);
            int chunk = (int)Math.Min(int.MaxValue, perChunk);
            int chunks = (int)(((long)n + chunk - 1) / chunk);
            if (chunks == 1) { body(in state, 0, n); return; }
            var job = Job<TState>.Shared;
            job.State = state; job.Body = body;
            job.N = n; job.ChunkSize = chunk; job.Workers = Math.Min(threads, chunks) - 1;
            Run(job, chunks);
        }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>The <see cref="For{TState}"/> loop with a closure (allocates the closure; for cold paths).</summary>
    public static void For(int n, Action<int, int> body, int grain) =>
        For(n, body, static (in Action<int, int> b, int s, int e) => b(s, e), grain);

    private static void Run(Job job, int chunks)
    {
        EnsureWorkers(job.Workers);
        _error = null;
        Volatile.Write(ref _finished, 0);
        _job = job;
        long gen = (Volatile.Read(ref _state) >> 32) + 1;
        // Full fence: the job's fields are visible before anyone can claim a chunk of it.
        Interlocked.Exchange(ref _state, (gen << 32) | ((long)chunks << 16));
        if (Volatile.Read(ref _sleepers) > 0) lock (_gate) Monitor.PulseAll(_gate);
        Participate(gen, job);
        var spin = new SpinWait();
        while (Volatile.Read(ref _finished) < chunks) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        job.Clear();
        if (_error is { } e) { _error = null; ExceptionDispatchInfo.Capture(e).Throw(); }
    }

    // Claims chunks of generation gen until none are left. Generation and chunk count live in the same word as the
    // counter, so a late worker's claim on a finished loop fails instead of taking a chunk of the next one; and once
    // a claim succeeded the loop cannot finish (nor the job object be refilled) before that chunk is done.
    private static void Participate(long gen, Job job)
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            if (s >> 32 != gen) return;
            int next = (int)(s & 0xFFFF), chunks = (int)((s >> 16) & 0xFFFF);
            if (next >= chunks) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            try { job.Run(next); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            Interlocked.Increment(ref _finished);
        }
    }

    private static void EnsureWorkers(int needed)
    {
        if (Volatile.Read(ref _workerCount) >= needed) return;
        lock (_gate)
        {
            while (_workers.Count < needed)
            {
                int index = _workers.Count;
                var t = new Thread(() => WorkerLoop(index))
                {
                    IsBackground = true,
                    Name = $"SpikeSharp CPU worker {index + 1}",
                };
                _workers.Add(t);
                t.Start();
            }
            Volatile.Write(ref _workerCount, _workers.Count);
        }
    }

    private static int _workerCount;

    private static void WorkerLoop(int index)
    {
        long seen = Volatile.Read(ref _state) >> 32;
        while (true)
        {
            long gen = WaitForNext(seen);
            seen = gen;
            var job = Volatile.Read(ref _job);
            // A worker beyond this loop's share (Threads.Count was lowered, or the loop is small) sits it out.
            if (job == null || index >= job.Workers) continue;
            Participate(gen, job);
        }
    }

    private static long WaitForNext(long seen)
    {
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
        do
        {
            for (int i = 0; i < 16; i++)
            {
                long gen = Volatile.Read(ref _state) >> 32;
                if (gen != seen) return gen;
                Thread.SpinWait(1);
            }
        }
        while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline);
        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers);
            try
            {
                while (true)
                {
                    long gen = Volatile.Read(ref _state) >> 32;
                    if (gen != seen) return gen;
                    Monitor.Wait(_gate);
                }
            }
            finally { Interlocked.Decrement(ref _sleepers); }
        }
    }
}
