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

    /// <summary>Launches issued by <see cref="Step{TStep}"/> so far (for benchmarks and tests).</summary>
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
