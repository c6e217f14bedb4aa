namespace SpikeSharp.Kernels;

// The math of every elementwise and reduction kernel is a small struct implementing one of these
// interfaces. Both backends drive the same struct: the CPU backend from a Parallel.For loop that
// .NET's JIT specialises per struct, the ILGPU backend from a generic kernel compiled per struct.
// Kernel code rules (ILGPU): no System.Numerics, no Span, no System.Half, no allocation, int indices.

/// <summary>y = f(x).</summary>
public interface IUnaryOp { float Apply(float x); }

/// <summary>y = f(a, b).</summary>
public interface IBinaryOp { float Apply(float a, float b); }

/// <summary>y = f(a, b, c).</summary>
public interface ITernaryOp { float Apply(float a, float b, float c); }

/// <summary>y = f(i, x) where i is the flat element index (random numbers, masks).</summary>
public interface IIndexedOp { float Apply(int i, float x); }

/// <summary>An associative, commutative reduction with an identity.</summary>
public interface IReduceOp
{
    /// <summary>The identity element (0 for sum, -inf for max).</summary>
    float Identity();
    /// <summary>Combines two partial results.</summary>
    float Combine(float a, float b);
}

/// <summary>
/// Maps a flat index of a contiguous output of rank ≤ 6 to the element offset of a strided input
/// (broadcast dims have stride 0; a permutation reorders strides). Fields, not arrays, so that the
/// struct can be passed to an ILGPU kernel by value.
/// </summary>
public struct StridedIndex
{
    public int Rank;
    public int D0, D1, D2, D3, D4, D5;
    public int S0, S1, S2, S3, S4, S5;

    /// <summary>Builds from output dims and input strides (equal lengths, ≤ 6).</summary>
    public static StridedIndex Create(ReadOnlySpan<int> dims, ReadOnlySpan<int> strides)
    {
        if (dims.Length > 6) throw new NotSupportedException($"strided index: rank {dims.Length} > 6 is not supported");
        var s = new StridedIndex { Rank = dims.Length };
        for (int i = 0; i < dims.Length; i++) s.Set(i, dims[i], strides[i]);
        return s;
    }

    private void Set(int i, int d, int st)
    {
        switch (i)
        {
            case 0: D0 = d; S0 = st; break;
            case 1: D1 = d; S1 = st; break;
            case 2: D2 = d; S2 = st; break;
            case 3: D3 = d; S3 = st; break;
            case 4: D4 = d; S4 = st; break;
            default: D5 = d; S5 = st; break;
        }
    }

    /// <summary>
    /// Size and stride of the innermost dim (1, 0 for rank 0): host drivers walk rows of it without divisions.
    /// </summary>
    public readonly (int Size, int Stride) Inner() => Rank switch
    {
        0 => (1, 0),
        1 => (D0, S0),
        2 => (D1, S1),
        3 => (D2, S2),
        4 => (D3, S3),
        5 => (D4, S4),
        _ => (D5, S5),
    };

    /// <summary>Offset into the input of output element <paramref name="linear"/>.</summary>
    public readonly int Offset(int linear)
    {
        int off = 0, r = linear, q;
        // Walk from the innermost dim outwards.
        if (Rank > 5) { q = r / D5; off += (r - q * D5) * S5; r = q; }
        if (Rank > 4) { q = r / D4; off += (r - q * D4) * S4; r = q; }
        if (Rank > 3) { q = r / D3; off += (r - q * D3) * S3; r = q; }
        if (Rank > 2) { q = r / D2; off += (r - q * D2) * S2; r = q; }
        if (Rank > 1) { q = r / D1; off += (r - q * D1) * S1; r = q; }
        if (Rank > 0) { off += r * S0; }
        return off;
    }
}
