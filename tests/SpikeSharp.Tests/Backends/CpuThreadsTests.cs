using SpikeSharp.Backends.Cpu;
using SpikeSharp.Kernels;
using static SpikeSharp.Tests.Backends.BackendHarness;

namespace SpikeSharp.Tests.Backends;

/// <summary>
/// <see cref="Threads"/> and the CPU backend's fork-join loop. Setting the count is process-wide, so these run apart
/// from other tests.
/// </summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)]
public class CpuThreadsTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void ThreadCountBelowOneFailsNamingTheRange(int bad)
    {
        int before = Threads.Count;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Threads.Count = bad);
        Assert.Equal("value", e.ParamName);
        Assert.StartsWith($"thread count: expected 1 to {Threads.MaxCount} (the cores of this machine), got {bad}", e.Message);
        Assert.Equal(before, Threads.Count);
    }

    [Fact]
    public void ThreadCountAboveTheCoresFails()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Threads.Count = Threads.MaxCount + 1);
        Assert.StartsWith($"thread count: expected 1 to {Threads.MaxCount} (the cores of this machine), got {Threads.MaxCount + 1}", e.Message);
    }

    [Fact]
    public void ThreadCountCanBeSetAndRead()
    {
        int before = Threads.Count;
        try
        {
            Threads.Count = 1;
            Assert.Equal(1, Threads.Count);
            Threads.Count = Threads.MaxCount;
            Assert.Equal(Threads.MaxCount, Threads.Count);
        }
        finally { Threads.Count = before; }
    }

    [Theory]
    [InlineData(null, true, "")]
    [InlineData("  ", true, "")]
    [InlineData("1", true, "")]
    [InlineData("abc", false, "SPIKESHARP_NUM_THREADS='abc' is not a thread count: expected an integer from 1 to ")]
    [InlineData("0", false, "SPIKESHARP_NUM_THREADS=0 is out of range: expected 1 to ")]
    [InlineData("100000", false, "SPIKESHARP_NUM_THREADS=100000 is out of range: expected 1 to ")]
    public void TheVariableIsValidated(string? text, bool ok, string errorStart)
    {
        var n = Threads.ParseVariable(text, out var error);
        if (ok)
        {
            Assert.Null(error);
            Assert.Equal(string.IsNullOrWhiteSpace(text) ? Threads.MaxCount : int.Parse(text!), n);
        }
        else
        {
            Assert.Null(n);
            Assert.StartsWith(errorStart, error);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1000, 7)]
    [InlineData(100_003, 1)]
    [InlineData(3_000_001, 1000)]
    public void EveryIndexIsVisitedExactlyOnce(int n, int grain)
    {
        var hits = new int[n];
        CpuParallel.For(n, hits, static (in int[] h, int s, int e) =>
        {
            for (int i = s; i < e; i++) Interlocked.Increment(ref h[i]);
        }, grain);
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void AnExceptionInAChunkReachesTheCaller()
    {
        for (int rep = 0; rep < 20; rep++)
        {
            var e = Assert.Throws<InvalidOperationException>(() => CpuParallel.For(1000, 999, static (in int bad, int s, int end) =>
            {
                if (bad >= s && bad < end) throw new InvalidOperationException($"chunk with {bad}");
            }, 1));
            Assert.Equal("chunk with 999", e.Message);
        }
        // ... and the loop still works afterwards.
        EveryIndexIsVisitedExactlyOnce(100_000, 10);
    }

    [Fact]
    public async Task NestedAndConcurrentLoopsRunToCompletion()
    {
        // A loop inside a loop body, and loops from several threads at once: the ones that find the workers busy run
        // on their own thread.
        var tasks = Enumerable.Range(0, 6).Select(t => Task.Run(() =>
        {
            var outer = new long[64];
            CpuParallel.For(outer.Length, outer, static (in long[] o, int s, int e) =>
            {
                for (int i = s; i < e; i++)
                {
                    var inner = new int[5000];
                    CpuParallel.For(inner.Length, inner, static (in int[] x, int a, int b) => { for (int j = a; j < b; j++) x[j] = j; }, 64);
                    o[i] = inner.Sum(v => (long)v);
                }
            }, 1);
            return outer;
        })).ToArray();
        foreach (var result in await Task.WhenAll(tasks)) Assert.All(result, v => Assert.Equal(4999L * 5000 / 2, v));
    }

    [Fact]
    public void KernelResultsDoNotDependOnTheThreadCount()
    {
        var be = CpuBackend.Instance;
        var h = RandF(300_001, 4);
        float Sum(int threads)
        {
            int saved = Threads.Count;
            Threads.Count = threads;
            try
            {
                var x = Up(be, h); var y = Empty(be, DType.Float32, 1);
                be.Reduce(new SumOp(), x, y, 1, h.Length, 1);
                float s = Down<float>(be, y)[0];
                x.Storage.Release(); y.Storage.Release();
                return s;
            }
            finally { Threads.Count = saved; }
        }
        Assert.Equal(Sum(1), Sum(Threads.MaxCount)); // bitwise: fixed chunks, combined in order
    }
}
