using ILGPU;
using ILGPU.Runtime;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Neurons.Ilgpu;

/// <summary>A device float view as <see cref="IFloats"/>.</summary>
internal struct DeviceFloats : IFloats
{
    public ArrayView<float> V;

    public float this[int i] { readonly get => V[i]; set => V[i] = value; }
}

/// <summary>
/// The ILGPU driver of the generic neuron-model walk: one thread per neuron (grid-stride), the model and the
/// surrogate as type arguments, so each (model, surrogate) pair compiles to its own kernel.
/// </summary>
internal sealed class IlgpuNeuronModelDriver(IlgpuBackend backend) : INeuronModelDriver
{
    private DeviceFloats Dev(Buf b) => new() { V = backend.View<float>(b) };

    public void Forward<TM>(ModelCall c) where TM : struct, INeuronModel
    {
        var k = backend.Kernel(ForwardName<TM>.Value,
            a => a.LoadKernel<ModelBufs<DeviceFloats>>(ForwardKernel<TM>));
        k(backend.Stream, backend.Launch1D(c.N), c.Map(Dev));
    }

    public void Backward<TM, TS>(ModelCall c) where TM : struct, INeuronModel where TS : struct, ISurrogate
    {
        var k = backend.Kernel(BackwardName<TM, TS>.Value,
            a => a.LoadKernel<ModelBufs<DeviceFloats>>(BackwardKernel<TM, TS>));
        k(backend.Stream, backend.Launch1D(c.N), c.Map(Dev));
    }

    // Kernel cache keys, built once per instantiation. Assembly-qualified: a user's model or surrogate may share
    // its name, even its namespace, with another one.
    private static class ForwardName<TM>
    {
        public static readonly string Value = "model-fwd-" + typeof(TM).AssemblyQualifiedName;
    }

    private static class BackwardName<TM, TS>
    {
        public static readonly string Value = "model-bwd-" + typeof(TM).AssemblyQualifiedName + "-"
            + typeof(TS).AssemblyQualifiedName;
    }

    private static void ForwardKernel<TM>(ModelBufs<DeviceFloats> b) where TM : struct, INeuronModel
    {
        int stride = Grid.DimX * Group.DimX;
        for (int n = Grid.GlobalIndex.X; n < b.N; n += stride)
            NeuronModelWalk.Forward<TM, DeviceFloats>(b, NeuronModelWalk.Gather<TM, DeviceFloats>(b, n), n);
    }

    private static void BackwardKernel<TM, TS>(ModelBufs<DeviceFloats> b)
        where TM : struct, INeuronModel where TS : struct, ISurrogate
    {
        int stride = Grid.DimX * Group.DimX;
        for (int n = Grid.GlobalIndex.X; n < b.N; n += stride)
            NeuronModelWalk.Backward<TM, TS, DeviceFloats>(b, NeuronModelWalk.Gather<TM, DeviceFloats>(b, n), n);
    }
}
