using SpikeSharp.Autograd;

namespace SpikeSharp;

// Matrix products: 2-D, batched 3-D (with a shared 2-D right operand), optional transposes, and linear.
public sealed partial class Tensor
{
    /// <summary>
    /// op(a) @ op(b) where op transposes the last two dims when asked. a: (m, k) or (B, m, k); b: (k, n), or
    /// (B, k, n). Batched operands must agree on B; a 2-D b is shared across the batch.
    /// </summary>
    public static Tensor Matmul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        a.CheckFloat("matmul"); b.CheckFloat("matmul"); a.CheckSameDevice(b, "matmul");
        if (a.Rank is < 2 or > 3 || b.Rank is < 2 or > 3 || (b.Rank == 3 && a.Rank != 3))
            throw new ArgumentException($"matmul: expected 2-D or 3-D operands ((m,k)@(k,n), (B,m,k)@(B,k,n) or (B,m,k)@(k,n)), got {ShapeUtil.Format(a._shape)} and {ShapeUtil.Format(b._shape)}");
        int batch = a.Rank == 3 ? a._shape[0] : 1;
        int ar = a._shape[^2], ac = a._shape[^1], br = b._shape[^2], bc = b._shape[^1];
        int m = transA ? ac : ar, k = transA ? ar : ac, kb = transB ? bc : br, n = transB ? br : bc;
        if (k != kb || (b.Rank == 3 && b._shape[0] != batch))
            throw new ArgumentException($"matmul: shapes {ShapeUtil.Format(a._shape)}{(transA ? "ᵀ" : "")} and {ShapeUtil.Format(b._shape)}{(transB ? "ᵀ" : "")} do not agree (inner dims {k} vs {kb})");
        var y = Empty(a.Rank == 3 ? new[] { batch, m, n } : new[] { m, n }, DType.Float32, a.Device);
        if (y.Numel == 0) return y;
        if (k == 0) { y.Backend.Fill(y.Buf, 0f); return y; }
        if (a.Rank == 3 && b.Rank == 2 && !transA)
            SpikeGemm.Gemm(a, b, false, transB, batch * m, n, k, 0f, y.Buf); // fold the batch into rows
        else if (batch == 1)
            SpikeGemm.Gemm(a, b, transA, transB, m, n, k, 0f, y.Buf); // exact bfloat16 GEMMs for spikes, or float32
        else
            a.Backend.Gemm(transA, transB, m, n, k, 1f, a.Buf, b.Buf, 0f, y.Buf, batch, m * k, b.Rank == 3 ? k * n : 0, m * n);
        bool ga = a.RequiresGrad, gb = b.RequiresGrad;
        return Tape.Record("matmul", y, Saves.Of(ga ? b : null, gb ? a : null), g => new[]
        {
            // dA = g @ op(B)ᵀ (or its transpose), dB = op(A)ᵀ @ g (or its transpose); a shared B sums over the batch.
            ga ? (!transA ? Matmul(g, b, false, !transB)
                : b.Rank == 3 || a.Rank == 2 ? Matmul(b, g, transB, true)
                : TransposeLast(Matmul(g, b, false, !transB))) : null, // a shared b cannot be the batched left operand
            gb ? MatmulGradB(a, g, transA, transB, b.Rank == 2) : null,
        }, a, b);
    }

    // (B, m, k) → (B, k, m), consuming the input.
    private static Tensor TransposeLast(Tensor t)
    {
        using (t) return t.Transpose(1, 2);
    }

    private static Tensor MatmulGradB(Tensor a, Tensor g, bool transA, bool transB, bool shared)
    {
        if (shared && a.Rank == 3)
        {
            // Shared weight: Σ_b op(A_b)ᵀ g_b as one GEMM with the batch folded into the inner dimension.
            // g: (B, m, n) → (B·m, n); a: (B, m, k) → (B·m, k), or stored (B, k, m) → (k, B·m) when transA.
            using var g2 = g.ReshapeNoGrad(new[] { -1, g._shape[2] });
            if (transA)
            {
                using var ap = a.Permute(1, 0, 2);
                using var a2 = ap.ReshapeNoGrad(new[] { a._shape[1], -1 });
                return transB ? Matmul(g2, a2, true, true) : Matmul(a2, g2, false, false);
            }
            using var a3 = a.ReshapeNoGrad(new[] { -1, a._shape[2] });
            return transB ? Matmul(g2, a3, true, false) : Matmul(a3, g2, true, false);
        }
        return transB ? Matmul(g, a, true, transA) : Matmul(a, g, !transA, false);
    }

    // Returns `result`, releasing the intermediate it was computed from (freed unless a backward rule kept it).
    internal static Tensor Releasing(Tensor intermediate, Tensor result)
    {
        if (!ReferenceEquals(intermediate, result)) intermediate.Release();
        return result;
    }

    /// <summary>this @ other.</summary>
    public Tensor Matmul(Tensor other) => Matmul(this, other);

    /// <summary>y = x · Wᵀ + b for x (..., in), weight (out, in), bias (out) or null.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Rank != 2) throw new ArgumentException($"linear: weight must be (out, in), got {ShapeUtil.Format(weight._shape)}", nameof(weight));
        if (x.Rank < 1 || x._shape[^1] != weight._shape[1])
            throw new ArgumentException($"linear: input {ShapeUtil.Format(x._shape)} does not end in in_features = {weight._shape[1]} of weight {ShapeUtil.Format(weight._shape)}", nameof(x));
        if (bias != null && (bias.Rank != 1 || bias._shape[0] != weight._shape[0]))
            throw new ArgumentException($"linear: bias must be ({weight._shape[0]}), got {ShapeUtil.Format(bias._shape)}", nameof(bias));
        var x2 = x.Rank == 2 ? x : x.Reshape(-1, x._shape[^1]);
        var y = Matmul(x2, weight, false, true);
        if (!ReferenceEquals(x2, x)) x2.Release();
        if (bias != null) y = Releasing(y, y.Add(bias));
        return x.Rank == 2 ? y : Releasing(y, y.Reshape(x._shape.Take(x.Rank - 1).Append(weight._shape[0]).ToArray()));
    }
}
