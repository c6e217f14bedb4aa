using SpikeSharp.Attention;
using SpikeSharp.Neurons;
using SpikeSharp.Neurons.Ilgpu;
using SpikeSharp.Optim;

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
    /// Convolutions go through cuDNN on CUDA devices where it loads (<see cref="Cudnn"/>); elsewhere, the emulated
    /// device included, no <see cref="IConv2dKernels"/> is registered and conv takes its generic im2col path.
    /// </summary>
    public static KernelFamilies Create(IlgpuBackend backend)
    {
        var families = KernelFamilies.For(backend.Device)
            .Add<INeuronDriver>(new IlgpuNeuronDriver(backend))
            .Add<INeuronModelDriver>(new IlgpuNeuronModelDriver(backend))
            .Add<ICausalAccumulationKernels>(new IlgpuCausalAccumulation(backend))
            .Add<IOptimizerKernels>(new IlgpuOptimizerKernels(backend))
            .Add<IBatchNormKernels>(new IlgpuBatchNorm(backend))
            .Add<ILayerNormKernels>(new IlgpuLayerNorm(backend))
            .Add<IPool2dKernels>(new IlgpuPool2d(backend));
        if (backend.IsCuda && Cudnn.Instance is { } cudnn)
            families.Add<IConv2dKernels>(new CudnnConvKernels(backend, cudnn));
        return families.Build();
    }
}
