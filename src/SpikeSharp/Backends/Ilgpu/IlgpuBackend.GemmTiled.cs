using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

// The fallback GEMM: (4·S)×(4·S) output tiles per group of S×S threads (S = 16 on GPUs, 8 on the
// emulation), 16-deep slices of A and B staged in shared memory, each thread accumulating a 4×4
// block in registers. Edges are zero-padded on load and masked on store, so any m, n, k work.
public sealed partial class IlgpuBackend
{
    private const int TileK = 16, MaxTile = 64;

    /// <summary>Shape, transposes, scalars and batch strides of one tiled GEMM launch.</summary>
    internal struct GemmArgs
    {
        public int M, N, K, TransA, TransB, StrideA, StrideB, StrideC, Side;
        public float Alpha, Beta;
    }

    /// <summary>
    /// The ILGPU tiled GEMM (same contract as <see cref="Gemm"/>), also on CUDA when cuBLAS is present.
    /// </summary>
    internal void GemmTiled(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch, int strideA, int strideB, int strideC)
    {
        int side = Accelerator.MaxNumThreadsPerGroup >= 256 ? 16 : 8, tile = 4 * side;
        var args = new GemmArgs
        {
            M = m, N = n, K = k, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            StrideA = strideA, StrideB = strideB, StrideC = strideC, Alpha = alpha, Beta = beta, Side = side,
        };
        var kern = Kernel("gemm_tiled", acc =>
            acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmTiledKernel));
        var grid = new Index3D((n + tile - 1) / tile, (m + tile - 1) / tile, batch);
        kern(Stream, new KernelConfig(grid, new Index3D(side * side, 1, 1)),
            View<float>(a), View<float>(b), View<float>(c), args);
    }

    private static void GemmTiledKernel(ArrayView<float> A, ArrayView<float> B, ArrayView<float> C, GemmArgs p)
    {
        var As = SharedMemory.Allocate<float>(TileK * MaxTile); // [kk][mm]
        var Bs = SharedMemory.Allocate<float>(TileK * MaxTile); // [kk][nn]
        int S = p.Side, T = 4 * S, threads = S * S;
        int tid = Group.IdxX, tx = tid % S, ty = tid / S;
        int n0 = Grid.IdxX * T, m0 = Grid.IdxY * T, bz = Grid.IdxZ;
        int ab = bz * p.StrideA, bb = bz * p.StrideB, cb = bz * p.StrideC;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k0 = 0; k0 < p.K; k0 += TileK)
        {
            for (int idx = tid; idx < TileK * T; idx += threads)
            {
                // Adjacent threads read adjacent addresses in either storage order.
                int mm, kk;
                if (p.TransA == 0) { mm = idx / TileK; kk = idx % TileK; } else { mm = idx % T; kk = idx / T; }
                int gm = m0 + mm, gk = k0 + kk;
                float v = 0f;
                if (gm < p.M && gk < p.K) v = p.TransA == 0 ? A[ab + gm * p.K + gk] : A[ab + gk * p.M + gm];
                As[kk * T + mm] = v;
                int nn;
                if (p.TransB == 0) { nn = idx % T; kk = idx / T; } else { nn = idx / TileK; kk = idx % TileK; }
                int gn = n0 + nn; gk = k0 + kk;
                float w = 0f;
                if (gn < p.N && gk < p.K) w = p.TransB == 0 ? B[bb + gk * p.N + gn] : B[bb + gn * p.K + gk];
                Bs[kk * T + nn] = w;
            }
            Group.Barrier();
            for (int kk = 0; kk < TileK; kk++)
            {
                int ka = kk * T + ty, kb = kk * T + tx;
                float a0 = As[ka], a1 = As[ka + S], a2 = As[ka + 2 * S], a3 = As[ka + 3 * S];
                float b0 = Bs[kb], b1 = Bs[kb + S], b2 = Bs[kb + 2 * S], b3 = Bs[kb + 3 * S];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        int r0 = m0 + ty, r1 = r0 + S, r2 = r1 + S, r3 = r2 + S;
        int q0 = n0 + tx, q1 = q0 + S, q2 = q1 + S, q3 = q2 + S;
        Store(C, p, cb, r0, q0, c00); Store(C, p, cb, r0, q1, c01);
        Store(C, p, cb, r0, q2, c02); Store(C, p, cb, r0, q3, c03);
        Store(C, p, cb, r1, q0, c10); Store(C, p, cb, r1, q1, c11);
        Store(C, p, cb, r1, q2, c12); Store(C, p, cb, r1, q3, c13);
        Store(C, p, cb, r2, q0, c20); Store(C, p, cb, r2, q1, c21);
        Store(C, p, cb, r2, q2, c22); Store(C, p, cb, r2, q3, c23);
        Store(C, p, cb, r3, q0, c30); Store(C, p, cb, r3, q1, c31);
        Store(C, p, cb, r3, q2, c32); Store(C, p, cb, r3, q3, c33);
    }

    // beta == 0 ignores C entirely (it may hold NaN garbage), as BLAS does.
    private static void Store(ArrayView<float> C, GemmArgs p, int cb, int row, int col, float acc)
    {
        if (row >= p.M || col >= p.N) return;
        int o = cb + row * p.N + col;
        C[o] = p.Beta == 0f ? p.Alpha * acc : p.Alpha * acc + p.Beta * C[o];
    }
}
