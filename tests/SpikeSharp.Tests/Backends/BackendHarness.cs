using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Tests.Backends;

/// <summary>Runs the same backend call on the CPU (the spec) and on ilgpu-cpu and compares outputs.</summary>
internal static class BackendHarness
{
    public static IBackend Cpu => CpuBackend.Instance;
    public static IBackend Gpu => BackendRegistry.Get(Device.IlgpuCpu);

    public static float[] RandF(int n, int seed, float lo = -2f, float hi = 2f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)r.NextDouble();
        return a;
    }

    public static int[] RandI(int n, int seed, int lo, int hi)
    {
        var r = new Random(seed);
        var a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.Next(lo, hi);
        return a;
    }

    public static Buf Up<T>(IBackend b, T[] data) where T : unmanaged
    {
        var s = b.Allocate(DTypeExtensions.Of<T>(), data.Length);
        var buf = new Buf(s, 0, data.Length);
        b.Upload<T>(data, buf);
        return buf;
    }

    /// <summary>A buffer of n elements placed at a nonzero offset inside a larger storage (exercises window math).</summary>
    public static Buf UpOffset<T>(IBackend b, T[] data, int offset = 3) where T : unmanaged
    {
        var s = b.Allocate(DTypeExtensions.Of<T>(), data.Length + offset + 2);
        var buf = new Buf(s, offset, data.Length);
        b.Upload<T>(data, buf);
        return buf;
    }

    public static Buf Empty(IBackend b, DType t, int n) => new(b.Allocate(t, n), 0, n);

    public static T[] Down<T>(IBackend b, Buf x) where T : unmanaged
    {
        var a = new T[x.Length];
        b.Download<T>(x, a);
        return a;
    }

    public static void Close(float[] expected, float[] actual, float tol = 1e-5f, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (e == a) continue;
            if (float.IsNaN(e)) { Assert.True(float.IsNaN(a), $"{what}[{i}]: expected NaN, got {a}"); continue; }
            float err = MathF.Abs(e - a), scale = Math.Max(1f, MathF.Abs(e));
            Assert.True(err <= tol * scale, $"{what}[{i}]: expected {e}, got {a} (|diff| {err})");
        }
    }

    /// <summary>Sizes that are not multiples of a warp or a group.</summary>
    public static readonly int[] Sizes = { 1, 31, 33, 1000, 4097 };
}

/// <summary>Tests that must not share the ilgpu-cpu backend with concurrently running tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialBackendTests { public const string Name = "ilgpu serial"; }
