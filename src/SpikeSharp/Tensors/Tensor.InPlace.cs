using SpikeSharp.Autograd;
using SpikeSharp.Backends;
using SpikeSharp.Kernels;

namespace SpikeSharp;

// In-place updates for optimisers, gradient accumulation and training loops (PyTorch's add_, mul_, lerp_,
// addcmul_, zero_, fill_, copy_). They are not recorded by autograd, so they refuse any operand that requires
// gradients while the tape records: an update of a parameter belongs inside Tape.NoGrad(), as in an optimiser.
// Like PyTorch without its version counters, they do not detect a tensor saved for a backward pass and then
// changed; write into tensors that no pending backward holds (parameters after Backward, gradients, state).
public sealed partial class Tensor
{
    /// <summary>this ← this + <paramref name="other"/>·<paramref name="alpha"/> (PyTorch <c>add_</c>).</summary>
    /// <param name="other">A float32 tensor of this shape on this device.</param>
    /// <param name="alpha">Scale of <paramref name="other"/>.</param>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">Another shape, device or dtype.</exception>
    /// <exception cref="InvalidOperationException">An operand requires gradients while autograd records.</exception>
    public Tensor AddInPlace(Tensor other, float alpha = 1f)
    {
        CheckInPlace("add_in_place", other);
        if (alpha == 1f) Backend.Map(new AddOp(), Buf, other.Buf, Buf);
        else Backend.Map(new AddScaledOp { Alpha = alpha }, Buf, other.Buf, Buf);
        return this;
    }

    /// <summary>
    /// this ← this · <paramref name="other"/> (PyTorch <c>mul_</c>); <paramref name="other"/> has this shape or a
    /// single element, which scales every element (a factor computed on the device, read by no host).
    /// </summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">Another shape (and more than one element), device or dtype.</exception>
    /// <exception cref="InvalidOperationException">An operand requires gradients while autograd records.</exception>
    public Tensor MulInPlace(Tensor other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Numel == 1 && !other._shape.AsSpan().SequenceEqual(_shape))
        {
            CheckInPlaceOperand("mul_in_place", other, sameShape: false);
            if (Numel == 0) return this;
            var dims = new[] { Numel };
            // Each element reads only itself and the shared factor, so the output may alias the input.
            Backend.MapBroadcast(new MulOp(), Buf, StridedIndex.Create(dims, new[] { 1 }), other.Buf,
                StridedIndex.Create(dims, new[] { 0 }), Buf);
            DropBf16Exact();
            return this;
        }
        CheckInPlace("mul_in_place", other);
        Backend.Map(new MulOp(), Buf, other.Buf, Buf);
        return this;
    }

    /// <summary>this ← this · <paramref name="scale"/> (PyTorch <c>mul_</c> with a number).</summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">A tensor that is not float32.</exception>
    /// <exception cref="InvalidOperationException">It requires gradients while autograd records.</exception>
    public Tensor MulInPlace(float scale)
    {
        CheckInPlace("mul_in_place", null);
        Backend.Map(new AffineOp(scale, 0f), Buf, Buf);
        return this;
    }

    /// <summary>
    /// this ← this + <paramref name="weight"/>·(<paramref name="end"/> − this) (PyTorch <c>lerp_</c>): an exponential
    /// moving average of <paramref name="end"/> with rate <paramref name="weight"/>.
    /// </summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">Another shape, device or dtype.</exception>
    /// <exception cref="InvalidOperationException">An operand requires gradients while autograd records.</exception>
    public Tensor LerpInPlace(Tensor end, float weight)
    {
        CheckInPlace("lerp_in_place", end);
        Backend.Map(new LerpOp { Weight = weight }, Buf, end.Buf, Buf);
        return this;
    }

    /// <summary>this ← this + <paramref name="value"/>·<paramref name="a"/>·<paramref name="b"/> (PyTorch
    /// <c>addcmul_</c>).</summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">Another shape, device or dtype.</exception>
    /// <exception cref="InvalidOperationException">An operand requires gradients while autograd records.</exception>
    public Tensor AddcmulInPlace(Tensor a, Tensor b, float value = 1f)
    {
        CheckInPlace("addcmul_in_place", a);
        CheckInPlaceOperand("addcmul_in_place", b, sameShape: true);
        Backend.Map(new AddcmulOp { Value = value }, Buf, a.Buf, b.Buf, Buf);
        return this;
    }

    /// <summary>
    /// Sets every element to <paramref name="value"/> (converted to the dtype; PyTorch <c>fill_</c>).
    /// </summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="InvalidOperationException">It requires gradients while autograd records.</exception>
    public Tensor FillInPlace(float value)
    {
        CheckRecording("fill_in_place", this);
        Backend.Fill(Buf, value);
        DropBf16Exact();
        return this;
    }

    /// <summary>Sets every element to zero (PyTorch <c>zero_</c>).</summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="InvalidOperationException">It requires gradients while autograd records.</exception>
    public Tensor ZeroInPlace() => FillInPlace(0f);

    /// <summary>
    /// Copies <paramref name="src"/> into this tensor (PyTorch <c>copy_</c>): same shape; a source on another
    /// device is moved (through the host), one of another dtype converted as <see cref="To(DType)"/> does.
    /// </summary>
    /// <returns>This tensor.</returns>
    /// <exception cref="ArgumentException">Another shape, or a dtype conversion the backends do not have.</exception>
    /// <exception cref="InvalidOperationException">An operand requires gradients while autograd records.</exception>
    public Tensor CopyFrom(Tensor src)
    {
        ArgumentNullException.ThrowIfNull(src);
        ThrowIfDisposedFor("copy_from", this);
        ThrowIfDisposedFor("copy_from", src);
        CheckRecording("copy_from", this);
        CheckRecording("copy_from", src);
        if (!src._shape.AsSpan().SequenceEqual(_shape))
            throw new ArgumentException($"copy_from: the source has shape {ShapeUtil.Format(src._shape)}, "
                + $"this tensor {ShapeUtil.Format(_shape)}", nameof(src));
        if (ReferenceEquals(src.Storage, Storage) && src._offset == _offset) return this;
        using (Tape.NoGrad())
        {
            var moved = src.Device == Device ? null : src.Detach().To(Device);
            try
            {
                var s = moved ?? src;
                if (s.DType == DType) Backend.Copy(s.Buf, Buf);
                else Backend.Cast(s.Buf, Buf);
            }
            finally { moved?.Dispose(); }
        }
        DropBf16Exact();
        return this;
    }

    // The destination is float32, not disposed, and nothing that requires gradients is touched while recording;
    // other (when given) matches its shape, device and dtype.
    private void CheckInPlace(string op, Tensor? other)
    {
        ThrowIfDisposedFor(op, this);
        if (DType != DType.Float32)
            throw new ArgumentException($"{op}: the tensor must be float32, got {DType.Name()}");
        CheckRecording(op, this);
        if (other != null) CheckInPlaceOperand(op, other, sameShape: true);
        DropBf16Exact();
    }

    private void CheckInPlaceOperand(string op, Tensor other, bool sameShape)
    {
        ArgumentNullException.ThrowIfNull(other);
        ThrowIfDisposedFor(op, this);
        ThrowIfDisposedFor(op, other);
        if (DType != DType.Float32 || other.DType != DType.Float32)
            throw new ArgumentException($"{op}: both tensors must be float32, "
                + $"got {DType.Name()} and {other.DType.Name()}",
                nameof(other));
        if (other.Device != Device)
            throw new ArgumentException($"{op}: the operand is on {other.Device}, this tensor on {Device}; "
                + "move one with To(device)", nameof(other));
        if (sameShape && !other._shape.AsSpan().SequenceEqual(_shape))
            throw new ArgumentException($"{op}: the operand has shape {ShapeUtil.Format(other._shape)}, this tensor "
                + $"{ShapeUtil.Format(_shape)}; in-place ops do not broadcast", nameof(other));
        CheckRecording(op, other);
    }

    private static void CheckRecording(string op, Tensor t)
    {
        if (t.RequiresGrad && Tape.IsEnabled)
            throw new InvalidOperationException($"{op}: {Describe(t)} requires gradients and autograd is recording; "
                + "an in-place change is not recorded and would corrupt the gradients. Update it inside "
                + "Tape.NoGrad() (as optimisers do) or use the out-of-place op");
    }

    private static void ThrowIfDisposedFor(string op, Tensor t)
    {
        if (t.IsDisposed)
            throw new ObjectDisposedException(nameof(Tensor), $"{op}: {Describe(t)} has been disposed");
    }

    private static string Describe(Tensor t) =>
        t.Name != null ? $"tensor '{t.Name}' {ShapeUtil.Format(t._shape)}" : $"the tensor {ShapeUtil.Format(t._shape)}";
}

/// <summary>y = a + α·b (add_ with alpha).</summary>
internal struct AddScaledOp : IBinaryOp
{
    /// <summary>α.</summary>
    public float Alpha;
    /// <inheritdoc/>
    public readonly float Apply(float a, float b) => a + Alpha * b;
}

/// <summary>y = a + w·(b − a) (lerp).</summary>
internal struct LerpOp : IBinaryOp
{
    /// <summary>w.</summary>
    public float Weight;
    /// <inheritdoc/>
    public readonly float Apply(float a, float b) => a + Weight * (b - a);
}

/// <summary>y = a + v·b·c (addcmul).</summary>
internal struct AddcmulOp : ITernaryOp
{
    /// <summary>v.</summary>
    public float Value;
    /// <inheritdoc/>
    public readonly float Apply(float a, float b, float c) => a + Value * b * c;
}
