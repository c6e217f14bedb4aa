using SpikeSharp.Autograd;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// Matrix products: 2-D, batched 3-D (with a shared 2-D right operand), optional transposes, and linear.
/// </summary>
public static class MatmulOps
{
    extension(Tensor)
    {
        /// <summary>
        /// op(a) @ op(b) where op transposes the last two dims when asked. a: (m, k) or (B, m, k); b: (k, n), or
        /// (B, k, n). Batched operands must agree on B; a 2-D b is shared across the batch.
        /// </summary>
        public static Tensor Matmul(Tensor a, Tensor b, bool transA = false, bool transB = false)
        {
            a.CheckFloat("matmul"); b.CheckFloat("matmul"); a.CheckSameDevice(b, "matmul");
            if (a.Rank is < 2 or > 3 || b.Rank is < 2 or > 3 || (b.Rank == 3 && a.Rank != 3))
                throw new ArgumentException($"matmul: expected 2-D or 3-D operands ((m,k)@(k,n), (B,m,k)@(B,k,n) or "
                    + $"(B,m,k)@(k,n)), got {ShapeUtil.Format(a.Dims)} and {ShapeUtil.Format(b.Dims)}");
            int batch = a.Rank == 3 ? a.Dims[0] : 1;
            int ar = a.Dims[^2], ac = a.Dims[^1], br = b.Dims[^2], bc = b.Dims[^1];
            int m = transA ? ac : ar, k = transA ? ar : ac, kb = transB ? bc : br, n = transB ? br : bc;
            if (k != kb || (b.Rank == 3 && b.Dims[0] != batch))
                throw new ArgumentException($"matmul: shapes {ShapeUtil.Format(a.Dims)}{(transA ? "ᵀ" : "")} and "
                    + $"{ShapeUtil.Format(b.Dims)}{(transB ? "ᵀ" : "")} do not agree (inner dims {k} vs {kb})");
            var y = Empty(a.Rank == 3 ? new[] { batch, m, n } : new[] { m, n }, DType.Float32, a.Device);
            if (y.Numel == 0) return y;
            if (k == 0) { y.Backend.Fill(y.Buf, 0f); return y; }
            bool ga = a.RequiresGrad, gb = b.RequiresGrad;
            bool folded = a.Rank == 3 && b.Rank == 2 && !transA; // the batch folds into the rows: one 2-D product
            if (batch > 1 && !folded)
            {
                SpikeGemm.Gemm(a.Backend, SpikeGemm.Operand.Of(a), SpikeGemm.Operand.Of(b), transA, transB, m, n, k, 0f,
                    y.Buf, new SpikeGemm.Batch(batch, m * k, b.Rank == 3 ? k * n : 0, m * n));
                return Tape.Record("matmul", y, Saves.Of(ga ? b : null, gb ? a : null), g => new[]
                {
                    ga ? GradA(a, b, g, transA, transB) : null,
                    gb ? MatmulGradB(a, g, transA, transB, b.Rank == 2) : null,
                }, a, b);
            }
            int rows = folded ? batch * m : m;
            // A spike operand whose partner is trained is kept for the backward as its bfloat16 copy (half the bytes,
            // and the float32 tensor can go): the forward's own split converts it, the backward's GEMMs read it as is.
            bool record = Tape.Needs(a, b);
            var a16 = record && gb ? SpikeGemm.Bf16Copy(a) : null;
            var b16 = record && ga ? SpikeGemm.Bf16Copy(b) : null;
            SpikeGemm.Gemm(a.Backend, SpikeGemm.Operand.Of(a, a16), SpikeGemm.Operand.Of(b, b16), transA, transB, rows,
                n, k, 0f, y.Buf, SpikeGemm.Batch.One);
            int[] aShape = a.Dims, bShape = b.Dims;
            Tape.Record("matmul", y, Saves.Of(ga ? b16 ?? b : null, gb ? a16 ?? a : null), g => new[]
            {
                // dA = g @ op(B)ᵀ (or its transpose), dB = op(A)ᵀ @ g (or its transpose); a shared B sums over the
                // batch.
                !ga ? null : b16 == null ? GradA(a, b, g, transA, transB)
                    : !transA ? Product(aShape, g, Of(g), Copy(b16), false, !transB, rows, k, n)
                    : Product(aShape, g, Copy(b16), Of(g), transB, true, k, m, n),
                !gb ? null : a16 == null ? MatmulGradB(a, g, transA, transB, b.Rank == 2)
                    : !transB ? Product(bShape, g, Copy(a16), Of(g), !transA, false, k, n, rows)
                    : Product(bShape, g, Of(g), Copy(a16), true, transA, n, k, rows),
            }, a, b);
            a16?.Release(); b16?.Release(); // freed once the backward has read them (now, without one)
            return y;
        }

        /// <summary>y = x · Wᵀ + b for x (..., in), weight (out, in), bias (out) or null.</summary>
        public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
        {
            if (weight.Rank != 2) throw new ArgumentException($"linear: weight must be (out, in), "
                + $"got {ShapeUtil.Format(weight.Dims)}", nameof(weight));
            if (x.Rank < 1 || x.Dims[^1] != weight.Dims[1])
                throw new ArgumentException($"linear: input {ShapeUtil.Format(x.Dims)} does not end in in_features "
                    + $"= {weight.Dims[1]} of weight {ShapeUtil.Format(weight.Dims)}", nameof(x));
            if (bias != null && (bias.Rank != 1 || bias.Dims[0] != weight.Dims[0]))
                throw new ArgumentException($"linear: bias must be ({weight.Dims[0]}), "
                    + $"got {ShapeUtil.Format(bias.Dims)}", nameof(bias));
            var x2 = x.Rank == 2 ? x : x.Reshape(-1, x.Dims[^1]);
            var y = Matmul(x2, weight, false, true);
            if (!ReferenceEquals(x2, x)) x2.Release();
            if (bias != null) y = Releasing(y, y.Add(bias));
            return x.Rank == 2 ? y : Releasing(y, y.Reshape(x.Dims.Take(x.Rank - 1).Append(weight.Dims[0]).ToArray()));
        }
    }

    extension(Tensor a)
    {
        /// <summary>a @ other (see the static overload for transposes and batches).</summary>
        public Tensor Matmul(Tensor other) => Tensor.Matmul(a, other, false, false);
    }

    private static SpikeGemm.Operand Of(Tensor t) => SpikeGemm.Operand.Of(t);

    private static SpikeGemm.Operand Copy(Tensor bf16) => SpikeGemm.Operand.OfCopy(bf16);

    // A new tensor of `shape` on g's device = op(x)·op(z) as an (m × n) GEMM: a backward product with a kept
    // bfloat16 copy, g (the upstream gradient) being the other operand.
    private static Tensor Product(int[] shape, Tensor g, SpikeGemm.Operand x, SpikeGemm.Operand z, bool tx, bool tz,
        int m, int n, int k)
    {
        var r = Empty(shape, DType.Float32, g.Device);
        SpikeGemm.Gemm(r.Backend, x, z, tx, tz, m, n, k, 0f, r.Buf, SpikeGemm.Batch.One);
        return r;
    }

    // dA = g @ op(B)ᵀ, or (transA) op(B) @ gᵀ; a shared 2-D B cannot be the batched left operand.
    private static Tensor GradA(Tensor a, Tensor b, Tensor g, bool transA, bool transB) =>
        !transA ? Matmul(g, b, false, !transB)
        : b.Rank == 3 || a.Rank == 2 ? Matmul(b, g, transB, true)
        : TransposeLast(Matmul(g, b, false, !transB));

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
            using var g2 = g.ReshapeNoGrad(new[] { -1, g.Dims[2] });
            if (transA)
            {
                using var ap = a.Permute(1, 0, 2);
                using var a2 = ap.ReshapeNoGrad(new[] { a.Dims[1], -1 });
                return transB ? Matmul(g2, a2, true, true) : Matmul(a2, g2, false, false);
            }
            using var a3 = a.ReshapeNoGrad(new[] { -1, a.Dims[2] });
            return transB ? Matmul(g2, a3, true, false) : Matmul(a3, g2, true, false);
        }
        return transB ? Matmul(g, a, true, transA) : Matmul(a, g, !transA, false);
    }
}
