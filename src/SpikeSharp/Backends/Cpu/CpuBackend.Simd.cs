using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
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

    private static bool TrySimd<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
        where TOp : struct, IBinaryOp
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

    // The optimiser updates, vectorised with the scalar op's exact operation order (separate multiply and add, no
    // fused multiply-add; IEEE square root and division), so the results are bitwise those of the scalar loop.
    private static bool TrySimd<TOp>(TOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c,
        Span<float> y) where TOp : struct, ITernaryOp
    {
        if (!Vector.IsHardwareAccelerated) return false;
        if (typeof(TOp) == typeof(AdamFirstMomentOp))
        {
            var o = (AdamFirstMomentOp)(object)op;
            float beta = o.Beta1, rest = 1f - o.Beta1, wd = o.WeightDecay;
            int i = Lanes3(a, b, c, y, out var va, out var vb, out var vc, out var vy);
            for (int j = 0; j < vy.Length; j++)
                vy[j] = new Vector<float>(beta) * va[j]
                    + new Vector<float>(rest) * (vb[j] + new Vector<float>(wd) * vc[j]);
            for (; i < y.Length; i++) y[i] = op.Apply(a[i], b[i], c[i]);
            return true;
        }
        if (typeof(TOp) == typeof(AdamSecondMomentOp))
        {
            var o = (AdamSecondMomentOp)(object)op;
            float beta = o.Beta2, rest = 1f - o.Beta2, wd = o.WeightDecay;
            int i = Lanes3(a, b, c, y, out var va, out var vb, out var vc, out var vy);
            for (int j = 0; j < vy.Length; j++)
            {
                var d = vb[j] + new Vector<float>(wd) * vc[j];
                vy[j] = new Vector<float>(beta) * va[j] + new Vector<float>(rest) * d * d;
            }
            for (; i < y.Length; i++) y[i] = op.Apply(a[i], b[i], c[i]);
            return true;
        }
        if (typeof(TOp) == typeof(AdamStepOp))
        {
            var o = (AdamStepOp)(object)op;
            float keep = 1f - o.Lr * o.DecoupledDecay;
            int i = Lanes3(a, b, c, y, out var va, out var vb, out var vc, out var vy);
            for (int j = 0; j < vy.Length; j++)
                vy[j] = va[j] * new Vector<float>(keep)
                    - new Vector<float>(o.Lr) * (vb[j] / new Vector<float>(o.Correction1))
                        / (Vector.SquareRoot(vc[j] / new Vector<float>(o.Correction2)) + new Vector<float>(o.Eps));
            for (; i < y.Length; i++) y[i] = op.Apply(a[i], b[i], c[i]);
            return true;
        }
        return false;
    }

    // Whole vectors of the four spans; returns the first element the vectors do not cover.
    private static int Lanes3(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y,
        out ReadOnlySpan<Vector<float>> va, out ReadOnlySpan<Vector<float>> vb, out ReadOnlySpan<Vector<float>> vc,
        out Span<Vector<float>> vy)
    {
        int whole = y.Length / Vector<float>.Count * Vector<float>.Count;
        va = MemoryMarshal.Cast<float, Vector<float>>(a[..whole]);
        vb = MemoryMarshal.Cast<float, Vector<float>>(b[..whole]);
        vc = MemoryMarshal.Cast<float, Vector<float>>(c[..whole]);
        vy = MemoryMarshal.Cast<float, Vector<float>>(y[..whole]);
        return whole;
    }
}
