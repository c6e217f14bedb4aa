using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpikeSharp.Backends.Cpu;

public sealed partial class CpuBackend
{
    // Blocked GEMM: C rows are split across threads in groups of four; for each k-block, each group
    // streams rows of B once and updates four C rows with vector FMAs, so B is read a quarter as often.
    private const int KBlock = 256;
    private const int NBlock = 2048;

    /// <inheritdoc/>
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        a.F(); b.F(); c.F();
        var aArr = a.Array<float>(); var bArr = b.Array<float>(); var cArr = c.Array<float>();
        for (int bi = 0; bi < batch; bi++)
        {
            int ao = a.Offset + bi * strideA, bo = b.Offset + bi * strideB, co = c.Offset + bi * strideC;
            float[] A = aArr, B = bArr; int aOff = ao, bOff = bo;
            if (transA) { A = Transpose(aArr, ao, k, m); aOff = 0; }
            if (transB) { B = Transpose(bArr, bo, n, k); bOff = 0; }
            GemmNN(m, n, k, alpha, A, aOff, B, bOff, beta, cArr, co);
        }
    }

    // src (rows × cols) → (cols × rows)
    private static float[] Transpose(float[] src, int off, int rows, int cols)
    {
        var dst = GC.AllocateUninitializedArray<float>(rows * cols);
        const int T = 32;
        For((rows + T - 1) / T, (s, e) =>
        {
            for (int rb = s * T; rb < Math.Min(rows, e * T); rb += T)
                for (int cb = 0; cb < cols; cb += T)
                    for (int r = rb; r < Math.Min(rows, rb + T); r++)
                        for (int cc = cb; cc < Math.Min(cols, cb + T); cc++)
                            dst[cc * rows + r] = src[off + r * cols + cc];
        }, 1);
        return dst;
    }

    private static unsafe void GemmNN(int m, int n, int k, float alpha, float[] A, int ao, float[] B, int bo,
        float beta, float[] C, int co)
    {
        int groups = (m + 3) / 4;
        long work = (long)m * n * k;
        int grain = work < (1 << 18) ? groups : Math.Max(1, groups / (Environment.ProcessorCount * 4));
        For(groups, (gs, ge) =>
        {
            fixed (float* pa = A, pb = B, pc = C)
            {
                for (int g = gs; g < ge; g++)
                {
                    int i0 = g * 4, rowsHere = Math.Min(4, m - i0);
                    for (int r = 0; r < rowsHere; r++)
                    {
                        float* crow = pc + co + (long)(i0 + r) * n;
                        if (beta == 0f) new Span<float>(crow, n).Clear();
                        else if (beta != 1f) for (int j = 0; j < n; j++) crow[j] *= beta;
                    }
                    for (int nb = 0; nb < n; nb += NBlock)
                    {
                        int nEnd = Math.Min(n, nb + NBlock);
                        for (int kb = 0; kb < k; kb += KBlock)
                        {
                            int kEnd = Math.Min(k, kb + KBlock);
                            if (rowsHere == 4) Block4(pa + ao, pb + bo, pc + co, i0, n, k, nb, nEnd, kb, kEnd, alpha);
                            else
                                for (int r = 0; r < rowsHere; r++) Block1(pa + ao, pb + bo, pc + co, i0 + r, n, k, nb, nEnd, kb, kEnd, alpha);
                        }
                    }
                }
            }
        }, grain);
    }

    private static unsafe void Block4(float* A, float* B, float* C, int i0, int n, int k, int nb, int nEnd, int kb, int kEnd, float alpha)
    {
        float* c0 = C + (long)i0 * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
        float* a0 = A + (long)i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        int vw = Vector256<float>.Count;
        for (int p = kb; p < kEnd; p++)
        {
            float s0 = alpha * a0[p], s1 = alpha * a1[p], s2 = alpha * a2[p], s3 = alpha * a3[p];
            float* brow = B + (long)p * n;
            int j = nb;
            if (Vector256.IsHardwareAccelerated)
            {
                var v0 = Vector256.Create(s0); var v1 = Vector256.Create(s1);
                var v2 = Vector256.Create(s2); var v3 = Vector256.Create(s3);
                for (; j + vw <= nEnd; j += vw)
                {
                    var bv = Vector256.Load(brow + j);
                    Vector256.Store(MulAdd(v0, bv, Vector256.Load(c0 + j)), c0 + j);
                    Vector256.Store(MulAdd(v1, bv, Vector256.Load(c1 + j)), c1 + j);
                    Vector256.Store(MulAdd(v2, bv, Vector256.Load(c2 + j)), c2 + j);
                    Vector256.Store(MulAdd(v3, bv, Vector256.Load(c3 + j)), c3 + j);
                }
            }
            for (; j < nEnd; j++)
            {
                float bv = brow[j];
                c0[j] += s0 * bv; c1[j] += s1 * bv; c2[j] += s2 * bv; c3[j] += s3 * bv;
            }
        }
    }

    private static unsafe void Block1(float* A, float* B, float* C, int i, int n, int k, int nb, int nEnd, int kb, int kEnd, float alpha)
    {
        float* c0 = C + (long)i * n; float* a0 = A + (long)i * k;
        int vw = Vector256<float>.Count;
        for (int p = kb; p < kEnd; p++)
        {
            float s0 = alpha * a0[p];
            float* brow = B + (long)p * n;
            int j = nb;
            if (Vector256.IsHardwareAccelerated)
            {
                var v0 = Vector256.Create(s0);
                for (; j + vw <= nEnd; j += vw)
                    Vector256.Store(MulAdd(v0, Vector256.Load(brow + j), Vector256.Load(c0 + j)), c0 + j);
            }
            for (; j < nEnd; j++) c0[j] += s0 * brow[j];
        }
    }

    private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        System.Runtime.Intrinsics.X86.Fma.IsSupported ? System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a, b, c) : a * b + c;
}
