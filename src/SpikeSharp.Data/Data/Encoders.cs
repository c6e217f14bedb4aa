using SpikeSharp.Autograd;

namespace SpikeSharp.Data;

/// <summary>How analog inputs in [0, 1] become spike trains over T steps (time-major output (T, B, ...)).</summary>
public enum EncodingKind
{
    /// <summary>The analog value repeated at every step (the first layer's neurons do the encoding).</summary>
    Direct,
    /// <summary>Bernoulli spikes with probability equal to the value, independently per step (seeded, on the
    /// device).</summary>
    Rate,
    /// <summary>One spike per input at step round((1 − x)(T − 1)); brighter fires earlier; x ≤ 0.01 never fires.
    /// </summary>
    Latency,
}

/// <summary>Spike encoders. All run on the input's device with no host synchronisation.</summary>
public static class Encoders
{
    /// <summary>Encodes x (B, ...) into (T, B, ...).</summary>
    public static Tensor Encode(Tensor x, int steps, EncodingKind kind, Generator? gen = null) => kind switch
    {
        EncodingKind.Direct => Direct(x, steps),
        EncodingKind.Rate => Rate(x, steps, gen),
        EncodingKind.Latency => Latency(x, steps),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown encoding"),
    };

    private static void Check(Tensor x, int steps)
    {
        if (steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(steps), $"encode: steps (T) must be positive, got {steps}");
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32)
            throw new ArgumentException($"encode: expected a float32 tensor, got {x.DType.Name()} " +
                $"{ShapeUtil.Format(x.Shape)}; convert with To(DType.Float32)", nameof(x));
    }

    /// <summary>x repeated over T steps.</summary>
    public static Tensor Direct(Tensor x, int steps)
    {
        Check(x, steps);
        // x · 1 is exact (signed zeros and NaNs included): a broadcast copy, not recorded for autograd.
        using var _ = Tape.NoGrad();
        using var ones = Tensor.Ones(new[] { steps }.Concat(Enumerable.Repeat(1, x.Rank)).ToArray(), x.Device);
        return ones.Mul(x.Unsqueeze(0));
    }

    /// <summary>Bernoulli(x) independently at each step.</summary>
    public static Tensor Rate(Tensor x, int steps, Generator? gen = null)
    {
        Check(x, steps);
        using var p = Direct(x, steps);
        return Tensor.Bernoulli(p, gen);
    }

    /// <summary>Time-to-first-spike coding, one spike at step round((1 − x)(T − 1)) for x &gt; 0.01.</summary>
    public static Tensor Latency(Tensor x, int steps)
    {
        Check(x, steps);
        using var scope = TensorScope.Begin();
        using var _ = Tape.NoGrad();
        // w = (1 − min(x, 1))(T − 1) + 0.5 in float32, step by step; the spike step is floor(w), i.e. the t with
        // t ≤ w < t + 1 (exact for whole t), and there is none where x ≤ 0.01 (or NaN).
        var w = x.Clamp(float.NegativeInfinity, 1f).MulScalar(-1f).AddScalar(1f).MulScalar(steps - 1f)
            .AddScalar(0.5f).Unsqueeze(0);
        var t = Tensor.Arange(0, steps, 1, x.Device).Reshape(
            new[] { steps }.Concat(Enumerable.Repeat(1, x.Rank)).ToArray());
        var fires = t.Le(w).Mul(w.Lt(t.AddScalar(1f))).Mul(x.Gt(0.01f).Unsqueeze(0));
        return fires.MoveToOuterScope();
    }
}
