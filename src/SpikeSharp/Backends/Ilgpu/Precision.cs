namespace SpikeSharp;

/// <summary>Process-wide numeric precision switches.</summary>
public static class Precision
{
    /// <summary>The environment variable that sets the initial value of <see cref="ExactSpikeGemm"/>.</summary>
    public const string ExactSpikeGemmVariable = "SPIKESHARP_SPIKE_GEMM";

    // -1: not read yet; 0 or 1 once read from the environment or set.
    private static int _exactSpikeGemm = -1;

    /// <summary>
    /// Lets float32 matrix products use TF32 tensor cores (cuBLAS): about 8x faster on recent GPUs,
    /// with a 10-bit mantissa in the products. Off by default so results match the CPU closely.
    /// </summary>
    public static bool AllowTf32 { get; set; }

    /// <summary>
    /// Lets float32 convolutions use TF32 tensor cores where the backend's convolution kernels support it (cuDNN),
    /// as PyTorch's cuDNN path does by default (<c>torch.backends.cudnn.allow_tf32</c>): the inputs of each product
    /// are rounded to a 10-bit mantissa, the accumulation stays float32. On by default; set false (the command
    /// line's <c>--precision fp32</c>) for float32 products throughout. The CPU backend always computes float32.
    /// </summary>
    public static bool ConvolutionTf32 { get; set; } = true;

    /// <summary>
    /// Computes matrix products that have a spike operand (<see cref="Tensor.IsBf16Exact"/>) on CUDA as three
    /// bfloat16 tensor-core GEMMs with float32 accumulation: the other operand is split exactly into three
    /// bfloat16 matrices (w = w₁ + w₂ + w₃), so every product is exact and only the order of the float32
    /// additions differs from the float32 GEMM (results agree to float32 rounding). Linear's forward and weight
    /// gradient use it; the input gradient (no spike operand) stays a float32 GEMM. Where it cannot run (the CPU,
    /// the emulated device, no cuBLAS bfloat16 GEMMs, a GPU before compute capability 8.0) products stay float32 and
    /// the reason is traced once. On by default (verified on an H200: Open Neuromorphic step n = 16384 37.4 ms against
    /// 164.3 ms for float32, grad W closer to float64 than the float32 GEMM's); the initial value comes from the
    /// environment variable <c>SPIKESHARP_SPIKE_GEMM</c> (1 or true: on, 0 or false: off).
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
