using System.Collections.Concurrent;
using System.Diagnostics;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp;

/// <summary>
/// Exact spike GEMMs: a matrix product with an operand whose values bfloat16 represents exactly
/// (<see cref="Tensor.IsBf16Exact"/>: spikes) runs on CUDA as bfloat16 tensor-core GEMMs with float32
/// accumulation. The other operand D is split exactly, D = D₁ + D₂ + D₃ (<see cref="Bf16Bits"/>), and
/// op(A)·op(B) = Σᵢ products with Dᵢ, accumulated into C with β = 1; every product is exact, so the result is the
/// float32 product up to the order of the additions (under <see cref="Precision.AllowTf32"/> only D₁ + D₂ are used:
/// 16 mantissa bits, still more than TF32's 11). Both operands exact: one GEMM. Anything unavailable (switch off, not
/// CUDA, no bfloat16 cuBLAS) leaves the float32 GEMM, and the reason is traced once.
/// </summary>
internal static class SpikeGemm
{
    /// <summary>Above this many bytes of bfloat16 parts, the split operand is split one part at a time into one
    /// buffer (a re-read of the float32 operand per part) instead of all at once: W = 16384² would otherwise
    /// hold 1.5 GiB of parts.</summary>
    internal static long FusedSplitMaxBytes { get; set; } = 64L << 20;

    private static readonly AsyncLocal<Settings?> _scoped = new();
    private static readonly ConcurrentDictionary<string, byte> _said = new();
    [ThreadStatic] private static long _splitProducts;

    private sealed record Settings(bool? On, bool EmulateOnCpuDevice);

    /// <summary>
    /// Overrides <see cref="Precision.ExactSpikeGemm"/> for the calling flow (tests run in parallel and must not
    /// flip the process-wide switch under each other). <paramref name="emulateOnCpuDevice"/> runs the bfloat16
    /// products on ILGPU's emulated device with a plain kernel, so the whole path can be tested without a GPU.
    /// </summary>
    internal static IDisposable Scope(bool? on, bool emulateOnCpuDevice = false)
    {
        var before = _scoped.Value;
        _scoped.Value = new Settings(on, emulateOnCpuDevice);
        return new Restore(before);
    }

    private sealed class Restore(Settings? before) : IDisposable
    {
        public void Dispose() => _scoped.Value = before;
    }

    /// <summary>Products computed through the split path so far on the calling thread (for tests, which run in
    /// parallel, and the benchmark).</summary>
    internal static long SplitProducts => _splitProducts;

    /// <summary>The fallback reasons traced so far (each once).</summary>
    internal static IReadOnlyCollection<string> FallbackNotes => _said.Keys.ToArray();

    private static bool On => _scoped.Value?.On ?? Precision.ExactSpikeGemm;

    // Parts of the dense operand: three reproduce float32 exactly; under TF32 two (16 mantissa bits) suffice.
    private static int DenseParts => Precision.AllowTf32 ? 2 : 3;

    /// <summary>
    /// One GEMM operand: its float32 values, and/or the bfloat16 bits of exact values already converted (the copy a
    /// product kept for its backward). <see cref="Exact"/>: the values are bfloat16-exact.
    /// </summary>
    internal readonly record struct Operand(Buf? F32, Buf? Bf16, bool Exact)
    {
        /// <summary>A float32 tensor, exact when marked.</summary>
        public static Operand Of(Tensor t) => new(t.Buf, null, t.IsBf16Exact);

        /// <summary>A bfloat16 copy made by <see cref="Bf16Copy"/> (the float32 values may be gone).</summary>
        public static Operand OfCopy(Tensor copy) => new(null, copy.Buf, true);

        /// <summary>Both: the float32 tensor and its bfloat16 copy (the forward pass, before the original may go).
        /// </summary>
        public static Operand Of(Tensor t, Tensor? copy) => copy == null ? Of(t) : new(t.Buf, copy.Buf, true);

        internal int Length => F32?.Length ?? Bf16!.Value.Length;
    }

    /// <summary>Strides (in elements) of a strided batch of products; 0 shares an operand across the batch.</summary>
    internal readonly record struct Batch(int Count, int StrideA, int StrideB, int StrideC)
    {
        public static Batch One => new(1, 0, 0, 0);
    }

    /// <summary>
    /// Row-major C (m × n) = op(A) · op(B) + β · C for 2-D operands (a 3-D left operand with its batch folded into
    /// the rows is one): the split path when it applies, else the backend's float32 GEMM.
    /// </summary>
    internal static void Gemm(Tensor a, Tensor b, bool transA, bool transB, int m, int n, int k, float beta, Buf c) =>
        Gemm(a.Backend, Operand.Of(a), Operand.Of(b), transA, transB, m, n, k, beta, c, Batch.One);

    /// <summary>As <see cref="Gemm(Tensor, Tensor, bool, bool, int, int, int, float, Buf)"/> for operands that may be
    /// bfloat16 copies, over a strided batch.</summary>
    internal static void Gemm(IBackend backend, Operand a, Operand b, bool transA, bool transB, int m, int n, int k,
        float beta, Buf c, Batch batch)
    {
        if (TrySplit(backend, a, b, transA, transB, m, n, k, beta, c, batch)) return;
        var held = new List<Storage>(2);
        try
        {
            Buf Float(Operand o) => o.F32 ?? Widen((IlgpuBackend)backend, o.Bf16!.Value, held);
            backend.Gemm(transA, transB, m, n, k, 1f, Float(a), Float(b), beta, c, batch.Count, batch.StrideA,
                batch.StrideB, batch.StrideC);
        }
        finally
        {
            foreach (var s in held) s.Release();
        }
    }

    // A kept bfloat16 copy back in float32 (exact): for a product the split path can no longer run.
    private static Buf Widen(IlgpuBackend be, Buf bf16, List<Storage> held)
    {
        var s = be.Allocate(DType.Float32, bf16.Length);
        held.Add(s);
        var f = new Buf(s, 0, bf16.Length);
        be.FromBf16(bf16, f);
        return f;
    }

    /// <summary>
    /// A bfloat16 copy of <paramref name="t"/> (2 bytes an element: a <see cref="DType.Float16"/> tensor holding
    /// bfloat16 bits, which never leaves the library) when it is marked exact and the split path can run on its
    /// device; else null. A product keeps it for its backward instead of the float32 tensor, which can then be
    /// freed, and feeds it to the GEMMs without converting again.
    /// </summary>
    internal static Tensor? Bf16Copy(Tensor t)
    {
        if (!t.IsBf16Exact || t.Numel == 0 || Usable(t.Backend, quiet: true) is not { } be) return null;
        Tensor copy;
        try { copy = Tensor.Empty(t.Shape, DType.Float16, t.Device); }
        catch (OutOfMemoryException) { return null; } // the float32 tensor is kept instead, as without the split
        be.ToBf16(t.Buf, copy.Buf);
        return copy;
    }

    // The backend when the split can run on it (and it is on); null after saying why not.
    private static IlgpuBackend? Usable(IBackend backend, bool quiet = false)
    {
        if (!On) return null;
        if (backend is not IlgpuBackend be)
        {
            if (!quiet) Say($"{backend.Device} computes float32 products (the split is a GPU path)", warn: false);
            return null;
        }
        if (Emulating(be)) return be;
        if (be.Bf16GemmUnavailable is { } why)
        {
            if (!quiet) Say(why, warn: true);
            return null;
        }
        return be;
    }

    private static bool Emulating(IlgpuBackend be) => !be.IsCuda && _scoped.Value?.EmulateOnCpuDevice == true;

    private static bool TrySplit(IBackend backend, Operand a, Operand b, bool transA, bool transB, int m, int n,
        int k, float beta, Buf c, Batch batch)
    {
        if (!a.Exact && !b.Exact) return false;
        if (m == 0 || n == 0) return false;
        if (Usable(backend) is not { } be) return false;
        bool emulate = Emulating(be);
        var held = new List<Storage>(2);
        try
        {
            Buf Scratch(int length)
            {
                var s = be.Allocate(DType.Float16, length);
                held.Add(s);
                return new Buf(s, 0, length);
            }
            Buf Exact(Operand o)
            {
                if (o.Bf16 is { } kept) return kept;
                var h = Scratch(o.F32!.Value.Length);
                be.ToBf16(o.F32.Value, h);
                return h;
            }
            static Buf At(Buf whole, int offset, int length) => new(whole.Storage, whole.Offset + offset, length);
            // One product per batch entry; only the first one can be refused (nothing written yet).
            bool Products(Buf a16, Buf b16, float betaNow)
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    var ai = At(a16, i * batch.StrideA, m * k);
                    var bi = At(b16, i * batch.StrideB, k * n);
                    var ci = At(c, i * batch.StrideC, m * n);
                    bool ok = emulate
                        ? Emulated(be, transA, transB, m, n, k, ai, bi, betaNow, ci)
                        : be.TryGemmBf16(transA, transB, m, n, k, 1f, ai, bi, betaNow, ci);
                    if (!ok && i > 0)
                        throw new InvalidOperationException("cublasGemmEx refused a bfloat16 GEMM after accepting one");
                    if (!ok) return false;
                }
                return true;
            }

            if (a.Exact && b.Exact)
            {
                if (!Products(Exact(a), Exact(b), beta)) return Refused(be);
                return Counted(batch.Count);
            }

            var (exactOp, dense) = a.Exact ? (a, b) : (b, a);
            var e16 = Exact(exactOp);
            var denseF32 = dense.F32!.Value; // an inexact operand is never a bfloat16 copy
            int len = denseF32.Length, parts = DenseParts;
            bool atOnce = (long)parts * len * 2 <= FusedSplitMaxBytes;
            // Parts start on 16-byte boundaries (8 elements), which cuBLAS's tensor-core kernels want.
            int stride = (len + 7) & ~7;
            var split = Scratch(atOnce ? (parts - 1) * stride + len : len);
            if (atOnce) be.SplitBf16(denseF32, split, 0, parts, stride);
            // Smallest part first: the small products add up with little rounding before the large one joins.
            for (int p = parts - 1, done = 0; p >= 0; p--, done++)
            {
                Buf d16;
                if (atOnce) d16 = At(split, p * stride, len);
                else
                {
                    be.SplitBf16(denseF32, split, p, 1);
                    d16 = split;
                }
                if (!Products(a.Exact ? e16 : d16, a.Exact ? d16 : e16, done == 0 ? beta : 1f))
                {
                    if (done > 0)
                        throw new InvalidOperationException("cublasGemmEx refused a bfloat16 GEMM after accepting one");
                    return Refused(be);
                }
            }
            return Counted(parts * batch.Count);
        }
        catch (OutOfMemoryException e)
        {
            // The bfloat16 copies did not fit: the float32 GEMM needs none.
            Say($"no device memory for the bfloat16 copies ({e.Message})", warn: true);
            return false;
        }
        finally
        {
            // Same stream: the GEMMs reading these buffers run before any later kernel that reuses the memory.
            foreach (var s in held) s.Release();
        }
    }

    private static bool Refused(IlgpuBackend be)
    {
        Say(be.Bf16GemmUnavailable ?? "cublasGemmEx refused bfloat16 inputs", warn: true);
        return false;
    }

    private static bool Emulated(IlgpuBackend be, bool transA, bool transB, int m, int n, int k, Buf a16, Buf b16,
        float beta, Buf c)
    {
        be.GemmBf16Emulated(transA, transB, m, n, k, 1f, a16, b16, beta, c);
        return true;
    }

    private static bool Counted(int products)
    {
        _splitProducts += products;
        return true;
    }

    private static void Say(string why, bool warn)
    {
        if (!_said.TryAdd(why, 0)) return;
        var line = $"SpikeSharp: exact spike GEMMs are on (Precision.ExactSpikeGemm) but {why}; "
            + "products with spikes use float32 GEMMs";
        if (warn) Trace.TraceWarning(line);
        else Trace.TraceInformation(line);
    }
}
