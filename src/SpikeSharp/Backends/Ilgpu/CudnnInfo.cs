using SpikeSharp.Backends.Ilgpu;

namespace SpikeSharp.Backends;

/// <summary>
/// What the GPU backend found of cuDNN, for <c>spikesharp info</c> and benchmarks. Cheap and safe to call without a
/// GPU or without cuDNN: nothing here throws for a missing library.
/// </summary>
public static class CudnnInfo
{
    /// <summary>True when a supported cuDNN library loaded and exports every function the convolutions use.</summary>
    public static bool Loaded => Cudnn.Instance != null;

    /// <summary>The file that was loaded (e.g. /usr/lib/x86_64-linux-gnu/libcudnn.so.9), or null.</summary>
    public static string? LibraryPath => Cudnn.Loaded.Path;

    /// <summary>The library's version ("9.10.1"), or null when none loaded.</summary>
    public static string? Version => Cudnn.Loaded.Api != null ? Cudnn.FormatVersion(Cudnn.Loaded.Version) : null;

    /// <summary>Why cuDNN is not used (one line), or null when it loaded.</summary>
    public static string? LoadError => Cudnn.Loaded.Error;

    /// <summary>
    /// Whether convolutions on <paramref name="device"/> go through cuDNN: null when they do, else why not (the
    /// device is not CUDA, the library is missing, or its handle could not be created there). Starts the device's
    /// backend.
    /// </summary>
    public static string? UnavailableOn(Device device)
    {
        if (device.Type != DeviceType.Cuda) return $"{device} is not a CUDA device";
        if (Cudnn.Instance == null) return Cudnn.Loaded.Error;
        var family = CudnnConvKernels.Of(BackendRegistry.Get(device));
        if (family == null) return $"the {device} backend has no cuDNN convolutions";
        return family.Unavailable;
    }

    /// <summary>
    /// One line: "9.10.1 at /path/libcudnn.so.9; convolutions on CUDA use it" or "not found (why); CUDA convolutions
    /// use im2col + cuBLAS". With a CUDA device present, the handle is created on cuda:0 to catch a library that loads
    /// but cannot run (a missing sublibrary).
    /// </summary>
    public static string Describe()
    {
        const string generic = "CUDA convolutions use im2col + cuBLAS";
        if (!Loaded) return $"not found ({LoadError}); {generic}";
        string found = $"{Version} at {LibraryPath}";
        if (DeviceCatalog.CudaDeviceCount == 0) return $"{found} (no CUDA device to use it)";
        string? why;
        try { why = UnavailableOn(Device.Cuda(0)); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or DllNotFoundException)
        {
            why = e.Message;
        }
        return why == null ? $"{found}; convolutions on CUDA use it" : $"{found}, but unusable: {why}; {generic}";
    }
}
