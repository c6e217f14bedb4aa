using System.Globalization;

namespace SpikeSharp.Bench;

// The on suite's printed report: per size, the profile of a step, and the summary across sizes.
internal static partial class OpenNeuromorphicBench
{
    // The step's high-water mark of live tensor bytes and the ops holding it (storages the step created; x, W and the
    // allocator's rounding are not in it).
    private static void PrintProfile(int n, string path, MemoryProfile prof)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"  profile n={n} {path}: step peak {prof.PeakBytes / 1048576.0:F2} MiB of tensors made in the step"));
        foreach (var o in prof.Ops.Where(o => o.LiveAtPeakBytes > 0).Take(10))
            Console.WriteLine(string.Create(inv, $"    {o.Op,-34} {o.LiveAtPeakBytes / 1048576.0,10:F2} MiB at peak"));
    }

    // One line per size, and issue 14's bars (H200, T = 500, B = 16, spike input) where the run covers them.
    private static void PrintSummary(List<OnCase> cases, int T, int B, string input)
    {
        var inv = CultureInfo.InvariantCulture;
        var done = cases.Where(c => c.Error == null && c.Timings.Length == 2).ToList();
        if (done.Count == 0) return;
        Console.WriteLine("summary (ms per step and allocator peak GiB; grad W max relative error against float64 on a "
            + $"{Block}×{Block} block):");
        Console.WriteLine($"{"n",7} {"fp32 ms",9} {"split ms",9} {"speed-up",9} {"fp32 GiB",9} {"split GiB",10} "
            + $"{"gW err fp32",12} {"gW err split",13}");
        static string Gib(long? b) =>
            b is long v ? (v / (double)(1L << 30)).ToString("F3", CultureInfo.InvariantCulture) : "-";
        foreach (var c in done)
        {
            var (f, sp) = (c.Timings[0], c.Timings[1]);
            Console.WriteLine(string.Create(inv, $"{c.N,7} {f.MsPerStep,9:F3} {sp.MsPerStep,9:F3} "
                + $"{f.MsPerStep / sp.MsPerStep,9:F2} {Gib(f.PeakBytes),9} {Gib(sp.PeakBytes),10} "
                + $"{c.Accuracy?.GradWFp32VsFp64Rel ?? double.NaN,12:E2} "
                + $"{c.Accuracy?.GradWSplitVsFp64Rel ?? double.NaN,13:E2}"));
        }
        if (T != 500 || B != 16 || input != "spikes") return;
        void Bar(int n, string what, Func<OnTiming, bool> met, string limit)
        {
            if (done.FirstOrDefault(c => c.N == n) is not { } c) return;
            Console.WriteLine($"bar n={n} split {what} {limit}: {(met(c.Timings[1]) ? "met" : "MISSED")}");
        }
        Bar(4096, "time", t => t.MsPerStep <= 4, "<= 4 ms");
        Bar(16384, "time", t => t.MsPerStep <= 50, "<= 50 ms");
        Bar(16384, "peak memory", t => t.PeakBytes is long p && p <= 4.2 * (1L << 30), "<= 4.2 GiB");
    }

    private static void Print(OnCase c)
    {
        var inv = CultureInfo.InvariantCulture;
        if (c.Error != null) return;
        Console.WriteLine($"{"n",7} {"path",6} {"ms/step",9} {"peak GiB",9} {"bf16 GEMMs/step",16}");
        foreach (var t in c.Timings)
        {
            string peak = t.PeakBytes is long p ? (p / (double)(1L << 30)).ToString("F3", inv) : "-";
            Console.WriteLine(string.Create(inv,
                $"{c.N,7} {t.Path,6} {t.MsPerStep,9:F3} {peak,9} {t.Bf16GemmsPerStep,16:F1}"));
        }
        if (c.Timings.Length == 2 && c.Timings[0].MsPerStep > 0)
            Console.WriteLine(string.Create(inv,
                $"{"",7} split/fp32 time {c.Timings[1].MsPerStep / c.Timings[0].MsPerStep:F3}"));
        if (c.Accuracy is { } a)
        {
            string rate = c.Input == "spikes" ? string.Create(inv, $" (input rate {100 * a.InputRate:F2} %)") : "";
            Console.WriteLine(string.Create(inv,
                $"  accuracy n={c.N}{rate}: y split vs fp32 {a.YVsFp32:E2} (max |Δ|/Σ|terms|); " +
                $"vs fp64 on a {Block}×{Block} block: fp32 {a.YFp32VsFp64:E2}, split {a.YSplitVsFp64:E2}"));
            Console.WriteLine(string.Create(inv,
                $"  grad W split vs fp32 {a.GradWVsFp32:E2}; vs fp64 block: fp32 {a.GradWFp32VsFp64:E2}, " +
                $"split {a.GradWSplitVsFp64:E2} (max |Δ|/Σ|terms|); max rel |Δ|/|ref|: " +
                $"fp32 {a.GradWFp32VsFp64Rel:E2}, split {a.GradWSplitVsFp64Rel:E2}"));
            Console.WriteLine(string.Create(inv,
                $"  spikes: {a.DivergedNeurons} neuron(s) differ, {a.DivergedFarFromThreshold} of them first " +
                $"more than {NearThreshold:E0} from θ (largest |h − θ| at a first difference " +
                $"{a.MaxDistanceAtDivergence:E2})"));
        }
        foreach (var p in c.Problems) Console.WriteLine($"  MISSED: {p}");
    }
}
