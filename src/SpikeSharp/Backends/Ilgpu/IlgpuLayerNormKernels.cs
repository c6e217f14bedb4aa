using ILGPU;
using SpikeSharp.Kernels;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>Device views and sizes of one layer-norm launch (one struct keeps the kernels' signatures short).
/// </summary>
internal struct LnViews
{
    public ArrayView<float> X, G, Mean, Rstd, Weight, Bias, Scale, Out, PartA, PartB, DW, DB, DS;
    public int Rows, D, P, Chunk, HasWeight, HasBias, HasScale, HasDW, HasDB, HasDS;
    public float InvD, Eps;
}

/// <summary>
/// ILGPU kernels of layer normalisation over x viewed as (Rows, D). The row passes give each row to one warp: its
/// lanes stride over the row (coalesced), the row sums are combined by a shuffle tree and broadcast from lane 0.
/// The column reductions split the rows into P ranges of <see cref="LnViews.Chunk"/> rows, one thread per (range,
/// column) writes a partial, and one thread per column adds the partials in range order: deterministic results
/// fixed by the shape. The math is <see cref="NormMath"/>, as on the CPU.
/// </summary>
internal static class IlgpuLayerNormKernels
{
    /// <summary>y = (x̂·γ + β)·s, the mean and rstd of each row.</summary>
    public static void Forward(LnViews v)
    {
        int lane = Warp.LaneIdx, ws = Warp.WarpSize, d = v.D;
        int warps = Grid.DimX * Group.DimX / ws;
        float sc = v.HasScale != 0 ? v.Scale[0] : 1f;
        for (int row = Grid.GlobalIndex.X / ws; row < v.Rows; row += warps)
        {
            int b = row * d;
            float s = 0f;
            for (int i = lane; i < d; i += ws) s += v.X[b + i];
            float m = AllSum(s) * v.InvD;
            float q = 0f;
            for (int i = lane; i < d; i += ws) { float c = v.X[b + i] - m; q += c * c; }
            float rs = NormMath.Rstd(AllSum(q) * v.InvD, v.Eps);
            if (lane == 0) { v.Mean[row] = m; v.Rstd[row] = rs; }
            for (int i = lane; i < d; i += ws)
                v.Out[b + i] = NormMath.Affine(NormMath.Xhat(v.X[b + i], m, rs), W(v, i), B(v, i)) * sc;
        }
    }

    /// <summary>dx = rstd·(ĝ − x̂·mean(ĝx̂) − mean(ĝ)), ĝ = g·γ·s.</summary>
    public static void BackwardData(LnViews v)
    {
        int lane = Warp.LaneIdx, ws = Warp.WarpSize, d = v.D;
        int warps = Grid.DimX * Group.DimX / ws;
        float sc = v.HasScale != 0 ? v.Scale[0] : 1f;
        for (int row = Grid.GlobalIndex.X / ws; row < v.Rows; row += warps)
        {
            int b = row * d;
            float m = v.Mean[row], rs = v.Rstd[row];
            float sg = 0f, sgx = 0f;
            for (int i = lane; i < d; i += ws)
            {
                float gh = v.G[b + i] * W(v, i) * sc;
                sg += gh;
                sgx += gh * NormMath.Xhat(v.X[b + i], m, rs);
            }
            float mg = AllSum(sg) * v.InvD, mgx = AllSum(sgx) * v.InvD;
            for (int i = lane; i < d; i += ws)
                v.Out[b + i] = NormMath.InputGradient(v.G[b + i] * W(v, i) * sc, NormMath.Xhat(v.X[b + i], m, rs),
                    rs, mg, mgx);
        }
    }

    /// <summary>PartA[p·D + c] = Σ g·x̂ and PartB[p·D + c] = Σ g over the rows of range p, column c.</summary>
    public static void ParamPartials(Index1D item, LnViews v)
    {
        int p = item / v.D, c = item - p * v.D;
        int r0 = p * v.Chunk, r1 = r0 + v.Chunk < v.Rows ? r0 + v.Chunk : v.Rows;
        float a = 0f, b = 0f;
        for (int r = r0; r < r1; r++)
        {
            float g = v.G[r * v.D + c];
            a += g * NormMath.Xhat(v.X[r * v.D + c], v.Mean[r], v.Rstd[r]);
            b += g;
        }
        v.PartA[item] = a;
        v.PartB[item] = b;
    }

    /// <summary>Adds column c's partials in range order: dγ = s·A, dβ = s·B, dsParts = γ·A + β·B.</summary>
    public static void ParamCombine(Index1D c, LnViews v)
    {
        float a = 0f, b = 0f;
        for (int p = 0; p < v.P; p++) { a += v.PartA[p * v.D + c]; b += v.PartB[p * v.D + c]; }
        float sc = v.HasScale != 0 ? v.Scale[0] : 1f;
        if (v.HasDW != 0) v.DW[c] = sc * a;
        if (v.HasDB != 0) v.DB[c] = sc * b;
        if (v.HasDS != 0) v.DS[c] = W(v, c) * a + B(v, c) * b;
    }

    private static float W(LnViews v, int i) => v.HasWeight != 0 ? v.Weight[i] : 1f;

    private static float B(LnViews v, int i) => v.HasBias != 0 ? v.Bias[i] : 0f;

    // The warp's sum, in every lane.
    private static float AllSum(float v) => Warp.Shuffle(IlgpuBackend.WarpReduce(v, new SumOp()), 0);
}
