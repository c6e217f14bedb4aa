namespace SpikeSharp.Neurons;

/// <summary>
/// Bits a GPU neuron kernel raises in the backend's flag word for a bad input, one byte per op
/// (<see cref="NeuronChecks.Ops"/>: bits 8·op + k). Kernel code: constants only.
/// </summary>
internal static class NeuronFlag
{
    public const int X = 1, Decay = 2, Threshold = 4, Beta = 8, DecayA = 16, Alpha = 32;

    /// <summary>The argument each bit names, in bit order.</summary>
    public static readonly string[] Names = { "x", "decay", "threshold", "beta", "decayA", "alpha" };
}

/// <summary>
/// Argument checks of the fused spiking functions: everything is checked before anything is written. A bad value
/// is an <see cref="ArgumentException"/> naming the op and the argument on every backend: at the call on the CPU,
/// at the next host read on a GPU (whose kernels raise a <see cref="NeuronFlag"/> instead of synchronising);
/// both messages start with <see cref="Problem"/>.
/// </summary>
internal static class NeuronChecks
{
    /// <summary>The ops, by their index in the GPU flag word.</summary>
    public static readonly string[] Ops = { "lif", "plif", "if", "alif" };

    /// <summary>The index of <paramref name="op"/> in <see cref="Ops"/>.</summary>
    public static int OpIndex(string op) => Array.IndexOf(Ops, op) is >= 0 and var i ? i
        : throw new ArgumentOutOfRangeException(nameof(op), op, "not a fused neuron op");

    /// <summary>What is wrong with a value of <paramref name="arg"/>: the start of the CPU and GPU messages.</summary>
    public static string Problem(string op, string arg) => arg switch
    {
        "x" => $"{op}: x holds NaN or Inf values",
        "decay" or "decayA" => $"{op}: {arg} must be in [0, 1]",
        "alpha" => $"{op}: alpha must be a finite number > 0",
        _ => $"{op}: {arg} must be finite",
    };

    /// <summary>Checks shapes, dtypes, devices and (where <paramref name="driver"/> reads them without
    /// synchronising, see <see cref="INeuronDriver.TryReadOnHost"/>) parameter ranges. Returns T and sets N.
    /// </summary>
    public static int Validate(string op, INeuronDriver driver, Tensor x, Tensor? v0, Tensor? a0, Tensor? decay,
        Tensor threshold, Tensor? beta, Tensor? decayA, Tensor? alpha, SpikingOptions o, out int n)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32)
            throw new ArgumentException($"{op}: x must be float32, got {x.DType.Name()}", nameof(x));
        if (x.Rank < 1)
            throw new ArgumentException($"{op}: x must be (T, ...) with time first, got a scalar", nameof(x));
        int T = x.Size(0);
        if (T == 0)
            throw new ArgumentException(
                $"{op}: x has T = 0 time steps (shape {ShapeUtil.Format(x.Shape)}); expected T ≥ 1", nameof(x));
        n = x.Numel / T;
        int N = n;
        if (o.SavedDType is not (DType.Float32 or DType.Float16))
            throw new ArgumentException(
                $"{op}: options.SavedDType must be float32 or float16, got {o.SavedDType.Name()}", nameof(o));
        if (alpha == null && !(o.Alpha > 0f && float.IsFinite(o.Alpha)))
            throw new ArgumentException($"{op}: options.Alpha must be a finite number > 0, got {o.Alpha}", "options");
        State(op, "v0", v0, x, N);
        State(op, "a0", a0, x, N);
        if (v0 != null && a0 != null && !v0.Shape.AsSpan().SequenceEqual(a0.Shape))
            throw new ArgumentException($"{op}: v0 {ShapeUtil.Format(v0.Shape)} and a0 "
                + $"{ShapeUtil.Format(a0.Shape)} must have the same shape", nameof(a0));
        // [0, 1] for the decays: what sigmoid(logit) of a learnable decay can round to in float32.
        Param(op, driver, "decay", decay, x, N, lo: 0f, loOpen: false, hi: 1f);
        Param(op, driver, "threshold", threshold, x, N, float.NegativeInfinity, false, float.PositiveInfinity);
        Param(op, driver, "beta", beta, x, N, float.NegativeInfinity, false, float.PositiveInfinity);
        Param(op, driver, "decayA", decayA, x, N, lo: 0f, loOpen: false, hi: 1f);
        Param(op, driver, "alpha", alpha, x, N, lo: 0f, loOpen: true, hi: float.PositiveInfinity);
        return T;
    }

    private static void State(string op, string name, Tensor? s, Tensor x, int n)
    {
        if (s == null) return;
        if (s.DType != DType.Float32)
            throw new ArgumentException($"{op}: {name} must be float32, got {s.DType.Name()}", name);
        if (s.Device != x.Device)
            throw new ArgumentException($"{op}: {name} is on {s.Device} but x is on {x.Device}", name);
        if (s.Numel != n)
            throw new ArgumentException($"{op}: {name} has shape {ShapeUtil.Format(s.Shape)} ({s.Numel} elements) "
                + $"but x {ShapeUtil.Format(x.Shape)} has N = {n} neurons per step; expected "
                + ShapeUtil.Format(x.Shape[1..]), name);
    }

    private static void Param(string op, INeuronDriver driver, string name, Tensor? p, Tensor x, int n, float lo,
        bool loOpen, float hi)
    {
        if (p == null) return;
        if (p.DType != DType.Float32)
            throw new ArgumentException($"{op}: {name} must be float32, got {p.DType.Name()}", name);
        if (p.Device != x.Device)
            throw new ArgumentException(
                $"{op}: {name} is on {p.Device} but x is on {x.Device}; move it with To(device)", name);
        if (p.Numel == 0 || (p.Numel != 1 && (n == 0 || n % p.Numel != 0)))
            throw new ArgumentException($"{op}: {name} has {p.Numel} elements {ShapeUtil.Format(p.Shape)}; expected 1 "
                + $"or a feature count F dividing N = {n} (x {ShapeUtil.Format(x.Shape)})", name);
        if (!driver.TryReadOnHost(p.Buf, out var d)) return; // the kernels raise a device-side flag instead
        for (int i = 0; i < d.Length; i++)
        {
            float v = d[i];
            bool ok = float.IsFinite(v) && (loOpen ? v > lo : v >= lo) && v <= hi;
            if (!ok) throw new ArgumentException($"{Problem(op, name)}, got {name}[{i}] = {v}", name);
        }
    }
}
