namespace SpikeSharp;

/// <summary>A numeric precision policy for matrix products and convolutions (see <see cref="Precision"/>).</summary>
public enum PrecisionMode
{
    /// <summary>float32 products throughout: TF32 off for GEMMs and convolutions; spike products through the exact
    /// bfloat16 split (<see cref="Precision.ExactSpikeGemm"/>), which matches float32.</summary>
    Fp32,

    /// <summary>TF32 tensor cores for float32 GEMMs and convolutions (inputs of each product rounded to a 10-bit
    /// mantissa, float32 accumulation); spike products keep 16 mantissa bits of the other operand (two bfloat16
    /// parts instead of three).</summary>
    Tf32,
}

/// <summary>
/// Numeric precision switches: process-wide properties, <see cref="Apply"/> to set them all from a
/// <see cref="PrecisionMode"/>, and <see cref="Use"/> to give one model or one region of code its own mode.
/// </summary>
public static class Precision
{
    private static readonly AsyncLocal<PrecisionMode?> _scoped = new();
    private static bool _allowTf32, _convolutionTf32 = true;
    /// <summary>The environment variable that sets the initial value of <see cref="ExactSpikeGemm"/>.</summary>
    public const string ExactSpikeGemmVariable = "SPIKESHARP_SPIKE_GEMM";

    // -1: not read yet; 0 or 1 once read from the environment or set.
    private static int _exactSpikeGemm = -1;

    /// <summary>
    /// Lets float32 matrix products use TF32 tensor cores (cuBLAS): about 8x faster on recent GPUs,
    /// with a 10-bit mantissa in the products. Off by default so results match the CPU closely. Inside a
    /// <see cref="Use"/> scope the scope's mode decides (setting the property changes the process-wide value only).
    /// </summary>
    public static bool AllowTf32
    {
        get => _scoped.Value is { } m ? m == PrecisionMode.Tf32 : Volatile.Read(ref _allowTf32);
        set => Volatile.Write(ref _allowTf32, value);
    }

    /// <summary>
    /// Lets float32 convolutions use TF32 tensor cores where the backend's convolution kernels support it (cuDNN),
    /// as PyTorch's cuDNN path does by default (<c>torch.backends.cudnn.allow_tf32</c>): the inputs of each product
    /// are rounded to a 10-bit mantissa, the accumulation stays float32. On by default; set false (the command
    /// line's <c>--precision fp32</c>) for float32 products throughout. The CPU backend always computes float32.
    /// Inside a <see cref="Use"/> scope the scope's mode decides.
    /// </summary>
    public static bool ConvolutionTf32
    {
        get => _scoped.Value is { } m ? m == PrecisionMode.Tf32 : Volatile.Read(ref _convolutionTf32);
        set => Volatile.Write(ref _convolutionTf32, value);
    }

    /// <summary>
    /// Sets every process-wide switch for <paramref name="mode"/>: <see cref="PrecisionMode.Fp32"/> turns
    /// <see cref="AllowTf32"/> and <see cref="ConvolutionTf32"/> off, <see cref="PrecisionMode.Tf32"/> turns both on;
    /// both leave <see cref="ExactSpikeGemm"/> on (it is exact, and the faster path in either mode).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not a defined mode.</exception>
    public static void Apply(PrecisionMode mode)
    {
        bool tf32 = Check(mode);
        AllowTf32 = tf32;
        ConvolutionTf32 = tf32;
        ExactSpikeGemm = true;
    }

    /// <summary>
    /// Runs the calling flow (this thread and the async work it starts) in <paramref name="mode"/> until the result
    /// is disposed, whatever the process-wide switches say: one model in TF32 and another in float32, or one
    /// region of a model. The mode applies to the products computed inside the scope, so put a model's backward
    /// pass (<see cref="Tensor.Backward"/>) inside it too. Scopes nest; disposing restores the outer mode.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not a defined mode.</exception>
    public static IDisposable Use(PrecisionMode mode)
    {
        Check(mode);
        var before = _scoped.Value;
        _scoped.Value = mode;
        return new Restore(before);
    }

    private sealed class Restore(PrecisionMode? before) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _scoped.Value = before;
        }
    }

    /// <summary>The mode a <see cref="Use"/> scope sets for the calling flow, or null outside any.</summary>
    public static PrecisionMode? ScopedMode => _scoped.Value;

    /// <summary>Parses "fp32" or "tf32" (any case, surrounding blanks ignored), as the command line's
    /// <c>--precision</c> takes them.</summary>
    /// <param name="value">The text.</param>
    /// <param name="option">The name reported in the error (for example "--precision").</param>
    /// <exception cref="ArgumentException">Any other value: "<paramref name="option"/>: expected fp32 or tf32, got
    /// '…'".</exception>
    public static PrecisionMode Parse(string? value, string option = "precision") =>
        value?.Trim().ToLowerInvariant() switch
        {
            "fp32" => PrecisionMode.Fp32,
            "tf32" => PrecisionMode.Tf32,
            _ => throw new ArgumentException($"{option}: expected fp32 or tf32, got '{value}'", option.TrimStart('-')),
        };

    private static bool Check(PrecisionMode mode) => mode switch
    {
        PrecisionMode.Fp32 => false,
        PrecisionMode.Tf32 => true,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "expected PrecisionMode.Fp32 or Tf32"),
    };

    /// <summary>
    /// Computes matrix products that have a spike operand (<see cref="Tensor.IsBf16Exact"/>) on CUDA as three
    /// bfloat16 tensor-core GEMMs with float32 accumulation: the other operand is split exactly into three
    /// bfloat16 matrices (w = w₁ + w₂ + w₃), so every product is exact and only the order of the float32
    /// additions differs from the float32 GEMM (results agree to float32 rounding). Every product with a spike
    /// operand uses it (Linear, LinearLif, the attention output projection, batched Matmul), forward and backward; a
    /// spike operand kept for the backward is kept as its bfloat16 copy (2 bytes an element). A gradient with no
    /// spike operand (Linear's input gradient) stays a float32 GEMM. Where it cannot run (the CPU, the emulated
    /// device, no cuBLAS bfloat16 GEMMs, a GPU before compute capability 8.0) products stay float32 and the reason
    /// is traced once. Under <see cref="AllowTf32"/> the other operand keeps two parts (16 mantissa bits, more than
    /// TF32's 11) and the product takes two GEMMs. On by default (verified on an H200: Open Neuromorphic step
    /// n = 16384 37.4 ms against 164.3 ms for float32, grad W closer to float64 than the float32 GEMM's); the
    /// initial value comes from the environment variable <c>SPIKESHARP_SPIKE_GEMM</c> (1 or true: on, 0 or false:
    /// off).
    /// </summary>
    /// <exception cref="InvalidOperationException">Read while <c>SPIKESHARP_SPIKE_GEMM</c> holds another value (and the
    /// property was not set).</exception>
    public static bool ExactSpikeGemm
    {
        get
        {
            int v = Volatile.Read(ref _exactSpikeGemm);
            if (v < 0)
            {
                var env = Environment.GetEnvironmentVariable(ExactSpikeGemmVariable);
                v = ParseSwitch(env, ExactSpikeGemmVariable, true) ? 1 : 0;
                Interlocked.CompareExchange(ref _exactSpikeGemm, v, -1);
                v = Volatile.Read(ref _exactSpikeGemm);
            }
            return v == 1;
        }
        set => Volatile.Write(ref _exactSpikeGemm, value ? 1 : 0);
    }

    /// <summary>An on/off environment value: unset or empty gives <paramref name="unset"/>; 1/true/on and
    /// 0/false/off (any case, surrounding blanks ignored) give on and off; anything else throws.</summary>
    internal static bool ParseSwitch(string? value, string name, bool unset)
    {
        var v = value?.Trim();
        if (string.IsNullOrEmpty(v)) return unset;
        bool Is(string word) => v.Equals(word, StringComparison.OrdinalIgnoreCase);
        if (Is("1") || Is("true") || Is("on")) return true;
        if (Is("0") || Is("false") || Is("off")) return false;
        throw new InvalidOperationException($"{name} must be 1 or 0 (or true/false, on/off), got '{value}'");
    }
}
