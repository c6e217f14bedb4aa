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
/// float32 product up to the order of the additions. Both operands exact: one GEMM. Anything unavailable (switch
/// off, not CUDA, no bfloat16 cuBLAS) leaves the float32 GEMM, and the reason is traced once.
/// </summary>
internal static class SpikeGemm
{
    /// <summary>Above this many bytes of bfloat16 parts, the split operand is split one part at a time into one
    /// buffer (a re-read of the float32 operand per part) instead of all three at once: W = 16384² would otherwise
    /// hold 1.5 GiB of parts.</summary>
    internal static long FusedSplitMaxBytes { get; set; } = 64L << 20;

    private static readonly AsyncLocal<Settings?> _scoped = new();
    private static readonly ConcurrentDictionary<string, byte> _said = new();
    private static long _splitProducts;

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

    /// <summary>Products computed through the split path so far (for tests and the benchmark).</summary>
    internal static long SplitProducts => Interlocked.Read(ref _splitProducts);

    /// <summary>The fallback reasons traced so far (each once).</summary>
    internal static IReadOnlyCollection<string> FallbackNotes => _said.Keys.ToArray();

    private static bool On => _scoped.Value?.On ?? Precision.ExactSpikeGemm;

    /// <summary>
    /// Row-major C (m × n) = op(A) · op(B) + β · C for 2-D operands (a 3-D left operand with its batch folded into
    /// the rows is one): the split path when it applies, else the backend's float32 GEMM.
    /// </summary>
    internal static void Gemm(Tensor a, Tensor b, bool transA, bool transB, int m, int n, int k, float beta, Buf c)
    {
        if (!TrySplit(a, b, transA, transB, m, n, k, beta, c))
            a.Backend.Gemm(transA, transB, m, n, k, 1f, a.Buf, b.Buf, beta, c);
    }

    private static bool TrySplit(Tensor a, Tensor b, bool transA, bool transB, int m, int n, int k, float beta, Buf c)
    {
        bool aExact = a.IsBf16Exact, bExact = b.IsBf16Exact;
        if (!aExact && !bExact) return false;
        if (!On) return false;
        if (a.Backend is not IlgpuBackend be)
        {
            Say($"{a.Device} computes float32 products (the split is a GPU path)", warn: false);
            return false;
        }
        bool emulate = !be.IsCuda && _scoped.Value?.EmulateOnCpuDevice == true;
        if (!emulate && be.Bf16GemmUnavailable is { } why)
        {
            Say(why, warn: true);
            return false;
        }
        if (m == 0 || n == 0) return false;

        var held = new List<Storage>(2);
        try
        {
            Buf Scratch(int length)
            {
                var s = be.Allocate(DType.Float16, length);
                held.Add(s);
                return new Buf(s, 0, length);
            }
            Buf Exact(Tensor t)
            {
                var h = Scratch(t.Numel);
                be.ToBf16(t.Buf, h);
                return h;
            }
            bool Product(Buf a16, Buf b16, float betaNow) => emulate
                ? Emulated(be, transA, transB, m, n, k, a16, b16, betaNow, c)
                : be.TryGemmBf16(transA, transB, m, n, k, 1f, a16, b16, betaNow, c);

            if (aExact && bExact) return Counted(Product(Exact(a), Exact(b), beta), 1);

            var (exactT, denseT) = aExact ? (a, b) : (b, a);
            var e16 = Exact(exactT);
            int len = denseT.Numel;
            bool atOnce = 3L * len * 2 <= FusedSplitMaxBytes;
            // Parts start on 16-byte boundaries (8 elements), which cuBLAS's tensor-core kernels want.
            int stride = (len + 7) & ~7;
            var parts = Scratch(atOnce ? 2 * stride + len : len);
            if (atOnce) be.SplitBf16(denseT.Buf, parts, 0, 3, stride);
            // Smallest part first: the two small products add up with little rounding before the large one joins.
            for (int p = 2, done = 0; p >= 0; p--, done++)
            {
                Buf d16;
                if (atOnce) d16 = new Buf(parts.Storage, p * stride, len);
                else
                {
                    be.SplitBf16(denseT.Buf, parts, p, 1);
                    d16 = parts;
                }
                if (!Product(aExact ? e16 : d16, aExact ? d16 : e16, done == 0 ? beta : 1f))
                {
                    // Only the first call can be refused (nothing written yet); later ones would have failed too.
                    if (done > 0)
                        throw new InvalidOperationException("cublasGemmEx refused a bfloat16 GEMM after accepting one");
                    Say(be.Bf16GemmUnavailable ?? "cublasGemmEx refused bfloat16 inputs", warn: true);
                    return false;
                }
            }
            return Counted(true, 3);
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

    private static bool Emulated(IlgpuBackend be, bool transA, bool transB, int m, int n, int k, Buf a16, Buf b16,
        float beta, Buf c)
    {
        be.GemmBf16Emulated(transA, transB, m, n, k, 1f, a16, b16, beta, c);
        return true;
    }

    private static bool Counted(bool ok, int products)
    {
        if (ok) Interlocked.Add(ref _splitProducts, products);
        return ok;
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
