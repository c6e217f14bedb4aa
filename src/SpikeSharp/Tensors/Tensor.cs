using System.Text;
using SpikeSharp.Autograd;
using SpikeSharp.Backends;

namespace SpikeSharp;

/// <summary>
/// A contiguous, row-major n-dimensional array on a device, with a place on the autograd tape.
/// Sequences are time-major: (T, B, ...). A tensor owns (a share of) one backend storage and must be
/// disposed, directly or through a <see cref="TensorScope"/>: GPU memory is invisible to the GC.
/// Reads to the host are explicit (<see cref="ToArray{T}"/>, <see cref="Item"/>).
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private static long _live, _created;
    private Storage? _storage;
    private int _offset;
    private readonly int[] _shape;

    internal Tensor(Storage storage, int offset, int[] shape, bool addRef)
    {
        if (addRef) storage.AddRef();
        _storage = storage;
        _offset = offset;
        _shape = shape;
        Numel = checked((int)ShapeUtil.Numel(shape));
        Id = Interlocked.Increment(ref _created);
        Interlocked.Increment(ref _live);
        TensorScope.Track(this);
    }

    /// <summary>Number of tensors created and not yet disposed (for leak tests).</summary>
    public static long LiveCount => Interlocked.Read(ref _live);

    /// <summary>Number of tensors created so far: a tensor whose <see cref="Id"/> is larger was created after the
    /// moment this was read (the backward pass and the containers use it to tell their own tensors from others).
    /// </summary>
    internal static long CreatedCount => Interlocked.Read(ref _created);

    /// <summary>Creation number, increasing over the process.</summary>
    internal long Id { get; }

    /// <summary>
    /// The dimensions themselves, not a copy, for the tensor layer (Tensors/, Ops/, Autograd/) where a copy per op
    /// would add up; it must never be mutated (views share it). Everything else uses <see cref="Shape"/>,
    /// <see cref="Size"/>, <see cref="Rank"/> or <see cref="Numel"/> (ArchitectureTests checks this).
    /// </summary>
    internal int[] Dims => _shape;

    /// <summary>Where this tensor starts in its storage, in elements (for sub-buffers of ops).</summary>
    internal int Offset => _offset;

    /// <summary>The dimensions (a copy).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Numel { get; }

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public int Size(int dim) => _shape[ShapeUtil.NormDim(dim, Rank, "size")];

    /// <summary>Element type.</summary>
    public DType DType => Storage.DType;

    /// <summary>The device holding the data.</summary>
    public Device Device => Storage.Backend.Device;

    /// <summary>The backend that runs this tensor's kernels.</summary>
    public IBackend Backend => Storage.Backend;

    /// <summary>An optional name (parameters get theirs from the module tree).</summary>
    public string? Name { get; set; }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _storage == null || _storage.IsReleased;

    internal Storage Storage => _storage ?? throw new ObjectDisposedException(nameof(Tensor),
        $"tensor{(Name != null ? " '" + Name + "'" : "")} {ShapeUtil.Format(_shape)} "
        + "has been disposed and cannot be used" + (DisposedHint != null ? ": " + DisposedHint : ""));

    /// <summary>Why this tensor may be disposed by its owner, added to the message of a use after disposal (an owner
    /// that frees what it hands out, such as a data loader, says here how to keep it); null for none.</summary>
    public string? DisposedHint { get; set; }

    internal Buf Buf => new(Storage, _offset, Numel);

    // ---- autograd state ----
    private bool _requiresGrad;

    /// <summary>Whether gradients flow to this tensor. Only leaves can be set by the user.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (GradFn != null && !value)
                throw new InvalidOperationException("RequiresGrad: cannot turn off gradients of a non-leaf "
                    + "tensor; use Detach()");
            if (value && DType != DType.Float32)
                throw new InvalidOperationException($"RequiresGrad: only float32 tensors can require gradients, this "
                    + $"one is {DType.Name()}");
            if (value) DropBf16Exact(); // parameters are updated in place
            _requiresGrad = value;
        }
    }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward"/>; null before.</summary>
    public Tensor? Grad
    {
        get => _grad;
        set
        {
            // Gradients and the tensors that own them are written in place (accumulation, optimisers).
            if (value != null) { value.DropBf16Exact(); DropBf16Exact(); }
            _grad = value;
        }
    }

    private Tensor? _grad;

    internal Node? GradFn { get; set; }
    internal int OutputIndex { get; set; }

    /// <summary>True for tensors not produced by a recorded op.</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>Parameters and other long-lived tensors are not freed by scopes.</summary>
    public bool IsPersistent { get; private set; }

    internal void MarkRequiresGradFromOp() => _requiresGrad = true;

    /// <summary>
    /// Keeps this tensor alive past every enclosing <see cref="TensorScope"/> (for parameters, state, results).
    /// </summary>
    public Tensor Persist()
    {
        IsPersistent = true;
        TensorScope.Untrack(this);
        return this;
    }

    /// <summary>Moves this tensor out of the innermost scope into its parent (or out of scopes entirely).</summary>
    public Tensor MoveToOuterScope()
    {
        TensorScope.MoveOut(this);
        return this;
    }

    // ---- early release (see Release) ----
    private int _pins;
    private bool _released;

    /// <summary>
    /// Says that the caller is done with this tensor: it is freed now, or, when recorded ops saved it for their
    /// backward pass, as soon as the last of them has run its backward (or the enclosing scope ends). The library
    /// calls it on the intermediates it makes and does not return (each layer's output inside
    /// <see cref="Nn.Sequential"/>, an op's temporaries), so a training step holds what its backward pass needs
    /// instead of every tensor of the step; a custom layer can do the same with its own intermediates. Persistent
    /// tensors and leaves that collect a gradient are left alone. Using the tensor after it was freed throws
    /// <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <example><code>
    /// var h = x.Matmul(w1);           // matmul keeps x and w1, not h
    /// var y = h.Relu().Matmul(w2);    // relu keeps h: h lives until relu's backward has run
    /// h.Release();
    /// </code></example>
    public void Release()
    {
        if (IsPersistent || _storage == null || (GradFn == null && _requiresGrad)) return;
        _released = true;
        DisposedHint ??= "it was released as an intermediate (Tensor.Release: Sequential, MultiStep and composite ops "
            + "free what they made once it was used and no backward pass needs it); keep a Clone() to use it later";
        if (_pins == 0) Dispose();
    }

    /// <summary>A recorded op keeps this tensor for its backward pass: <see cref="Release"/> waits for it.</summary>
    internal void Pin() => _pins++;

    /// <summary>The op that pinned this tensor no longer needs it (its backward ran or its graph was freed).</summary>
    internal void Unpin()
    {
        if (--_pins == 0 && _released) Dispose();
    }

    /// <summary>Frees this tensor's share of the storage. Idempotent.</summary>
    public void Dispose()
    {
        var s = Interlocked.Exchange(ref _storage, null);
        if (s == null) return;
        Interlocked.Decrement(ref _live);
        s.Release();
    }

    /// <summary>
    /// Moves this tensor's data to <paramref name="device"/> in place: the same object afterwards holds a copy
    /// on the new device and its share of the old storage is released, so every holder of the reference
    /// (optimisers, modules, user code) sees the move. Views taken before keep the old data. Not recorded on
    /// the tape.
    /// </summary>
    internal void MoveDataTo(Device device)
    {
        var old = Storage;
        if (old.Backend.Device == device) return;
        var backend = BackendRegistry.Get(device);
        var fresh = backend.Allocate(DType, Numel);
        var dst = new Buf(fresh, 0, Numel);
        try
        {
            switch (DType)
            {
                case DType.Float32: backend.Upload<float>(ToArray<float>(), dst); break;
                case DType.Int32: backend.Upload<int>(ToArray<int>(), dst); break;
                case DType.UInt8: backend.Upload<byte>(ToArray<byte>(), dst); break;
                case DType.Float16: backend.Upload<Half>(ToArray<Half>(), dst); break;
                default: throw new NotSupportedException($"MoveDataTo: dtype {DType}");
            }
        }
        catch
        {
            fresh.Release();
            throw;
        }
        _storage = fresh;
        _offset = 0;
        old.Release();
    }

    /// <summary>A new tensor sharing this one's storage (offset and shape must fit).</summary>
    internal Tensor View(int offset, int[] shape) => new(Storage, _offset + offset, shape, addRef: true);

    // ---- host reads ----

    /// <summary>Copies the data to a new host array (waits for the device).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new InvalidOperationException($"ToArray<{typeof(T).Name}>: tensor dtype is {DType.Name()}; convert "
                + "with To(DType) first");
        var r = new T[Numel];
        Backend.Download<T>(Buf, r);
        return r;
    }

    /// <summary>float32 data as a host array.</summary>
    public float[] ToArray() => ToArray<float>();

    /// <summary>The single value of a one-element float32 tensor.</summary>
    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item: tensor "
            + $"has {Numel} elements {ShapeUtil.Format(_shape)}, expected 1");
        if (DType == DType.Int32) return ToArray<int>()[0];
        return ToArray()[0];
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        if (IsDisposed) return $"Tensor{ShapeUtil.Format(_shape)} (disposed)";
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(ShapeUtil.Format(_shape)).Append(", ").Append(DType.Name()).Append(", ")
            .Append(Device);
        if (RequiresGrad) sb.Append(", requires_grad");
        if (GradFn != null) sb.Append(", grad_fn=").Append(GradFn.Op);
        sb.Append('\n');
        const int max = 12;
        string[] vals = DType switch
        {
            DType.Float32 => Head(ToArray<float>(), max, v =>
                v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture)),
            DType.Int32 => Head(ToArray<int>(), max, v => v.ToString()),
            DType.UInt8 => Head(ToArray<byte>(), max, v => v.ToString()),
            _ => Head(ToArray<Half>(), max, v =>
                ((float)v).ToString("G4", System.Globalization.CultureInfo.InvariantCulture)),
        };
        sb.Append('[').Append(string.Join(", ", vals)).Append(Numel > max ? ", ...]" : "]");
        return sb.ToString();
    }

    private static string[] Head<T>(T[] a, int max, Func<T, string> f) => a.Take(max).Select(f).ToArray();
}
