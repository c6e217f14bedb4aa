using SpikeSharp.Kernels;
using static SpikeSharp.OpHelpers;
using static SpikeSharp.Tensor;

namespace SpikeSharp;

/// <summary>
/// Checks for NaN and infinity: a device-side flag for training loops, a host check where a sync is fine.
/// </summary>
public static class ValidationOps
{
    extension(Tensor x)
    {
        /// <summary>
        /// A float32 scalar on the device: 1 when every element is finite (no NaN, no ±inf), else 0. No host
        /// synchronisation; integer tensors are always finite. Not differentiable.
        /// </summary>
        public Tensor AllFinite()
        {
            var y = Empty(Array.Empty<int>(), DType.Float32, x.Device);
            if (x.DType != DType.Float32 || x.Numel == 0) { x.Backend.Fill(y.Buf, 1f); return y; }
            using var f = Empty(x.Dims, DType.Float32, x.Device);
            x.Backend.Map(new IsFiniteOp(), x.Buf, f.Buf);
            x.Backend.Reduce(new MinOp(), f.Buf, y.Buf, 1, x.Numel, 1);
            return y;
        }

        /// <summary>
        /// Throws when any element is NaN or infinite, naming <paramref name="paramName"/>, the counts and the first
        /// bad position. Reads a flag back to the host (a synchronisation): use it outside the hot loop.
        /// </summary>
        /// <returns>This tensor, for chaining.</returns>
        /// <exception cref="ArgumentException">Some element is not finite.</exception>
        public Tensor EnsureFinite(string paramName)
        {
            using (var ok = x.AllFinite())
                if (ok.Item() == 1f) return x;
            var data = x.ToArray();
            int nan = 0, inf = 0, first = -1;
            for (int i = 0; i < data.Length; i++)
            {
                if (float.IsNaN(data[i])) nan++;
                else if (float.IsInfinity(data[i])) inf++;
                else continue;
                if (first < 0) first = i;
            }
            throw new ArgumentException(
                $"{paramName}: expected finite values, but the tensor"
                    + $"{(x.Name != null ? " '" + x.Name + "'" : "")} {ShapeUtil.Format(x.Dims)} has {nan} "
                    + $"NaN and {inf} infinite element(s); the first at flat index {first} ({data[first]})",
                paramName);
        }
    }
}
