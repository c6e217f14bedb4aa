using System.Numerics.Tensors;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Optim;

/// <summary>
/// The CPU optimiser step: one parallel loop over the concatenation of all parameters (so small parameters share
/// a thread's chunk instead of each paying a loop start), SIMD over whole vectors of each run and the scalar rule
/// on the tail, which gives the same bits.
/// </summary>
internal sealed class CpuOptimizerKernels : IOptimizerKernels
{
    public static CpuOptimizerKernels Instance { get; } = new();

    private long _launches;

    private CpuOptimizerKernels() { }

    /// <inheritdoc/>
    public long Launches => Interlocked.Read(ref _launches);

    /// <inheritdoc/>
    public void SumOfSquares(ReadOnlySpan<Buf> xs, Buf partials)
    {
        ParamSlotChecks.CheckSquares(xs, partials);
        var work = xs.ToArray();
        foreach (var b in work) b.F(); // a buffer of another backend or a freed one fails here, not in a worker
        var dst = partials.F();
        dst.Clear();
        if (work.Length == 0) return;
        Interlocked.Increment(ref _launches);
        var sums = new float[work.Length];
        // One buffer per work item: its sum is one SIMD pass, the same bits on any thread count.
        CpuBackend.For(work.Length, (work, sums), static (in (Buf[] W, float[] S) k, int s, int e) =>
        {
            for (int i = s; i < e; i++) k.S[i] = TensorPrimitives.SumOfSquares<float>(k.W[i].F());
        });
        for (int i = 0; i < sums.Length; i++) dst[i * IOptimizerKernels.SquarePartials] = sums[i];
    }

    /// <inheritdoc/>
    public void Scale(ReadOnlySpan<Buf> xs, Buf factor)
    {
        ParamSlotChecks.CheckScale(xs, factor);
        float f = factor.F()[0];
        foreach (var b in xs)
        {
            if (b.Length == 0) continue;
            TensorPrimitives.Multiply(b.F(), f, b.F());
        }
        Interlocked.Increment(ref _launches);
    }

    /// <inheritdoc/>
    public void Step<TStep>(TStep step, ReadOnlySpan<ParamSlot> slots) where TStep : struct, IFusedStep
    {
        ParamSlotChecks.Check(step, slots);
        var work = new ParamSlot[slots.Length];
        var ends = new long[slots.Length];
        long total = 0;
        for (int i = 0; i < slots.Length; i++)
        {
            work[i] = slots[i];
            // Resolves each buffer now: a buffer of another backend or a freed one fails here, not in a worker.
            work[i].Param.F(); work[i].Grad.F();
            if (step.UsesFirst) work[i].First.F();
            if (step.UsesSecond) work[i].Second.F();
            total += slots[i].Param.Length;
            ends[i] = total;
        }
        if (total == 0) return;
        if (total > int.MaxValue)
            throw new ArgumentException($"optimizer step: {total} elements in one call; at most {int.MaxValue}",
                nameof(slots));
        Interlocked.Increment(ref _launches);
        CpuBackend.For((int)total, (step, work, ends), static (in (TStep Step, ParamSlot[] Work, long[] Ends) k,
            int s, int e) =>
        {
            // The first slot that ends after s, then each slot's part of [s, e).
            int i = Array.BinarySearch(k.Ends, s);
            i = i < 0 ? ~i : i + 1;
            for (long at = s; at < e; i++)
            {
                long start = k.Ends[i] - k.Work[i].Param.Length;
                int from = (int)(at - start), to = (int)(Math.Min(e, k.Ends[i]) - start);
                Run(k.Step, k.Work[i], from, to);
                at = start + to;
            }
        });
    }

    private static void Run<TStep>(TStep step, in ParamSlot slot, int from, int to) where TStep : struct, IFusedStep
    {
        int n = to - from;
        step.Apply(slot.Param.F().Slice(from, n), slot.Grad.F().Slice(from, n),
            step.UsesFirst ? slot.First.F().Slice(from, n) : Span<float>.Empty,
            step.UsesSecond ? slot.Second.F().Slice(from, n) : Span<float>.Empty);
    }
}
