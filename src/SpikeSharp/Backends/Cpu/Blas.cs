using System.Runtime.InteropServices;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// Minimal binding of a tuned CPU BLAS (<c>cblas_sgemm</c>), looked up at run time like cuBLAS: OpenBLAS, BLIS or
/// MKL when one is installed, else none and the CPU backend uses its own GEMM (<see cref="CpuGemm"/>).
/// <see cref="Variable"/> overrides the search: <c>none</c> forces the own GEMM; a library name or path
/// (for example <c>libblas.so.3</c>, the slow reference BLAS, which is never picked by default) is the only one tried.
/// A library that loads but lacks the entry point or computes a small product wrongly (a different ABI) is
/// reported in <see cref="LoadError"/> and not used.
/// </summary>
internal sealed unsafe class Blas
{
    /// <summary>The environment variable that overrides the search.</summary>
    public const string Variable = "SPIKESHARP_BLAS";

    /// <summary>Tried in order when <see cref="Variable"/> is not set.</summary>
    internal static readonly string[] Candidates = OperatingSystem.IsWindows()
        ? new[] { "libopenblas.dll", "openblas.dll", "mkl_rt.2.dll", "mkl_rt.dll" }
        : OperatingSystem.IsMacOS()
            ? new[] { "libopenblas.0.dylib", "libopenblas.dylib", "libblis.4.dylib", "libblis.dylib" }
            : new[]
            {
                "libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libblis.so", "libmkl_rt.so.2", "libmkl_rt.so",
            };

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly Lazy<(Blas? Api, string? Error)> _default = new(() =>
    {
        var api = Probe(Environment.GetEnvironmentVariable(Variable), out var error);
        return (api, error);
    });

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*,
        int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setThreadsInt;    // openblas_set_num_threads, MKL_Set_Num_Threads
    private readonly delegate* unmanaged<long, void> _setThreadsLong;  // bli_thread_set_num_threads (dim_t)
    private int _threads;

    private Blas(string loadedFrom, string version, IntPtr sgemm, IntPtr setInt, IntPtr setLong)
    {
        LoadedFrom = loadedFrom;
        Version = version;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int,
            void>)sgemm;
        _setThreadsInt = (delegate* unmanaged<int, void>)setInt;
        _setThreadsLong = (delegate* unmanaged<long, void>)setLong;
    }

    /// <summary>The BLAS this process uses, or null (then see <see cref="LoadError"/>).</summary>
    public static Blas? Instance => _default.Value.Api;

    /// <summary>Why no BLAS is used, or why a BLAS that was found was rejected (null when one loaded).</summary>
    public static string? LoadError => _default.Value.Error;

    /// <summary>The library name or path that was loaded.</summary>
    public string LoadedFrom { get; }

    /// <summary>The library's own version or configuration string, when it has one.</summary>
    public string Version { get; }

    /// <summary>Whether the library lets SpikeSharp set its thread count (<see cref="Threads.Count"/>).</summary>
    public bool FollowsThreadCount => _setThreadsInt != null || _setThreadsLong != null;

    /// <summary>
    /// Resolves the BLAS for a <see cref="Variable"/> value: null or blank probes <see cref="Candidates"/>;
    /// none/off/0 disables; anything else is the only library tried. Null with the reason when none is usable.
    /// </summary>
    internal static Blas? Probe(string? setting, out string? error)
    {
        error = null;
        var s = setting?.Trim();
        if (s is "none" or "off" or "0" or "false")
        {
            error = $"disabled by {Variable}={s}";
            return null;
        }
        var names = string.IsNullOrEmpty(s) ? Candidates : new[] { s };
        var problems = new List<string>();
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var h))
            {
                if (!string.IsNullOrEmpty(s))
                    problems.Add($"{name}: cannot be loaded ({Variable}={s}): {LoadFailure(name)}");
                else if (LoadFailure(name) is { } failure
                    && !failure.Contains("No such file", StringComparison.Ordinal))
                    problems.Add($"{name}: found but failed to load: {failure}");
                continue;
            }
            var api = TryBind(name, h, out var why);
            if (api != null) return api;
            problems.Add(why!);
        }
        error = problems.Count > 0
            ? string.Join("; ", problems)
            : "no BLAS library found (tried " + string.Join(", ", Candidates) + ")";
        return null;
    }

    // The loader's own explanation (dlerror) of why a library did not load.
    private static string? LoadFailure(string name)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(name));
            return null;
        }
        catch (DllNotFoundException e)
        {
            // The message lists every path tried, one per line; keep the first that is not a plain "not there".
            var lines = e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return lines.Skip(1).FirstOrDefault(l => !l.Contains("No such file", StringComparison.Ordinal))
                ?? lines.Skip(1).FirstOrDefault() ?? e.Message;
        }
        catch (BadImageFormatException e) { return e.Message; }
    }

    private static Blas? TryBind(string name, IntPtr h, out string? why)
    {
        why = null;
        if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out var sgemm))
        {
            why = $"{name}: loaded, but has no cblas_sgemm (not a CBLAS library)";
            return null;
        }
        NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var setInt);
        if (setInt == IntPtr.Zero) NativeLibrary.TryGetExport(h, "MKL_Set_Num_Threads", out setInt);
        NativeLibrary.TryGetExport(h, "bli_thread_set_num_threads", out var setLong);
        var api = new Blas(name, VersionOf(h), sgemm, setInt, setLong);
        if (api.SelfTest() is string bad)
        {
            why = $"{name}: loaded, but {bad} (unexpected ABI); using SpikeSharp's own GEMM";
            return null;
        }
        return api;
    }

    private static string VersionOf(IntPtr h)
    {
        try
        {
            if (NativeLibrary.TryGetExport(h, "openblas_get_config", out var f))
                return Marshal.PtrToStringAnsi((IntPtr)((delegate* unmanaged<byte*>)f)()) ?? "OpenBLAS";
            if (NativeLibrary.TryGetExport(h, "bli_info_get_version_str", out f))
                return "BLIS " + Marshal.PtrToStringAnsi((IntPtr)((delegate* unmanaged<byte*>)f)());
            if (NativeLibrary.TryGetExport(h, "MKL_Get_Version_String", out f))
            {
                var buf = stackalloc byte[256];
                ((delegate* unmanaged<byte*, int, void>)f)(buf, 256);
                return Marshal.PtrToStringAnsi((IntPtr)buf)?.Trim() ?? "MKL";
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or AccessViolationException) { }
        return "unknown version";
    }

    // A 2×3 by 3×2 product in each transposition and with alpha/beta, against exact small-integer results: catches
    // a library that ignores the row-major flag, swaps arguments or is otherwise broken before it touches user data.
    private string? SelfTest()
    {
        float[] a = { 1, 2, 3, 4, 5, 6 };          // 2×3
        float[] at = { 1, 4, 2, 5, 3, 6 };         // its 3×2 transpose
        float[] b = { 7, 8, 9, 10, 11, 12 };       // 3×2
        float[] bt = { 7, 9, 11, 8, 10, 12 };      // its 2×3 transpose
        float[] want = { 58, 64, 139, 154 };
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            float[] c = { 1, 1, 1, 1 };
            fixed (float* pa = ta ? at : a, pb = tb ? bt : b, pc = c)
                Sgemm(ta, tb, 2, 2, 3, 2f, pa, ta ? 2 : 3, pb, tb ? 3 : 2, 0.5f, pc, 2);
            for (int i = 0; i < 4; i++)
                if (c[i] != 2 * want[i] + 0.5f)
                    return $"its cblas_sgemm computed {c[i]} instead of {2 * want[i] + 0.5f} "
                        + $"(transA={ta}, transB={tb}, element {i})";
        }
        return null;
    }

    /// <summary>Row-major cblas_sgemm (leading dimensions as stored).</summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc) =>
        _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
            ldc);

    /// <summary>Sets the library's own thread count, when it changed since the last call and the library
    /// allows it.</summary>
    public void UseThreads(int count)
    {
        if (_threads == count) return;
        if (_setThreadsInt != null) _setThreadsInt(count);
        else if (_setThreadsLong != null) _setThreadsLong(count);
        _threads = count;
    }

    /// <summary>One line for <c>spikesharp info</c>: the BLAS in use, or why none is, and the fallback's
    /// kernel.</summary>
    internal static string Describe() => Instance is { } api
        ? $"{api.LoadedFrom} ({api.Version})"
        : $"none ({LoadError}); SpikeSharp's own GEMM ({CpuGemm.Description})";
}
