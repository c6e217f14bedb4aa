using System.Collections.Concurrent;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Backends;

/// <summary>One backend per device, created on first use.</summary>
public static class BackendRegistry
{
    private static readonly ConcurrentDictionary<Device, IBackend> _backends = new();

    /// <summary>The backend for <paramref name="device"/>; fails clearly when the device does not exist.</summary>
    public static IBackend Get(Device device) => device.Type == DeviceType.Cpu
        ? CpuBackend.Instance
        : _backends.GetOrAdd(device, d => Ilgpu.IlgpuBackend.Create(d));
}
