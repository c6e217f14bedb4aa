namespace SpikeSharp;

// Operators belong to the type; each forwards to its op in ElementwiseOps (broadcasting, recorded on the tape).
public sealed partial class Tensor
{
    /// <summary>a + b (broadcasting); see <see cref="ElementwiseOps.Add"/>.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);

    /// <summary>a − b (broadcasting); see <see cref="ElementwiseOps.Sub"/>.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);

    /// <summary>a · b elementwise (broadcasting); see <see cref="ElementwiseOps.Mul"/>.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);

    /// <summary>a / b elementwise (broadcasting); see <see cref="ElementwiseOps.Div"/>.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);

    /// <summary>a + s.</summary>
    public static Tensor operator +(Tensor a, float s) => a.AddScalar(s);

    /// <summary>s + a.</summary>
    public static Tensor operator +(float s, Tensor a) => a.AddScalar(s);

    /// <summary>a − s.</summary>
    public static Tensor operator -(Tensor a, float s) => a.AddScalar(-s);

    /// <summary>s − a.</summary>
    public static Tensor operator -(float s, Tensor a) => a.RSubScalar(s);

    /// <summary>a · s.</summary>
    public static Tensor operator *(Tensor a, float s) => a.MulScalar(s);

    /// <summary>s · a.</summary>
    public static Tensor operator *(float s, Tensor a) => a.MulScalar(s);

    /// <summary>a / s.</summary>
    public static Tensor operator /(Tensor a, float s) => a.DivScalar(s);

    /// <summary>s / a.</summary>
    public static Tensor operator /(float s, Tensor a) => a.RDivScalar(s);

    /// <summary>−a.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
}
