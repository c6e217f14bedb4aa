using SpikeSharp.Data;

namespace SpikeSharp.Tests.DataLoading;

/// <summary>The loader owns its batches: one alive at a time, none after the loop, kept only when persisted.</summary>
[Collection(SpikeSharp.Tests.Core.LiveCountCollection.Name)]
public class DataLoaderOwnershipTests
{
    private static ArrayDataset Counting(int n) =>
        new(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), Enumerable.Range(0, n).ToArray(), new[] { 1 });

    [Fact]
    public void EachBatchIsFreedWhenTheNextIsTakenAndTheLastAtTheEnd()
    {
        var loader = new DataLoader(Counting(10), 3, shuffle: false, device: Device.Cpu);
        long before = Tensor.LiveCount;
        var seen = new List<(Tensor x, Tensor y)>();
        foreach (var (x, y) in loader.Batches())
        {
            foreach (var (px, py) in seen)
            {
                Assert.True(px.IsDisposed, "the previous x is freed once the next batch is taken");
                Assert.True(py.IsDisposed, "the previous y is freed once the next batch is taken");
            }
            Assert.False(x.IsDisposed);
            Assert.Equal(before + 2, Tensor.LiveCount); // exactly the current batch
            seen.Add((x, y));
        }
        Assert.Equal(4, seen.Count);
        Assert.True(seen[^1].x.IsDisposed && seen[^1].y.IsDisposed, "the last batch is freed when the loop ends");
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void BreakAndExceptionFreeTheCurrentBatch()
    {
        var loader = new DataLoader(Counting(10), 3, shuffle: false, device: Device.Cpu);
        long before = Tensor.LiveCount;
        Tensor? kept = null;
        foreach (var (x, _) in loader.Batches()) { kept = x; break; }
        Assert.True(kept!.IsDisposed);
        Assert.Equal(before, Tensor.LiveCount);

        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var (x, _) in loader.Batches()) { kept = x; throw new InvalidOperationException("step failed"); }
        });
        Assert.Equal("step failed", e.Message);
        Assert.True(kept.IsDisposed);
        Assert.Equal(before, Tensor.LiveCount);
        // The abandoned epochs left no producer behind that would disturb the next one.
        Assert.Equal(Enumerable.Range(0, 10), loader.Batches().SelectMany(b => b.y.ToArray<int>()));
    }

    [Fact]
    public void AnOuterScopeDoesNotCollectBatches()
    {
        var loader = new DataLoader(Counting(10), 2, shuffle: false, device: Device.Cpu);
        using var epoch = TensorScope.Begin();
        foreach (var (x, y) in loader.Batches()) { }
        Assert.Equal(0, epoch.Count); // the loader freed them; the scope holds no dead references
    }

    [Fact]
    public void APersistedBatchIsLeftToTheCaller()
    {
        var loader = new DataLoader(Counting(10), 3, shuffle: false, device: Device.Cpu);
        long before = Tensor.LiveCount;
        Tensor? first = null, second = null;
        foreach (var (x, _) in loader.Batches())
        {
            if (first == null) first = x.Persist();
            else second ??= x;
        }
        Assert.False(first!.IsDisposed);
        Assert.Equal(new float[] { 0, 1, 2 }, first.ToArray());
        Expect.Throws<ObjectDisposedException>(() => second!.ToArray(), "(3, 1)", "has been disposed",
            "DataLoader frees each batch", "Persist()");
        Assert.Equal(before + 1, Tensor.LiveCount);
        first.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }
}
