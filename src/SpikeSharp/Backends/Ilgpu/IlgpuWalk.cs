namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// A grid-stride loop's position in a mixed-radix index (Hi, Mid, Lo) with Lo in [0, L) and Mid in [0, M), advanced
/// by a fixed stride with two carries instead of two integer divisions per element (the divisions cost as much as
/// the memory traffic of a bandwidth-bound kernel). M may be int.MaxValue for a two-level index.
/// </summary>
internal struct IlgpuWalk
{
    public int Lo, Mid, Hi;
    public int DLo, DMid, DHi, L, M;

    /// <summary>The position of flat index i; each <see cref="Next"/> adds <paramref name="stride"/>.</summary>
    public static IlgpuWalk Start(int i, int stride, int l, int m)
    {
        var w = new IlgpuWalk { L = l, M = m };
        int q = i / l;
        w.Lo = i - q * l;
        w.Mid = q % m;
        w.Hi = q / m;
        int qs = stride / l;
        w.DLo = stride - qs * l;
        w.DMid = qs % m;
        w.DHi = qs / m;
        return w;
    }

    /// <summary>The position <c>stride</c> elements further.</summary>
    public static IlgpuWalk Next(IlgpuWalk w)
    {
        w.Lo += w.DLo;
        int carry = w.Lo >= w.L ? 1 : 0;
        w.Lo -= carry * w.L;
        // Mid + DMid + carry ≤ 2·M − 1 fits an int for M ≤ 2^30; M = int.MaxValue never wraps (Mid stays small).
        int mid = w.Mid + w.DMid + carry;
        carry = w.M != int.MaxValue && mid >= w.M ? 1 : 0;
        w.Mid = mid - carry * w.M;
        w.Hi += w.DHi + carry;
        return w;
    }
}
