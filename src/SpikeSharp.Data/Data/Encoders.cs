using SpikeSharp.Kernels;

namespace SpikeSharp.Data;

/// <summary>How analog inputs in [0, 1] become spike trains over T steps (time-major output (T, B, ...)).</summary>
public enum EncodingKind
{
    /// <summary>The analog value repeated at every step (the first layer's neurons do the encoding).</summary>
    Direct,
    /// <summary>Bernoulli spikes with probability equal to the value, independently per step (seeded, on the device).</summary>
    Rate,
    /// <summary>One spike per input at step round((1 − x)(T − 1)); brighter fires earlier; x ≤ 0.01 never fires.</summary>
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
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), $"encode: steps (T) must be positive, got {steps}");
        x.CheckFloat("encode");
    }

    /// <summary>x repeated over T steps.</summary>
    public static Tensor Direct(Tensor x, int steps)
    {
        Check(x, steps);
        return x.Unsqueeze(0).ExpandTo(new[] { steps }.Concat(x.Shape).ToArray());
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
        var shape = new[] { steps }.Concat(x.Shape).ToArray();
        using var spikeTime = Tensor.Unary(x, new LatencyTimeOp(steps), "latency");
        using var t = Tensor.Arange(0, steps, 1, x.Device);
        using var tCol = t.Reshape(new[] { steps }.Concat(Enumerable.Repeat(1, x.Rank)).ToArray());
        return Tensor.Binary(tCol, spikeTime.Unsqueeze(0), new CompareOp(0), "latency");
    }
}

/// <summary>Spike step of latency coding: round((1 − x)(T − 1)), or −1 (never) for x ≤ 0.01.</summary>
public struct LatencyTimeOp : IUnaryOp
{
    public float Steps;
    public LatencyTimeOp(int steps) => Steps = steps;
    public readonly float Apply(float x)
    {
        if (!(x > 0.01f)) return -1f;
        float c = x > 1f ? 1f : x;
        return MathF.Floor((1f - c) * (Steps - 1f) + 0.5f);
    }
}
