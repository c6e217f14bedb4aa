using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;
using SpikeSharp.Kernels;

namespace SpikeSharp.Optim;

/// <summary>
/// The ILGPU optimiser step: one launch per <see cref="SlotsPerLaunch"/> parameters. The views of a launch travel
/// in one kernel-argument struct (as the fused neuron kernels' views do); the grid's y index picks the parameter,
/// its x dimension strides over the parameter's elements, so each element is read and written once.
/// </summary>
internal sealed class IlgpuOptimizerKernels(IlgpuBackend backend) : IOptimizerKernels
{
    /// <summary>Parameters per launch: the views of eight parameters fill 512 bytes of kernel arguments, well
    /// inside CUDA's 4 KiB, and a model's dozens of parameters take a handful of launches.</summary>
    public const int SlotsPerLaunch = 8;

    private long _launches;

    /// <inheritdoc/>
    public long Launches => Interlocked.Read(ref _launches);

    /// <inheritdoc/>
    public void SumOfSquares(ReadOnlySpan<Buf> xs, Buf partials)
    {
        ParamSlotChecks.CheckSquares(xs, partials);
        var kernel = backend.Kernel("optimizer_sum_of_squares",
            a => a.LoadKernel<OptimizerChunk, int, int, ArrayView<float>>(OptimizerStepKernels.SumOfSquares));
        var dst = backend.View<float>(partials);
        for (int first = 0; first < xs.Length; first += SlotsPerLaunch)
        {
            var chunk = new OptimizerChunk();
            int count = Math.Min(SlotsPerLaunch, xs.Length - first);
            for (int k = 0; k < count; k++)
            {
                var v = backend.View<float>(xs[first + k]);
                chunk.Set(k, v, v, v, v);
            }
            // Group x of slot y sums elements x·D + t, stepping by P·D, into partial [(first + y)·P + x].
            var config = new KernelConfig(new Index3D(IOptimizerKernels.SquarePartials, count, 1),
                new Index3D(backend.GroupSize, 1, 1));
            kernel(backend.Stream, config, chunk, count, first, dst);
            Interlocked.Increment(ref _launches);
        }
    }

    /// <inheritdoc/>
    public void Scale(ReadOnlySpan<Buf> xs, Buf factor)
    {
        ParamSlotChecks.CheckScale(xs, factor);
        var kernel = backend.Kernel("optimizer_scale",
            a => a.LoadKernel<OptimizerChunk, int, ArrayView<float>>(OptimizerStepKernels.Scale));
        var f = backend.View<float>(factor);
        var slots = new ParamSlot[xs.Length];
        for (int k = 0; k < xs.Length; k++) slots[k] = new ParamSlot(xs[k], xs[k]);
        for (int i = 0; NextChunk(slots, ref i, false, false, out var chunk, out int count, out var config);)
        {
            kernel(backend.Stream, config, chunk, count, f);
            Interlocked.Increment(ref _launches);
        }
    }

    /// <inheritdoc/>
    public void Step<TStep>(TStep step, ReadOnlySpan<ParamSlot> slots) where TStep : struct, IFusedStep
    {
        ParamSlotChecks.Check(step, slots);
        var kernel = backend.Kernel("optimizer_step",
            a => a.LoadKernel<OptimizerChunk, int, TStep>(OptimizerStepKernels.Step));
        for (int i = 0; NextChunk(slots, ref i, step.UsesFirst, step.UsesSecond, out var chunk, out int count,
                 out var config);)
        {
            kernel(backend.Stream, config, chunk, count, step);
            Interlocked.Increment(ref _launches);
        }
    }

    // The next up to eight non-empty slots from i on, and a grid whose y index picks the slot and whose x
    // dimension strides over its elements; false when no slot is left.
    private bool NextChunk(ReadOnlySpan<ParamSlot> slots, ref int i, bool first, bool second,
        out OptimizerChunk chunk, out int count, out KernelConfig config)
    {
        chunk = new OptimizerChunk();
        count = 0;
        int longest = 0;
        for (; i < slots.Length && count < SlotsPerLaunch; i++)
        {
            var s = slots[i];
            if (s.Param.Length == 0) continue;
            var p = backend.View<float>(s.Param);
            // A slot the rule does not use gets the parameter's view, which the kernel never reads through it.
            var m = first ? backend.View<float>(s.First) : p;
            var v = second ? backend.View<float>(s.Second) : p;
            chunk.Set(count++, p, backend.View<float>(s.Grad), m, v);
            longest = Math.Max(longest, s.Param.Length);
        }
        // Enough groups along x to cover the longest slot, the grid's total capped as Launch1D caps it.
        int groupsX = count == 0 ? 1 : (int)Math.Clamp((longest + backend.GroupSize - 1L) / backend.GroupSize, 1,
            Math.Max(1, backend.MaxGroups / count));
        config = new KernelConfig(new Index3D(groupsX, Math.Max(count, 1), 1), new Index3D(backend.GroupSize, 1, 1));
        return count > 0;
    }
}

/// <summary>The views of up to eight parameters of one launch (P: parameter, G: gradient, M, V: state slots).
/// </summary>
internal struct OptimizerChunk
{
    public ArrayView<float> P0, P1, P2, P3, P4, P5, P6, P7;
    public ArrayView<float> G0, G1, G2, G3, G4, G5, G6, G7;
    public ArrayView<float> M0, M1, M2, M3, M4, M5, M6, M7;
    public ArrayView<float> V0, V1, V2, V3, V4, V5, V6, V7;

    public void Set(int k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v)
    {
        switch (k)
        {
            case 0: P0 = p; G0 = g; M0 = m; V0 = v; break;
            case 1: P1 = p; G1 = g; M1 = m; V1 = v; break;
            case 2: P2 = p; G2 = g; M2 = m; V2 = v; break;
            case 3: P3 = p; G3 = g; M3 = m; V3 = v; break;
            case 4: P4 = p; G4 = g; M4 = m; V4 = v; break;
            case 5: P5 = p; G5 = g; M5 = m; V5 = v; break;
            case 6: P6 = p; G6 = g; M6 = m; V6 = v; break;
            default: P7 = p; G7 = g; M7 = m; V7 = v; break;
        }
    }

    /// <summary>Role r (0 P, 1 G, 2 M, 3 V) of slot k.</summary>
    public readonly ArrayView<float> Get(int r, int k) => r switch
    {
        0 => Pick(k, P0, P1, P2, P3, P4, P5, P6, P7),
        1 => Pick(k, G0, G1, G2, G3, G4, G5, G6, G7),
        2 => Pick(k, M0, M1, M2, M3, M4, M5, M6, M7),
        _ => Pick(k, V0, V1, V2, V3, V4, V5, V6, V7),
    };

    private static ArrayView<float> Pick(int k, ArrayView<float> a0, ArrayView<float> a1, ArrayView<float> a2,
        ArrayView<float> a3, ArrayView<float> a4, ArrayView<float> a5, ArrayView<float> a6, ArrayView<float> a7) =>
        k switch { 0 => a0, 1 => a1, 2 => a2, 3 => a3, 4 => a4, 5 => a5, 6 => a6, _ => a7 };
}

/// <summary>The multi-tensor kernel.</summary>
internal static class OptimizerStepKernels
{
    /// <summary>Slot Grid.IdxY, elements strided over the x dimension of the grid.</summary>
    public static void Step<TStep>(OptimizerChunk c, int count, TStep step) where TStep : struct, IFusedStep
    {
        int k = Grid.IdxY;
        if (k >= count) return;
        var p = c.Get(0, k);
        var g = c.Get(1, k);
        var m = c.Get(2, k);
        var v = c.Get(3, k);
        bool first = step.UsesFirst, second = step.UsesSecond;
        int n = (int)p.Length;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            var u = step.Apply(p[i], g[i], first ? m[i] : 0f, second ? v[i] : 0f);
            p[i] = u.P;
            if (first) m[i] = u.M;
            if (second) v[i] = u.V;
        }
    }

    /// <summary>Slot Grid.IdxY: group x writes the block sum of squares of its strided elements.</summary>
    public static void SumOfSquares(OptimizerChunk c, int count, int first, ArrayView<float> partials)
    {
        int k = Grid.IdxY;
        if (k >= count) return; // uniform over the group: the whole group leaves together
        var x = c.Get(0, k);
        int n = (int)x.Length;
        int stride = Grid.DimX * Group.DimX;
        float acc = 0f;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride) acc += x[i] * x[i];
        float sum = IlgpuBackend.BlockReduce(acc, new SumOp());
        if (Group.IdxX == 0) partials[(first + k) * Grid.DimX + Grid.IdxX] = sum;
    }

    /// <summary>Slot Grid.IdxY, elements strided over the x dimension, each multiplied by factor[0].</summary>
    public static void Scale(OptimizerChunk c, int count, ArrayView<float> factor)
    {
        int k = Grid.IdxY;
        if (k >= count) return;
        var x = c.Get(0, k);
        float f = factor[0];
        int n = (int)x.Length;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride) x[i] *= f;
    }
}
