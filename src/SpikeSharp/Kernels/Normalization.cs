namespace SpikeSharp.Kernels;

// Math of softmax, losses, statistics and validation: written once, driven by every backend.

/// <summary>y = x².</summary>
public struct SquareOp : IUnaryOp { public readonly float Apply(float x) => x * x; }

/// <summary>Backward of x²: 2·x·g.</summary>
public struct SquareGradOp : IBinaryOp { public readonly float Apply(float x, float g) => 2f * x * g; }

/// <summary>y = e^(a − b): the shifted exponential of softmax and log-sum-exp.</summary>
public struct ExpSubOp : IBinaryOp { public readonly float Apply(float a, float b) => MathF.Exp(a - b); }

/// <summary>
/// Replaces ±inf by 0 (NaN stays NaN). A row maximum of −inf (all entries −inf) would make x − max NaN; shifting
/// by 0 instead keeps log-sum-exp at −inf as it should be.
/// </summary>
public struct FiniteOrZeroOp : IUnaryOp
{
    public readonly float Apply(float x) => x - x == 0f ? x : (x > 0f || x < 0f ? 0f : x);
}

/// <summary>1 when x is finite, 0 for NaN and ±inf (x − x is 0 only for finite x).</summary>
public struct IsFiniteOp : IUnaryOp { public readonly float Apply(float x) => x - x == 0f ? 1f : 0f; }
