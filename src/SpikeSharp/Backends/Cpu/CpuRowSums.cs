using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// Row statistics shared by the CPU normalisation families (batch norm per channel row, layer norm per row): SIMD
/// lanes first, then the lanes and the tail added in order, so a row's result does not depend on threading.
/// </summary>
internal static class CpuRowSums
{
    /// <summary>Σx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> x)
    {
        var v = MemoryMarshal.Cast<float, Vector<float>>(x);
        var acc = Vector<float>.Zero;
        for (int i = 0; i < v.Length; i++) acc += v[i];
        float s = Vector.Sum(acc);
        for (int i = v.Length * Vector<float>.Count; i < x.Length; i++) s += x[i];
        return s;
    }

    /// <summary>Σ(x − μ)², as <see cref="Sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float CentredSquares(ReadOnlySpan<float> x, float mean)
    {
        var v = MemoryMarshal.Cast<float, Vector<float>>(x);
        var acc = Vector<float>.Zero;
        var vm = new Vector<float>(mean);
        for (int i = 0; i < v.Length; i++) { var d = v[i] - vm; acc += d * d; }
        float s = Vector.Sum(acc);
        for (int i = v.Length * Vector<float>.Count; i < x.Length; i++) { float d = x[i] - mean; s += d * d; }
        return s;
    }
}
