namespace SpikeSharp.Kernels;

// Elementwise math, written once for every backend. Grad ops take (input or output, upstream gradient).

public struct AddOp : IBinaryOp { public readonly float Apply(float a, float b) => a + b; }
public struct SubOp : IBinaryOp { public readonly float Apply(float a, float b) => a - b; }
public struct MulOp : IBinaryOp { public readonly float Apply(float a, float b) => a * b; }
public struct DivOp : IBinaryOp { public readonly float Apply(float a, float b) => a / b; }
public struct MaxOp2 : IBinaryOp { public readonly float Apply(float a, float b) => a > b ? a : b; }
public struct MinOp2 : IBinaryOp { public readonly float Apply(float a, float b) => a < b ? a : b; }

/// <summary>y = a·x + b (scalar affine: add, scale, subtract, negate).</summary>
public struct AffineOp : IUnaryOp
{
    public float A, B;
    public AffineOp(float a, float b) { A = a; B = b; }
    public readonly float Apply(float x) => A * x + B;
}

/// <summary>y = s / x.</summary>
public struct RDivOp : IUnaryOp
{
    public float S;
    public RDivOp(float s) => S = s;
    public readonly float Apply(float x) => S / x;
}

public struct ExpOp : IUnaryOp { public readonly float Apply(float x) => MathF.Exp(x); }
public struct LogOp : IUnaryOp { public readonly float Apply(float x) => MathF.Log(x); }
public struct SqrtOp : IUnaryOp { public readonly float Apply(float x) => MathF.Sqrt(x); }
public struct AbsOp : IUnaryOp { public readonly float Apply(float x) => MathF.Abs(x); }
public struct SignOp : IUnaryOp { public readonly float Apply(float x) => x > 0f ? 1f : (x < 0f ? -1f : 0f); }
public struct ReluOp : IUnaryOp { public readonly float Apply(float x) => x > 0f ? x : 0f; }
public struct SigmoidOp : IUnaryOp { public readonly float Apply(float x) => 1f / (1f + MathF.Exp(-x)); }
public struct TanhOp : IUnaryOp { public readonly float Apply(float x) => MathF.Tanh(x); }

/// <summary>y = x^p for a scalar exponent.</summary>
public struct PowOp : IUnaryOp
{
    public float P;
    public PowOp(float p) => P = p;
    public readonly float Apply(float x) => MathF.Pow(x, P);
}

/// <summary>y = min(max(x, lo), hi).</summary>
public struct ClampOp : IUnaryOp
{
    public float Lo, Hi;
    public ClampOp(float lo, float hi) { Lo = lo; Hi = hi; }
    public readonly float Apply(float x) => x < Lo ? Lo : (x > Hi ? Hi : x);
}

/// <summary>Comparison producing 1 or 0.</summary>
public struct CompareOp : IBinaryOp
{
    public int Kind; // 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=
    public CompareOp(int kind) => Kind = kind;
    public readonly float Apply(float a, float b) => Kind switch
    {
        0 => a == b ? 1f : 0f,
        1 => a != b ? 1f : 0f,
        2 => a < b ? 1f : 0f,
        3 => a <= b ? 1f : 0f,
        4 => a > b ? 1f : 0f,
        _ => a >= b ? 1f : 0f,
    };
}

/// <summary>where(c, a, b) with c nonzero meaning true.</summary>
public struct WhereOp : ITernaryOp { public readonly float Apply(float c, float a, float b) => c != 0f ? a : b; }

/// <summary>Backward of relu: g where x &gt; 0.</summary>
public struct ReluGradOp : IBinaryOp { public readonly float Apply(float x, float g) => x > 0f ? g : 0f; }
/// <summary>Backward of sigmoid from its output y: g·y(1−y).</summary>
public struct SigmoidGradOp : IBinaryOp { public readonly float Apply(float y, float g) => g * y * (1f - y); }
/// <summary>Backward of tanh from its output y: g(1−y²).</summary>
public struct TanhGradOp : IBinaryOp { public readonly float Apply(float y, float g) => g * (1f - y * y); }
/// <summary>Backward of x^p: g·p·x^(p−1).</summary>
public struct PowGradOp : IBinaryOp
{
    public float P;
    public PowGradOp(float p) => P = p;
    public readonly float Apply(float x, float g) => g * P * MathF.Pow(x, P - 1f);
}
/// <summary>Backward of clamp: g inside [lo, hi].</summary>
public struct ClampGradOp : IBinaryOp
{
    public float Lo, Hi;
    public ClampGradOp(float lo, float hi) { Lo = lo; Hi = hi; }
    public readonly float Apply(float x, float g) => x >= Lo && x <= Hi ? g : 0f;
}
/// <summary>Backward of a/b with respect to b: −g·a/b².</summary>
public struct DivGradBOp : ITernaryOp { public readonly float Apply(float a, float b, float g) => -g * a / (b * b); }

public struct SumOp : IReduceOp
{
    public readonly float Identity() => 0f;
    public readonly float Combine(float a, float b) => a + b;
}

public struct MaxOp : IReduceOp
{
    public readonly float Identity() => float.NegativeInfinity;
    public readonly float Combine(float a, float b) => a > b ? a : b;
}

public struct MinOp : IReduceOp
{
    public readonly float Identity() => float.PositiveInfinity;
    public readonly float Combine(float a, float b) => a < b ? a : b;
}
