namespace SpikeSharp;

// The exactness mark: tensors whose values bfloat16 represents exactly (spikes), so that matrix products with
// them may run as exact split bfloat16 GEMMs (Ops/SpikeGemm.cs). The mark lives on the storage, not the tensor
// object: every view of a storage sees the same values, so views inherit it for free, and one write through any
// of them must clear it for all.
public sealed partial class Tensor
{
    /// <summary>
    /// True when every value of this tensor is known to be exactly representable in bfloat16: the spikes (0 or 1)
    /// returned by the fused neuron functions (<see cref="Neurons.SpikingFunctions"/>, the spiking models of
    /// <see cref="Neurons.NeuronModels"/>) and what shares or copies their values unchanged: reshape and its
    /// relatives (flatten, squeeze, unsqueeze), detach, permute and transpose, narrow; and the causal attention
    /// accumulation of spikes (<see cref="Attention.CausalAccumulation"/>: whole counts up to 256). Every other op
    /// returns an unmarked tensor. The mark is dropped for good (on every view of the memory) as soon as anything may
    /// write into the tensor in place: it is made to require gradients (a parameter), it gets a gradient or becomes
    /// one, it becomes a module buffer or batch-norm running statistics. It cannot be set through the public API.
    /// </summary>
    /// <remarks>Used by <see cref="Precision.ExactSpikeGemm"/>; it never changes a result on the CPU.</remarks>
    public bool IsBf16Exact
    {
        get => _storage is { IsReleased: false, Bf16Exact: true } s && s.DType == DType.Float32;
        internal set
        {
            var s = Storage;
            if (value && s.DType != DType.Float32)
                throw new InvalidOperationException(
                    $"IsBf16Exact: only float32 tensors carry the mark, this one is {s.DType.Name()}");
            s.Bf16Exact = value;
            if (!value) s.Binary = false;
        }
    }

    /// <summary>
    /// The stronger mark of spikes: every value is 0 or 1 (so also <see cref="IsBf16Exact"/>). Set by the neuron
    /// functions, kept and dropped exactly as <see cref="IsBf16Exact"/> is; ops that stay exact only on 0/1 inputs
    /// (the causal attention accumulation's counts) read it.
    /// </summary>
    internal bool IsBinary
    {
        get => IsBf16Exact && _storage!.Binary;
        set
        {
            if (value) IsBf16Exact = true; // checks the dtype
            Storage.Binary = value;
        }
    }

    /// <summary>Gives <paramref name="copy"/> (a fresh tensor holding this one's values, rearranged) this tensor's
    /// mark. Returns <paramref name="copy"/>.</summary>
    internal Tensor KeepBf16Exact(Tensor copy)
    {
        if (IsBf16Exact) copy.IsBf16Exact = true;
        if (IsBinary) copy.IsBinary = true;
        return copy;
    }

    /// <summary>Drops the mark of this tensor's memory (all its views): something may write into it in place.</summary>
    internal void DropBf16Exact()
    {
        if (_storage is { } s) s.Bf16Exact = s.Binary = false;
    }
}
