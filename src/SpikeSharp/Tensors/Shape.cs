namespace SpikeSharp;

/// <summary>Shape arithmetic shared by every op.</summary>
public static class ShapeUtil
{
    /// <summary>Number of elements of a shape (1 for a scalar shape []).</summary>
    public static long Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    /// <summary>"(2, 3, 4)".</summary>
    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    /// <summary>Normalises a possibly negative dimension index.</summary>
    public static int NormDim(int dim, int rank, string op)
    {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= Math.Max(rank, 1) || (rank == 0 && dim != 0 && dim != -1))
            throw new ArgumentOutOfRangeException(nameof(dim), $"{op}: dim {dim} is out of range for a "
                + $"tensor of rank {rank}");
        return d;
    }

    /// <summary>Product of dims [from, to).</summary>
    public static int Prod(ReadOnlySpan<int> shape, int from, int to)
    {
        long n = 1;
        for (int i = from; i < to; i++) n *= shape[i];
        return checked((int)n);
    }

    /// <summary>Numpy broadcasting of two shapes; throws naming the op and both shapes.</summary>
    public static int[] Broadcast(int[] a, int[] b, string op)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together "
                    + $"(dim {i}: {da} vs {db})");
            o[i] = da == 1 ? db : da;
        }
        return o;
    }

    /// <summary>Resolves a reshape target with at most one -1.</summary>
    public static int[] InferReshape(int[] from, int[] to)
    {
        long n = Numel(from);
        int neg = -1;
        long known = 1;
        for (int i = 0; i < to.Length; i++)
        {
            if (to[i] == -1)
            {
                if (neg >= 0) throw new ArgumentException($"reshape: only one -1 allowed in {Format(to)}", "shape");
                neg = i;
            }
            else if (to[i] < 0) throw new ArgumentException($"reshape: negative size in {Format(to)}", "shape");
            else known *= to[i];
        }
        var res = (int[])to.Clone();
        if (neg >= 0)
        {
            if (known == 0 || n % known != 0)
                throw new ArgumentException($"reshape: cannot reshape {Format(from)} ({n} elements) "
                    + $"into {Format(to)}", "shape");
            res[neg] = (int)(n / known);
        }
        if (Numel(res) != n)
            throw new ArgumentException($"reshape: cannot reshape {Format(from)} ({n} elements) "
                + $"into {Format(to)} ({Numel(res)} elements)", "shape");
        return res;
    }
}
