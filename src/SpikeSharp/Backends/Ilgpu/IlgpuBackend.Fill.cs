using ILGPU;
using ILGPU.Runtime;

namespace SpikeSharp.Backends.Ilgpu;

// Fill, Cast and the device-side error flag.
public sealed partial class IlgpuBackend
{
    private const int ErrorSlots = 4; // [op code, offending value, position, bound]
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _errors;
    private long _errorKernels, _errorKernelsChecked;

    /// <summary>Codes a kernel writes into the error flag; the names appear in the exception.</summary>
    internal enum KernelError { None = 0, IndexSelect = 1, IndexAdd = 2, OneHot = 3 }

    /// <summary>
    /// The device error flag; pass to kernels that can fail and call <see cref="ErrorKernelLaunched"/> after the
    /// launch.
    /// </summary>
    internal ArrayView<int> ErrorFlag => _errors.View;

    /// <summary>Counts a launched kernel that may raise an error, so the next sync reads the flag
    /// (syncs with nothing such pending skip the read).</summary>
    internal void ErrorKernelLaunched() => Interlocked.Increment(ref _errorKernels);

    /// <summary>Records the first error of a kernel (later ones are dropped). Kernel-side.</summary>
    internal static void RaiseError(ArrayView<int> flag, int code, int value, int position, int bound)
    {
        if (Atomic.CompareExchange(ref flag[0], 0, -1) == 0)
        {
            flag[1] = value; flag[2] = position; flag[3] = bound;
            Atomic.Exchange(ref flag[0], code);
        }
    }

    private void CheckErrors()
    {
        // Read the count before the sync: every kernel it covers has then finished.
        long launched = Interlocked.Read(ref _errorKernels);
        if (launched == Interlocked.Read(ref _errorKernelsChecked)) return;
        Stream.Synchronize();
        var e = new int[ErrorSlots];
        _errors.View.CopyToCPU(Stream, e.AsSpan());
        Stream.Synchronize();
        long seen;
        do seen = Interlocked.Read(ref _errorKernelsChecked);
        while (seen < launched && Interlocked.CompareExchange(ref _errorKernelsChecked, launched, seen) != seen);
        if (e[0] == 0) return;
        _errors.View.MemSetToZero(Stream);
        Stream.Synchronize();
        throw (KernelError)e[0] switch
        {
            KernelError.IndexSelect => new IndexOutOfRangeException(
                $"index_select: index {e[1]} at position {e[2]} is out of range [0, {e[3]})"),
            KernelError.IndexAdd => new IndexOutOfRangeException(
                $"index_add: index {e[1]} at position {e[2]} is out of range [0, {e[3]})"),
            KernelError.OneHot => new IndexOutOfRangeException(
                $"one_hot: label {e[1]} at position {e[2]} is out of range [0, {e[3]})"),
            _ => new InvalidOperationException(
                $"a kernel on {Device} reported error code {e[0]} (value {e[1]}, position {e[2]}, bound {e[3]})"),
        };
    }

    /// <inheritdoc/>
    public void Fill(Buf dst, float value)
    {
        if (dst.Length == 0) return;
        switch (dst.DType)
        {
            case DType.Float32: FillBits(dst, BitConverter.SingleToInt32Bits(value)); break;
            case DType.Int32: FillBits(dst, (int)value); break;
            case DType.Float16: FillT(Raw<ushort>(dst), BitConverter.HalfToUInt16Bits((System.Half)value)); break;
            case DType.UInt8: FillT(Raw<byte>(dst), (byte)value); break;
            default: throw new NotSupportedException($"fill: dtype {dst.DType.Name()}");
        }
    }

    private void FillBits(Buf dst, int bits)
    {
        if (bits == 0) { Bytes(dst).MemSetToZero(Stream); return; }
        FillT(Raw<int>(dst), bits);
    }

    private void FillT<T>(ArrayView<T> y, T v) where T : unmanaged
    {
        var k = Kernel("fill", a => a.LoadKernel<ArrayView<T>, int, T>(FillKernel));
        k(Stream, Launch1D(y.Length), y, (int)y.Length, v);
    }

    private static void FillKernel<T>(ArrayView<T> y, int n, T v) where T : unmanaged
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = v;
    }

    /// <inheritdoc/>
    public void Cast(Buf src, Buf dst)
    {
        CheckLen(src.Length, dst.Length, "cast");
        if (src.Length == 0) return;
        switch (src.DType, dst.DType)
        {
            case (DType.Float32, DType.Float16): CastT<float, ushort, F32ToF16>(src, dst); break;
            case (DType.Float16, DType.Float32): CastT<ushort, float, F16ToF32>(src, dst); break;
            case (DType.Float32, DType.Int32): CastT<float, int, F32ToI32>(src, dst); break;
            case (DType.Int32, DType.Float32): CastT<int, float, I32ToF32>(src, dst); break;
            case (DType.UInt8, DType.Float32): CastT<byte, float, U8ToF32>(src, dst); break;
            case (DType.UInt8, DType.Int32): CastT<byte, int, U8ToI32>(src, dst); break;
            default:
                if (src.DType == dst.DType) { Copy(src, dst); break; }
                throw new NotSupportedException($"cast from {src.DType.Name()} to {dst.DType.Name()} is not supported");
        }
    }

    private void CastT<TIn, TOut, TConv>(Buf src, Buf dst)
        where TIn : unmanaged where TOut : unmanaged where TConv : struct, IConvert<TIn, TOut>
    {
        var k = Kernel("cast", a =>
            a.LoadKernel<ArrayView<TIn>, ArrayView<TOut>, int, TConv>(CastKernel<TIn, TOut, TConv>));
        k(Stream, Launch1D(src.Length), View<TIn>(src), View<TOut>(dst), src.Length, default);
    }

    private static void CastKernel<TIn, TOut, TConv>(ArrayView<TIn> x, ArrayView<TOut> y, int n, TConv c)
        where TIn : unmanaged where TOut : unmanaged where TConv : struct, IConvert<TIn, TOut>
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride) y[i] = c.Convert(x[i]);
    }

    internal interface IConvert<TIn, TOut> { TOut Convert(TIn x); }

    internal struct F32ToF16 : IConvert<float, ushort>
    {
        public readonly ushort Convert(float x) => HalfBits.FromFloat(x);
    }

    internal struct F16ToF32 : IConvert<ushort, float>
    {
        public readonly float Convert(ushort x) => HalfBits.ToFloat(x);
    }

    internal struct F32ToI32 : IConvert<float, int> { public readonly int Convert(float x) => (int)x; }
    internal struct I32ToF32 : IConvert<int, float> { public readonly float Convert(int x) => x; }
    internal struct U8ToF32 : IConvert<byte, float> { public readonly float Convert(byte x) => x; }
    internal struct U8ToI32 : IConvert<byte, int> { public readonly int Convert(byte x) => x; }
}
