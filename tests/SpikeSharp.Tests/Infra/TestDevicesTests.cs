using SpikeSharp.Backends;

namespace SpikeSharp.Tests;

/// <summary>The device list of the parametrised tests cannot shrink silently.</summary>
public class TestDevicesTests
{
    [Fact]
    public void TheEmulationIsAlwaysTestedAndTrainingSkipsIt()
    {
        Assert.Equal(Device.Cpu, TestDevices.All[0]);
        Assert.Contains(Device.IlgpuCpu, TestDevices.All);
        Assert.Equal(TestDevices.All.Length, TestDevices.Names.Count());
        Assert.DoesNotContain(Device.IlgpuCpu, TestDevices.Training);
        Assert.Equal(TestDevices.All.Where(d => d != Device.IlgpuCpu), TestDevices.Training);
        Assert.Equal(DeviceCatalog.CudaDeviceCount > 0, TestDevices.All.Contains(Device.Cuda(0)));
    }

    [Fact]
    public void AnExpectedDeviceThatFailsToStartIsAnError()
    {
        // cuda:64 does not exist anywhere: the error says which device and why, instead of dropping it.
        var e = Expect.Throws<InvalidOperationException>(() => TestDevices.Start(Device.Cuda(64)),
            "cuda:64", "failed to start", "does not exist");
        Assert.IsType<ArgumentException>(e.InnerException);
    }

    [CudaFact]
    public void ACudaMachineRunsTheCudaRows()
    {
        Assert.Contains(Device.Cuda(0), TestDevices.All);
        Assert.Contains(Device.Cuda(0), TestDevices.Training);
    }
}
