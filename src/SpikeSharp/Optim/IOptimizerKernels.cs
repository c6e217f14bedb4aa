using SpikeSharp.Backends;

namespace SpikeSharp.Optim;

/// <summary>
/// One parameter of a multi-tensor optimiser step: the parameter, its gradient (same length) and the state slots
/// the rule uses (same length; leave an unused slot default).
/// </summary>
/// <param name="Param">Updated in place.</param>
/// <param name="Grad">Read only.</param>
/// <param name="First">First state slot (Adam's m, SGD's momentum buffer), updated in place.</param>
/// <param name="Second">Second state slot (Adam's v), updated in place.</param>
public readonly record struct ParamSlot(Buf Param, Buf Grad, Buf First = default, Buf Second = default);

/// <summary>
/// The optimiser kernel family: applies an <see cref="IFusedStep"/> to many parameters with few launches (a
/// backend registers it in its KernelFamilies file). Each element of every parameter, gradient and state slot is
/// read once and written once. The buffers stay where they are (the parameters' own storages, the gradients the
/// tape produced, the optimiser's state tensors): a launch takes a list of them, as PyTorch's multi-tensor apply
/// does, so nothing has to be re-homed into one flat storage and checkpoints keep their per-parameter layout.
/// </summary>
public interface IOptimizerKernels
{
    /// <summary>
    /// Applies <paramref name="step"/> to every slot, in as few launches as the backend can (the CPU: one parallel
    /// loop; the ILGPU backend: one launch per eight parameters).
    /// </summary>
    /// <exception cref="ArgumentException">A slot with mismatched lengths, a missing state slot the rule uses, a
    /// buffer that is not float32 or belongs to another backend.</exception>
    void Step<TStep>(TStep step, ReadOnlySpan<ParamSlot> slots) where TStep : struct, IFusedStep;

    /// <summary>Partial sums per buffer that <see cref="SumOfSquares"/> writes.</summary>
    const int SquarePartials = 64;

    /// <summary>
    /// Sums of squares of many buffers in few launches (for the global gradient norm): writes
    /// <see cref="SquarePartials"/> partial sums per buffer into <paramref name="partials"/> (buffer i owns
    /// elements [i·P, (i + 1)·P)), whose total is Σᵢ Σⱼ xᵢⱼ². The split depends only on the lengths, so the result
    /// is deterministic.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer is not float32, or <paramref name="partials"/> is not
    /// float32 of length <c>xs.Length · SquarePartials</c>.</exception>
    void SumOfSquares(ReadOnlySpan<Buf> xs, Buf partials);

    /// <summary>Multiplies every element of every buffer by <c>factor[0]</c>, a one-element device buffer (so a
    /// scale computed on the device is applied without a read back).</summary>
    /// <exception cref="ArgumentException">A buffer is not float32, or <paramref name="factor"/> is not one
    /// float32 element.</exception>
    void Scale(ReadOnlySpan<Buf> xs, Buf factor);

    /// <summary>Launches issued by <see cref="Step{TStep}"/>, <see cref="SumOfSquares"/> and <see cref="Scale"/>
    /// so far (for benchmarks and tests).</summary>
    long Launches { get; }
}

/// <summary>Checks shared by the backends' implementations.</summary>
internal static class ParamSlotChecks
{
    public static void Check<TStep>(TStep step, ReadOnlySpan<ParamSlot> slots) where TStep : struct, IFusedStep
    {
        for (int i = 0; i < slots.Length; i++)
        {
            var s = slots[i];
            Float(s.Param, i, "parameter");
            Float(s.Grad, i, "gradient");
            Length(s.Grad, s.Param, i, "gradient");
            if (step.UsesFirst)
            {
                Float(s.First, i, "first state slot");
                Length(s.First, s.Param, i, "first state slot");
            }
            if (step.UsesSecond)
            {
                Float(s.Second, i, "second state slot");
                Length(s.Second, s.Param, i, "second state slot");
            }
        }
    }

    public static void CheckSquares(ReadOnlySpan<Buf> xs, Buf partials)
    {
        for (int i = 0; i < xs.Length; i++) Float(xs[i], i, "buffer");
        if (partials.Storage == null || partials.DType != DType.Float32
            || partials.Length != (long)xs.Length * IOptimizerKernels.SquarePartials)
            throw new ArgumentException($"sum of squares: partials must be float32 of {xs.Length} × "
                + $"{IOptimizerKernels.SquarePartials} elements, got {partials.Length}", nameof(partials));
    }

    public static void CheckScale(ReadOnlySpan<Buf> xs, Buf factor)
    {
        for (int i = 0; i < xs.Length; i++) Float(xs[i], i, "buffer");
        if (factor.Storage == null || factor.DType != DType.Float32 || factor.Length != 1)
            throw new ArgumentException($"scale: factor must be one float32 element, got {factor.Length}",
                nameof(factor));
    }

    private static void Float(Buf b, int i, string what)
    {
        if (b.Storage == null)
            throw new ArgumentException($"optimizer step: slot {i} has no {what} buffer", "slots");
        if (b.DType != DType.Float32)
            throw new ArgumentException($"optimizer step: the {what} of slot {i} must be float32, got {b.DType.Name()}",
                "slots");
    }

    private static void Length(Buf b, Buf p, int i, string what)
    {
        if (b.Length != p.Length)
            throw new ArgumentException($"optimizer step: the {what} of slot {i} has {b.Length} elements, "
                + $"the parameter {p.Length}", "slots");
    }
}
