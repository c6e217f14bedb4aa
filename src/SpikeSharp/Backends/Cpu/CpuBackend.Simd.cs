using System.Numerics.Tensors;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Cpu;

// SIMD fast paths for the commonest op structs, through System.Numerics.Tensors' TensorPrimitives (vectorised
// with AVX2/AVX-512 where present). The typeof tests are constants in each generic instantiation, so the JIT
// keeps only the branch that applies; other ops fall back to the scalar loop over the same struct.
public sealed partial class CpuBackend
{
    private static bool TrySimd<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOp
    {
        if (typeof(TOp) == typeof(ExpOp)) { TensorPrimitives.Exp(x, y); return true; }
        if (typeof(TOp) == typeof(LogOp)) { TensorPrimitives.Log(x, y); return true; }
        if (typeof(TOp) == typeof(TanhOp)) { TensorPrimitives.Tanh(x, y); return true; }
        if (typeof(TOp) == typeof(SigmoidOp)) { TensorPrimitives.Sigmoid(x, y); return true; }
        if (typeof(TOp) == typeof(SqrtOp)) { TensorPrimitives.Sqrt(x, y); return true; }
        if (typeof(TOp) == typeof(AbsOp)) { TensorPrimitives.Abs(x, y); return true; }
        if (typeof(TOp) == typeof(ReluOp)) { TensorPrimitives.Max(x, 0f, y); return true; }
        if (typeof(TOp) == typeof(AffineOp))
        {
            var a = (AffineOp)(object)op;
            TensorPrimitives.Multiply(x, a.A, y);
            if (a.B != 0f) TensorPrimitives.Add(y, a.B, y);
            return true;
        }
        return false;
    }

    private static bool TrySimd<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        if (typeof(TOp) == typeof(AddOp)) { TensorPrimitives.Add(a, b, y); return true; }
        if (typeof(TOp) == typeof(SubOp)) { TensorPrimitives.Subtract(a, b, y); return true; }
        if (typeof(TOp) == typeof(MulOp)) { TensorPrimitives.Multiply(a, b, y); return true; }
        if (typeof(TOp) == typeof(DivOp)) { TensorPrimitives.Divide(a, b, y); return true; }
        return false;
    }

    // One row of a broadcasting binary op with input strides 0 (a repeated scalar) or 1 (contiguous).
    private static bool TrySimdBroadcast<TOp>(float[] a, int pa, int sa, float[] b, int pb, int sb, Span<float> y)
        where TOp : struct, IBinaryOp
    {
        int n = y.Length;
        if (sa == 1 && sb == 1) return TrySimd<TOp>(a.AsSpan(pa, n), b.AsSpan(pb, n), y);
        if (sa == 1 && sb == 0)
        {
            var x = a.AsSpan(pa, n); float v = b[pb];
            if (typeof(TOp) == typeof(AddOp)) { TensorPrimitives.Add(x, v, y); return true; }
            if (typeof(TOp) == typeof(SubOp)) { TensorPrimitives.Subtract(x, v, y); return true; }
            if (typeof(TOp) == typeof(MulOp)) { TensorPrimitives.Multiply(x, v, y); return true; }
            if (typeof(TOp) == typeof(DivOp)) { TensorPrimitives.Divide(x, v, y); return true; }
            return false;
        }
        if (sa == 0 && sb == 1)
        {
            var x = b.AsSpan(pb, n); float v = a[pa];
            if (typeof(TOp) == typeof(AddOp)) { TensorPrimitives.Add(x, v, y); return true; }
            if (typeof(TOp) == typeof(SubOp)) { TensorPrimitives.Subtract(v, x, y); return true; }
            if (typeof(TOp) == typeof(MulOp)) { TensorPrimitives.Multiply(x, v, y); return true; }
            if (typeof(TOp) == typeof(DivOp)) { TensorPrimitives.Divide(v, x, y); return true; }
            return false;
        }
        return false;
    }
}
