using SpikeSharp.Attention;
using SpikeSharp.Neurons;
using SpikeSharp.Optim;

namespace SpikeSharp.Backends.Cpu;

/// <summary>
/// Every kernel family of the CPU backend beyond the <see cref="IBackend"/> primitives, registered in this one
/// place (<see cref="CpuBackend.Family{TFamily}"/> reads it). The implementations live with their features.
/// CPU families fail synchronously at the call, so none implements <see cref="IDeviceErrorCheck"/>
/// (a test checks it: the CPU backend's Download runs no checks).
/// </summary>
internal static class CpuKernelFamilies
{
    /// <summary>The registry, built on first use.</summary>
    public static KernelFamilies All { get; } = KernelFamilies.For(Device.Cpu)
        .Add<INeuronDriver>(CpuNeuronDriver.Instance)
        .Add<INeuronModelDriver>(CpuNeuronModelDriver.Instance)
        .Add<ICausalAccumulationKernels>(CpuCausalAccumulation.Instance)
        .Add<IOptimizerKernels>(CpuOptimizerKernels.Instance)
        .Add<IBatchNormKernels>(CpuBatchNorm.Instance)
        .Add<ILayerNormKernels>(CpuLayerNorm.Instance)
        .Add<IPool2dKernels>(CpuPool2d.Instance)
        .Add<IConv2dKernels>(CpuConv.Instance)
        .Build();
}
