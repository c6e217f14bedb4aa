using System.Collections.Frozen;

namespace SpikeSharp.Backends;

/// <summary>
/// A family of kernels whose errors a GPU backend finds only after the launch (a flag word the kernels raise,
/// for instance). The backend's <see cref="IBackend.Download{T}"/> calls <see cref="ThrowIfDeviceErrors"/> on
/// every registered family that implements this, after the device has finished the queued work, so the backend
/// itself never needs to know which features it runs.
/// </summary>
public interface IDeviceErrorCheck
{
    /// <summary>
    /// Called with the device idle (every queued launch finished). Throws the exception the failed call would
    /// have thrown on the CPU backend, and clears the condition so the next read succeeds; returns when none.
    /// </summary>
    void ThrowIfDeviceErrors();
}

/// <summary>
/// The kernel families one backend provides beyond the <see cref="IBackend"/> primitives (fused neurons, neuron
/// models, causal accumulation…), keyed by the family's contract type. Built once, when the backend is created,
/// by the backend's one registration file (CpuKernelFamilies, IlgpuKernelFamilies), then read-only: a lookup is
/// one frozen-dictionary probe and allocates nothing.
/// </summary>
public sealed class KernelFamilies
{
    private readonly FrozenDictionary<Type, object> _families;
    private readonly IDeviceErrorCheck[] _checks;

    private KernelFamilies(Dictionary<Type, object> families)
    {
        _families = families.ToFrozenDictionary();
        // One check per implementation, however many contracts it is registered under.
        _checks = families.Values.OfType<IDeviceErrorCheck>().Distinct().ToArray();
    }

    /// <summary>Starts the registry of the backend of <paramref name="device"/>.</summary>
    public static Builder For(Device device) => new(device);

    /// <summary>The device whose backend registered these families.</summary>
    public Device Device { get; private init; }

    /// <summary>The contract types registered, for reports and tests.</summary>
    public IEnumerable<Type> Contracts => _families.Keys;

    /// <summary>The families that report errors after the launch (see <see cref="IDeviceErrorCheck"/>).</summary>
    public IReadOnlyList<IDeviceErrorCheck> ErrorChecks => _checks;

    /// <summary>The family registered under <typeparamref name="TFamily"/>, or null when the backend has none.
    /// </summary>
    public TFamily? Get<TFamily>() where TFamily : class =>
        _families.TryGetValue(typeof(TFamily), out var f) ? (TFamily)f : null;

    /// <summary>Runs every registered error check (the device must be idle); throws the first error found.</summary>
    public void ThrowIfDeviceErrors()
    {
        foreach (var c in _checks) c.ThrowIfDeviceErrors();
    }

    /// <summary>Collects the families of one backend; <see cref="Build"/> freezes them.</summary>
    public sealed class Builder
    {
        private readonly Device _device;
        private readonly Dictionary<Type, object> _families = new();
        private bool _built;

        internal Builder(Device device) => _device = device;

        /// <summary>Registers <paramref name="family"/> as the backend's implementation of
        /// <typeparamref name="TFamily"/> (the contract type callers ask for, usually an interface).</summary>
        /// <exception cref="InvalidOperationException">The contract is already registered, or the registry was
        /// built.</exception>
        public Builder Add<TFamily>(TFamily family) where TFamily : class
        {
            ArgumentNullException.ThrowIfNull(family);
            if (_built) throw new InvalidOperationException($"the kernel families of {_device} are already built");
            if (!_families.TryAdd(typeof(TFamily), family))
                throw new InvalidOperationException(
                    $"the {_device} backend registers two {typeof(TFamily).Name} kernel families; register one");
            return this;
        }

        /// <summary>The read-only registry.</summary>
        public KernelFamilies Build()
        {
            _built = true;
            return new KernelFamilies(_families) { Device = _device };
        }
    }
}

/// <summary>How features reach the kernel families of a tensor's backend.</summary>
public static class KernelFamilyExtensions
{
    /// <summary>
    /// The backend's <typeparamref name="TFamily"/>; throws when it has none, naming the op and the device.
    /// </summary>
    /// <param name="backend">The backend of the op's inputs.</param>
    /// <param name="op">The op's name, as in its other error messages.</param>
    /// <exception cref="NotSupportedException">The backend registers no <typeparamref name="TFamily"/>.</exception>
    public static TFamily Require<TFamily>(this IBackend backend, string op) where TFamily : class =>
        backend.Family<TFamily>() ?? throw new NotSupportedException(
            $"{op}: not supported on {backend.Device}: its backend registers no {typeof(TFamily).Name} kernel family");
}
