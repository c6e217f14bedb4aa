using SpikeSharp.Kernels;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// What several op families share: the elementwise map helpers (no autograd), the dtype and device checks, and
/// the ownership helpers for intermediates. Internal to the library; the op classes import it with using static.
/// </summary>
internal static class OpHelpers
{
    extension(Tensor)
    {
        /// <summary>Applies a binary op with broadcasting; no autograd.</summary>
        internal static Tensor Binary<TOp>(Tensor a, Tensor b, TOp op, string name) where TOp : struct, IBinaryOp
        {
            a.CheckFloat(name); b.CheckFloat(name); a.CheckSameDevice(b, name);
            if (a.Dims.AsSpan().SequenceEqual(b.Dims))
            {
                var y = Empty(a.Dims, DType.Float32, a.Device);
                a.Backend.Map(op, a.Buf, b.Buf, y.Buf);
                return y;
            }
            var shape = ShapeUtil.Broadcast(a.Dims, b.Dims, name);
            var r = Empty(shape, DType.Float32, a.Device);
            if (r.Numel == 0) return r;
            var (ia, ib) = Broadcasting.Indices(shape, a.Dims, b.Dims);
            a.Backend.MapBroadcast(op, a.Buf, ia, b.Buf, ib, r.Buf);
            return r;
        }

        /// <summary>Applies a unary op elementwise; no autograd.</summary>
        internal static Tensor Unary<TOp>(Tensor x, TOp op, string name) where TOp : struct, IUnaryOp
        {
            x.CheckFloat(name);
            var y = Empty(x.Dims, DType.Float32, x.Device);
            x.Backend.Map(op, x.Buf, y.Buf);
            return y;
        }

        /// <summary>
        /// Returns <paramref name="result"/>, releasing the intermediate it was computed from (freed unless a
        /// backward rule kept it).
        /// </summary>
        internal static Tensor Releasing(Tensor intermediate, Tensor result)
        {
            if (!ReferenceEquals(intermediate, result)) intermediate.Release();
            return result;
        }
    }

    extension(Tensor t)
    {
        /// <summary>Binary map of this tensor with <paramref name="other"/> (broadcasting); no autograd.</summary>
        internal Tensor MapWith<TOp>(Tensor other, TOp op, string name) where TOp : struct, IBinaryOp =>
            Binary(t, other, op, name);

        /// <summary>
        /// Disposes this tensor unless it is <paramref name="other"/> (a reshape may return its input).
        /// </summary>
        internal void DisposeIfNotSame(Tensor other)
        {
            if (!ReferenceEquals(t, other)) t.Dispose();
        }

        /// <summary>Throws unless this tensor is float32, naming <paramref name="op"/>.</summary>
        internal void CheckFloat(string op)
        {
            if (t.DType != DType.Float32)
                throw new ArgumentException($"{op}: expected a float32 tensor, got {t.DType.Name()} "
                    + $"{ShapeUtil.Format(t.Dims)}; convert with To(DType.Float32)");
        }

        /// <summary>
        /// Throws unless <paramref name="other"/> is on this tensor's device, naming <paramref name="op"/>.
        /// </summary>
        internal void CheckSameDevice(Tensor other, string op)
        {
            if (other.Device != t.Device)
                throw new ArgumentException($"{op}: tensors are on different devices ({t.Device} and {other.Device}); "
                    + "move one with To(device)");
        }
    }
}
