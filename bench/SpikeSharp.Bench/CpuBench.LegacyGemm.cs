using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Runtime.CompilerServices;

namespace SpikeSharp.Bench;

// The CPU GEMM the bench measures the backend's against.
internal static partial class CpuBench
{
    /// <summary>The CPU backend's GEMM before issue 13 (kept here only to measure against).</summary>
    private static class LegacyGemm
    {
        public static void Gemm(bool transA, bool transB, int m, int n, int k, float[] a, float[] b, float[] c)
        {
            float[] A = a, B = b;
            if (transA) A = Transpose(a, k, m);
            if (transB) B = Transpose(b, n, k);
            GemmNN(m, n, k, A, B, c);
        }

        private static float[] Transpose(float[] src, int rows, int cols)
        {
            var dst = GC.AllocateUninitializedArray<float>(rows * cols);
            Parallel.For(0, (rows + 31) / 32, s =>
            {
                for (int r = s * 32; r < Math.Min(rows, s * 32 + 32); r++)
                    for (int cc = 0; cc < cols; cc++) dst[cc * rows + r] = src[r * cols + cc];
            });
            return dst;
        }

        private static unsafe void GemmNN(int m, int n, int k, float[] A, float[] B, float[] C)
        {
            int groups = (m + 3) / 4;
            Parallel.For(0, groups, g =>
            {
                fixed (float* pa = A, pb = B, pc = C)
                {
                    int i0 = g * 4, rowsHere = Math.Min(4, m - i0);
                    for (int r = 0; r < rowsHere; r++) new Span<float>(pc + (long)(i0 + r) * n, n).Clear();
                    for (int nb = 0; nb < n; nb += 2048)
                    {
                        int nEnd = Math.Min(n, nb + 2048);
                        for (int kb = 0; kb < k; kb += 256)
                        {
                            int kEnd = Math.Min(k, kb + 256);
                            if (rowsHere == 4) Block4(pa, pb, pc, i0, n, k, nb, nEnd, kb, kEnd);
                            else for (int r = 0; r < rowsHere; r++) Block1(pa, pb, pc, i0 + r, n, k, nb, nEnd, kb, kEnd);
                        }
                    }
                }
            });
        }

        private static unsafe void Block4(float* A, float* B, float* C, int i0, int n, int k, int nb, int nEnd, int kb, int kEnd)
        {
            float* c0 = C + (long)i0 * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
            float* a0 = A + (long)i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
            for (int p = kb; p < kEnd; p++)
            {
                float s0 = a0[p], s1 = a1[p], s2 = a2[p], s3 = a3[p];
                float* brow = B + (long)p * n;
                var v0 = Vector256.Create(s0); var v1 = Vector256.Create(s1);
                var v2 = Vector256.Create(s2); var v3 = Vector256.Create(s3);
                int j = nb;
                for (; j + 8 <= nEnd; j += 8)
                {
                    var bv = Vector256.Load(brow + j);
                    Vector256.Store(Fma.MultiplyAdd(v0, bv, Vector256.Load(c0 + j)), c0 + j);
                    Vector256.Store(Fma.MultiplyAdd(v1, bv, Vector256.Load(c1 + j)), c1 + j);
                    Vector256.Store(Fma.MultiplyAdd(v2, bv, Vector256.Load(c2 + j)), c2 + j);
                    Vector256.Store(Fma.MultiplyAdd(v3, bv, Vector256.Load(c3 + j)), c3 + j);
                }
                for (; j < nEnd; j++)
                {
                    float bv = brow[j];
                    c0[j] += s0 * bv; c1[j] += s1 * bv; c2[j] += s2 * bv; c3[j] += s3 * bv;
                }
            }
        }

        private static unsafe void Block1(float* A, float* B, float* C, int i, int n, int k, int nb, int nEnd, int kb, int kEnd)
        {
            float* c0 = C + (long)i * n; float* a0 = A + (long)i * k;
            for (int p = kb; p < kEnd; p++)
            {
                var v0 = Vector256.Create(a0[p]);
                float* brow = B + (long)p * n;
                int j = nb;
                for (; j + 8 <= nEnd; j += 8)
                    Vector256.Store(Fma.MultiplyAdd(v0, Vector256.Load(brow + j), Vector256.Load(c0 + j)), c0 + j);
                for (; j < nEnd; j++) c0[j] += a0[p] * brow[j];
            }
        }
    }
}
