using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;

namespace SpikeSharp;

public sealed partial class Tensor
{
    private static int[] CheckShape(ReadOnlySpan<int> shape, string op)
    {
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"{op}: negative dimension in "
                + $"shape {ShapeUtil.Format(shape)}", "shape");
        if (ShapeUtil.Numel(shape) > int.MaxValue)
            throw new ArgumentException($"{op}: shape {ShapeUtil.Format(shape)} has more than 2^31-1 "
                + "elements", "shape");
        return shape.ToArray();
    }

    /// <summary>An uninitialised tensor.</summary>
    public static Tensor Empty(ReadOnlySpan<int> shape, DType dtype = DType.Float32, Device? device = null)
    {
        var s = CheckShape(shape, "empty");
        var backend = BackendRegistry.Get(device ?? Device.Default);
        return new Tensor(backend.Allocate(dtype, (int)ShapeUtil.Numel(s)), 0, s, addRef: false);
    }

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(ReadOnlySpan<int> shape, float value, DType dtype = DType.Float32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        t.Backend.Fill(t.Buf, value);
        return t;
    }

    /// <summary>Zeros.</summary>
    public static Tensor Zeros(ReadOnlySpan<int> shape, Device? device = null, DType dtype = DType.Float32) =>
        Full(shape, 0f, dtype, device);

    /// <summary>Ones.</summary>
    public static Tensor Ones(ReadOnlySpan<int> shape, Device? device = null, DType dtype = DType.Float32) =>
        Full(shape, 1f, dtype, device);

    /// <summary>A one-element tensor of shape [] holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(float value, Device? device = null) =>
        Full(ReadOnlySpan<int>.Empty, value, DType.Float32, device);

    /// <summary>Zeros shaped like <paramref name="t"/>, on its device.</summary>
    public static Tensor ZerosLike(Tensor t) => Zeros(t._shape, t.Device, t.DType);

    /// <summary>Ones shaped like <paramref name="t"/>, on its device.</summary>
    public static Tensor OnesLike(Tensor t) => Ones(t._shape, t.Device, t.DType);

    /// <summary>[start, start+step, ...) below <paramref name="end"/>, float32.</summary>
    public static Tensor Arange(float start, float end, float step = 1f, Device? device = null)
    {
        if (step == 0f || float.IsNaN(step)) throw new ArgumentException("arange: step must be nonzero", nameof(step));
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / step));
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = start + i * step;
        return FromArray(data, new[] { n }, device);
    }

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape (default: 1-D).</summary>
    public static Tensor FromArray<T>(T[] data, int[]? shape = null, Device? device = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        shape ??= new[] { data.Length };
        if (ShapeUtil.Numel(shape) != data.Length)
            throw new ArgumentException($"from_array: "
                + $"shape {ShapeUtil.Format(shape)} needs {ShapeUtil.Numel(shape)} elements, the array "
                + $"has {data.Length}", nameof(shape));
        var t = Empty(shape, DTypeExtensions.Of<T>(), device);
        t.Backend.Upload<T>(data, t.Buf);
        return t;
    }

    /// <summary>Uniform random numbers in [lo, hi).</summary>
    public static Tensor Rand(ReadOnlySpan<int> shape, Generator? gen = null, Device? device = null,
        float lo = 0f, float hi = 1f)
    {
        var t = Empty(shape, DType.Float32, device);
        var (kl, kh, off) = (gen ?? Generator.Default).Take(t.Numel);
        t.Backend.MapIndexed(new UniformOp { KeyLo = kl, KeyHi = kh, Offset = off, Lo = lo, Hi = hi }, t.Buf, t.Buf);
        return t;
    }

    /// <summary>Normal random numbers.</summary>
    public static Tensor Randn(ReadOnlySpan<int> shape, Generator? gen = null, Device? device = null,
        float mean = 0f, float std = 1f)
    {
        var t = Empty(shape, DType.Float32, device);
        var (kl, kh, off) = (gen ?? Generator.Default).Take(2L * t.Numel); // two counters per element
        t.Backend.MapIndexed(new NormalOp { KeyLo = kl, KeyHi = kh, Offset = off, Mean = mean,
            Std = std }, t.Buf, t.Buf);
        return t;
    }

    /// <summary>1 with probability p (element-wise), else 0. Not differentiable.</summary>
    public static Tensor Bernoulli(Tensor p, Generator? gen = null)
    {
        p.CheckFloat("bernoulli");
        var t = Empty(p._shape, DType.Float32, p.Device);
        var (kl, kh, off) = (gen ?? Generator.Default).Take(t.Numel);
        t.Backend.MapIndexed(new BernoulliOp { KeyLo = kl, KeyHi = kh, Offset = off }, p.Buf, t.Buf);
        return t;
    }

    // ---- copies and conversions ----

    /// <summary>A copy with its own storage (differentiable).</summary>
    public Tensor Clone()
    {
        var r = Empty(_shape, DType, Device);
        Backend.Copy(Buf, r.Buf);
        if (Tape.Needs(this)) Tape.Record("clone", r, Saves.None, g => new[] { g }, this);
        return r;
    }

    /// <summary>The same data, cut from the tape (shares storage).</summary>
    public Tensor Detach() => View(0, _shape);

    /// <summary>A copy on another device (differentiable); returns a new tensor even when already there.</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return Clone();
        var r = Empty(_shape, DType, device);
        switch (DType)
        {
            case DType.Float32: r.Backend.Upload<float>(ToArray<float>(), r.Buf); break;
            case DType.Int32: r.Backend.Upload<int>(ToArray<int>(), r.Buf); break;
            case DType.UInt8: r.Backend.Upload<byte>(ToArray<byte>(), r.Buf); break;
            case DType.Float16: r.Backend.Upload<Half>(ToArray<Half>(), r.Buf); break;
        }
        var src = Device;
        if (Tape.Needs(this)) Tape.Record("to_device", r, Saves.None, g => new[] { g.To(src) }, this);
        return r;
    }

    /// <summary>A converted copy (float32 ↔ float16 is differentiable).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return Clone();
        var r = Empty(_shape, dtype, Device);
        Backend.Cast(Buf, r.Buf);
        return r;
    }

    /// <summary>
    /// Backpropagates from this tensor: accumulates d(this)/d(leaf) · gradient into every leaf's
    /// <see cref="Grad"/>. A scalar needs no <paramref name="gradient"/>. The graph is freed unless
    /// <paramref name="retainGraph"/>.
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) =>
        Tape.Backward(this, gradient, retainGraph);
}
