using SpikeSharp.Attention;
using SpikeSharp.Neurons;
using SpikeSharp.Neurons.Ilgpu;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// Every kernel family of the ILGPU backend beyond the <see cref="IBackend"/> primitives, registered in this one
/// place (<see cref="IlgpuBackend.Family{TFamily}"/> reads it). The implementations live with their features; the
/// ones whose kernels report bad inputs through a device flag implement <see cref="IDeviceErrorCheck"/>, which
/// <see cref="IlgpuBackend.Download{T}"/> runs.
/// </summary>
internal static class IlgpuKernelFamilies
{
    /// <summary>The registry of one backend, built at its creation (the families allocate nothing until used).
    /// </summary>
    public static KernelFamilies Create(IlgpuBackend backend) => KernelFamilies.For(backend.Device)
        .Add<INeuronDriver>(new IlgpuNeuronDriver(backend))
        .Add<INeuronModelDriver>(new IlgpuNeuronModelDriver(backend))
        .Add<ICausalAccumulationKernels>(new IlgpuCausalAccumulation(backend))
        .Add<IBatchNormKernels>(new IlgpuBatchNorm(backend)).Add<IPool2dKernels>(new IlgpuPool2d(backend))
        .Build();
}
