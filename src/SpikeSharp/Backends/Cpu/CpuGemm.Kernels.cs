using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpikeSharp.Backends.Cpu;

// The register-blocked micro-kernels of CpuGemm (one MR × NR tile of C per call) and the packing helpers they share
// with it: the 8 × 8 transpose and the vector copy.
internal static unsafe partial class CpuGemm
{
    // dst[c · dstStride + r] = src[r · srcStride + c] for an 8 × 8 block (unpack, shuffle, swap 128-bit halves).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride); var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride); var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride); var r7 = Avx.LoadVector256(src + 7 * srcStride);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* src, float* dst, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(src + i), dst + i);
        for (; i + 8 <= count; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    // One MR × NR tile: full tiles store straight from the registers; edge tiles (h < MR or w < NR) go through a
    // small buffer so the kernel never writes outside C.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tier-0 pass: unoptimised vector code is ~10× slower
    private static void Tile(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int h, int w)
    {
        int mr = MR, nr = NR;
        if (h == mr && w == nr)
        {
            Kernel(kc, a, b, c, ldc, alpha, beta);
            return;
        }
        float* tmp = stackalloc float[8 * 32];
        Kernel(kc, a, b, tmp, nr, 1f, 0f);
        for (int i = 0; i < h; i++)
        {
            float* ci = c + (long)i * ldc; float* ti = tmp + i * nr;
            if (beta == 0f) for (int j = 0; j < w; j++) ci[j] = alpha * ti[j];
            else for (int j = 0; j < w; j++) ci[j] = alpha * ti[j] + beta * ci[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        if (Kind == Isa.Avx512) Kernel8x32(kc, a, b, c, ldc, alpha, beta);
        else if (Kind == Isa.Avx2) Kernel6x16(kc, a, b, c, ldc, alpha, beta);
        else Kernel4x4(kc, a, b, c, ldc, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        // The tile's rows of C are touched only at the end; start loading them now.
        for (int i = 0; i < 8; i++) { Sse.Prefetch0(c + (long)i * ldc); Sse.Prefetch0(c + (long)i * ldc + 16); }
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            a += 8; b += 32;
        }
        Store512(c, c00, c01, alpha, beta); Store512(c + ldc, c10, c11, alpha, beta);
        Store512(c + 2 * ldc, c20, c21, alpha, beta); Store512(c + 3 * ldc, c30, c31, alpha, beta);
        Store512(c + 4 * ldc, c40, c41, alpha, beta); Store512(c + 5 * ldc, c50, c51, alpha, beta);
        Store512(c + 6 * ldc, c60, c61, alpha, beta); Store512(c + 7 * ldc, c70, c71, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float alpha, float beta)
    {
        var al = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Vector512.Store(v0 * al, c); Vector512.Store(v1 * al, c + 16);
            return;
        }
        var be = Vector512.Create(beta);
        Vector512.Store(Avx512F.FusedMultiplyAdd(v0, al, Vector512.Load(c) * be), c);
        Vector512.Store(Avx512F.FusedMultiplyAdd(v1, al, Vector512.Load(c + 16) * be), c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6; b += 16;
        }
        Store256(c, c00, c01, alpha, beta); Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + 2 * ldc, c20, c21, alpha, beta); Store256(c + 3 * ldc, c30, c31, alpha, beta);
        Store256(c + 4 * ldc, c40, c41, alpha, beta); Store256(c + 5 * ldc, c50, c51, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, float alpha, float beta)
    {
        var al = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(v0 * al, c); Vector256.Store(v1 * al, c + 8);
            return;
        }
        var be = Vector256.Create(beta);
        Vector256.Store(Fma.MultiplyAdd(v0, al, Vector256.Load(c) * be), c);
        Vector256.Store(Fma.MultiplyAdd(v1, al, Vector256.Load(c + 8) * be), c + 8);
    }

    private static void Kernel4x4(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[16];
        for (int i = 0; i < 16; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++, a += 4, b += 4)
            for (int i = 0; i < 4; i++)
            {
                float ai = a[i];
                for (int j = 0; j < 4; j++) acc[i * 4 + j] += ai * b[j];
            }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                float* ci = c + (long)i * ldc + j;
                *ci = beta == 0f ? alpha * acc[i * 4 + j] : alpha * acc[i * 4 + j] + beta * *ci;
            }
    }
}
