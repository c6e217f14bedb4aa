using SpikeSharp.Kernels;

namespace SpikeSharp.Backends;

/// <summary>
/// The small contract every backend implements: memory, copies and a few kernel families whose
/// math is passed in as a struct (see <see cref="IUnaryOp"/> and friends). All buffers are
/// contiguous; all float kernels take float32 buffers. Launches are asynchronous on GPU backends;
/// only <see cref="Download{T}"/> synchronises. Feature kernels (fused neurons, causal accumulation…)
/// are separate classes the backend registers in one place and hands out through
/// <see cref="Family{TFamily}"/> (docs/adding-a-backend.md).
/// </summary>
public interface IBackend
{
    /// <summary>The device this backend drives.</summary>
    Device Device { get; }

    /// <summary>Uninitialised storage of <paramref name="length"/> elements.</summary>
    Storage Allocate(DType dtype, int length);

    /// <summary>Host → device copy into <paramref name="dst"/> (lengths must match).</summary>
    void Upload<T>(ReadOnlySpan<T> src, Buf dst) where T : unmanaged;

    /// <summary>The backend's implementation of the kernel family <typeparamref name="TFamily"/> (a contract such as
    /// the fused neuron driver), or null when it has none. Callers use
    /// <see cref="KernelFamilyExtensions.Require{TFamily}"/>, which turns null into a clear error.</summary>
    TFamily? Family<TFamily>() where TFamily : class;

    /// <summary>Device → host copy; waits for pending work and reports asynchronous kernel errors (those of the
    /// primitives and those of every registered family that implements <see cref="IDeviceErrorCheck"/>).</summary>
    void Download<T>(Buf src, Span<T> dst) where T : unmanaged;

    /// <summary>Device-side copy of equal-length windows of the same dtype.</summary>
    void Copy(Buf src, Buf dst);

    /// <summary>Fills with a value (converted to the dtype).</summary>
    void Fill(Buf dst, float value);

    /// <summary>
    /// Converts between dtypes (float32 ↔ float16, float32 ↔ int32 truncating, uint8 → float32).
    /// </summary>
    void Cast(Buf src, Buf dst);

    /// <summary>y[i] = op(x[i]). y may alias x.</summary>
    void Map<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IUnaryOp;

    /// <summary>y[i] = op(a[i], b[i]). y may alias a or b.</summary>
    void Map<TOp>(TOp op, Buf a, Buf b, Buf y) where TOp : struct, IBinaryOp;

    /// <summary>y[i] = op(a[i], b[i], c[i]). y may alias an input.</summary>
    void Map<TOp>(TOp op, Buf a, Buf b, Buf c, Buf y) where TOp : struct, ITernaryOp;

    /// <summary>y[i] = op(i, x[i]).</summary>
    void MapIndexed<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IIndexedOp;

    /// <summary>y[i] = op(a[ia.Offset(i)], b[ib.Offset(i)]): broadcasting binary op.</summary>
    void MapBroadcast<TOp>(TOp op, Buf a, StridedIndex ia, Buf b, StridedIndex ib, Buf y) where TOp : struct, IBinaryOp;

    /// <summary>y[i] = x[ix.Offset(i)] for any dtype: permutes, expands and strided slices.</summary>
    void Gather(Buf x, StridedIndex ix, Buf y);

    /// <summary>
    /// y[iy.Offset(i)] = x[i] for any dtype: the adjoint placement of <see cref="Gather"/> (cat, narrow backward).
    /// Targets must be distinct.
    /// </summary>
    void Scatter(Buf x, Buf y, StridedIndex iy);

    /// <summary>
    /// y[iy.Offset(i)] += x[i] (float32). Targets must be distinct within one call
    /// (col2im runs one call per kernel tap).
    /// </summary>
    void ScatterAdd(Buf x, Buf y, StridedIndex iy);

    /// <summary>x viewed as (outer, r, inner): y[o, i] = reduce over j of x[o, j, i].</summary>
    void Reduce<TOp>(TOp op, Buf x, Buf y, int outer, int r, int inner) where TOp : struct, IReduceOp;

    /// <summary>x viewed as (outer, r, inner): y[o, i] = argmax over j (first maximum), int32 output.</summary>
    void ArgMax(Buf x, Buf y, int outer, int r, int inner);

    /// <summary>
    /// Row-major batched GEMM: C_b = alpha · op(A_b) · op(B_b) + beta · C_b with op(A) (m × k), op(B) (k × n),
    /// A stored (m × k) or, when <paramref name="transA"/>, (k × m); likewise B.
    /// Batch strides in elements (0 = shared).
    /// </summary>
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
        int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0);

    /// <summary>
    /// x viewed as (outer, r, inner), idx int32 (count): y[o, j, i] = x[o, idx[j], i]. Out-of-range indices fail.
    /// </summary>
    void IndexSelect(Buf x, Buf idx, Buf y, int outer, int r, int count, int inner);

    /// <summary>Adjoint of <see cref="IndexSelect"/>: y[o, idx[j], i] += g[o, j, i] (duplicates accumulate).</summary>
    void IndexAdd(Buf g, Buf idx, Buf y, int outer, int r, int count, int inner);

    /// <summary>idx int32 (n), y float32 (n × classes): one-hot rows. Out-of-range labels fail.</summary>
    void OneHot(Buf idx, Buf y, int classes);

    /// <summary>Blocks until queued work is done.</summary>
    void Synchronize();
}
