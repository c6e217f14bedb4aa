using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>Inverted dropout with counter-based masks (the same seed gives the same mask on every device).</summary>
public static class DropoutOps
{
    extension(Tensor)
    {
        /// <summary>
        /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1 − p); identity when
        /// not <paramref name="training"/> or p = 0. With <paramref name="sharedOverTime"/> the input is (T, B, ...)
        /// and one mask of shape (B, ...) is used at every time step.
        /// </summary>
        public static Tensor Dropout(Tensor x, float p, bool training = true, Generator? gen = null,
            bool sharedOverTime = false)
        {
            if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), $"dropout: p must be "
                + $"in [0, 1), got {p}");
            x.CheckFloat("dropout");
            if (!training || p == 0f) return x;
            if (sharedOverTime && x.Rank < 2)
                throw new ArgumentException($"dropout: sharedOverTime needs a (T, B, ...) input, "
                    + $"got {ShapeUtil.Format(x.Dims)}", nameof(x));
            var mshape = sharedOverTime ? x.Dims.Skip(1).ToArray() : x.Dims;
            var mask = Empty(mshape, DType.Float32, x.Device);
            var (kl, kh, off) = (gen ?? Generator.Default).Take(mask.Numel);
            if (mask.Numel > 0)
                x.Backend.MapIndexed(new DropoutMaskOp { KeyLo = kl, KeyHi = kh, Offset = off, Keep = 1f - p },
                    mask.Buf, mask.Buf);
            var y = x.Mul(mask);
            mask.Release();
            return y;
        }
    }
}
