using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace SpikeSharp.Backends.Ilgpu;

/// <summary>
/// The one ILGPU context of the process, built explicitly: CUDA devices (none when the driver is
/// missing) plus an emulated CPU device with NVIDIA-like warps, O2 optimisation, no assertions.
/// </summary>
internal static class IlgpuRuntime
{
    /// <summary>
    /// The emulated device: warp size 32 as on NVIDIA so warp code behaves the same; two warps per
    /// group and one multiprocessor, because the emulation runs one OS thread per GPU thread and
    /// more threads only add context switches (kernels adapt to the 64-thread groups).
    /// </summary>
    public static readonly CPUDevice EmulatedDevice =
        new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 2, numMultiprocessors: 1);

    private static readonly Lazy<Context> _context = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The shared context (created on first use).</summary>
    public static Context Context => _context.Value;

    private static Context Build()
    {
        try
        {
            return Context.Create(b =>
                b.Cuda().CPU(EmulatedDevice).EnableAlgorithms().Profiling().Optimize(OptimizationLevel.O2));
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException
            or EntryPointNotFoundException or InvalidOperationException)
        {
            // A broken or partial CUDA installation must not take the CPU emulation down with it.
            return Context.Create(b =>
                b.CPU(EmulatedDevice).EnableAlgorithms().Profiling().Optimize(OptimizationLevel.O2));
        }
    }

    /// <summary>The CUDA devices ILGPU found, in driver order.</summary>
    public static IReadOnlyList<CudaDevice> CudaDevices =>
        Context.Devices.OfType<CudaDevice>().ToArray();

    /// <summary>The emulated CPU device registered in the context.</summary>
    public static CPUDevice CpuDevice => Context.Devices.OfType<CPUDevice>().First();
}
