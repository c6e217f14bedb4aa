using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;

namespace SpikeSharp.Optim;

/// <summary>Gradient clipping, computed and applied on the device (nothing is read back).</summary>
public static class GradClip
{
    /// <summary>
    /// Scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖ is the L2 norm of all gradients
    /// together. Returns the norm before clipping as a one-element device tensor owned by the caller (read it
    /// with Item() only when needed: that waits for the device); null when no parameter has a gradient.
    /// </summary>
    public static Tensor? ClipGradNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        if (!(maxNorm > 0f))
            throw new ArgumentOutOfRangeException(
                nameof(maxNorm), $"ClipGradNorm: maxNorm must be positive, got {maxNorm}");
        var grads = parameters.Select(p => p.Grad).Where(g => g != null && !g.IsDisposed).Select(g => g!).ToList();
        if (grads.Count == 0) return null;
        using var _ = Tape.NoGrad();
        for (int i = 1; i < grads.Count; i++) grads[0].CheckSameDevice(grads[i], "clip_grad_norm");
        var kernels = grads[0].Backend.Require<IOptimizerKernels>("clip_grad_norm");
        // Multi-tensor: a handful of launches for all gradients instead of four per gradient.
        var bufs = grads.Select(g => g.Buf).ToArray();
        Tensor norm;
        using (var partials = Tensor.Empty(new[] { bufs.Length * IOptimizerKernels.SquarePartials },
                   DType.Float32, grads[0].Device))
        {
            kernels.SumOfSquares(bufs, partials.Buf);
            using var total = partials.Sum();
            norm = total.Sqrt();
        }
        using var factor = Tensor.Unary(norm, new ClipFactorOp { MaxNorm = maxNorm }, "clip_grad_norm");
        kernels.Scale(bufs, factor.Buf);
        return norm;
    }
}
