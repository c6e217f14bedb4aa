using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

/// <summary>Golden values, memory format, streaming and argument checks of the fused neurons.</summary>
public class NeuronBehaviourTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    [Theory, MemberData(nameof(Devices))]
    public void LifGoldenTrajectory(string dev)
    {
        // Hand-checked: λ = 0.5, θ = 1, v0 = 0, arctan α = 2, loss = Σ s.
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(new[] { 0.6f, 0.8f, 0.3f, 1.2f, 0.0f }, new[] { 5, 1 }, d); x.RequiresGrad = true;
        var dec = Tensor.FromArray(new[] { 0.5f }, null, d); dec.RequiresGrad = true;
        var th = Tensor.FromArray(new[] { 1f }, null, d); th.RequiresGrad = true;
        var v0 = Tensor.Zeros(new[] { 1 }, d); v0.RequiresGrad = true;
        var r = SpikingFunctions.Lif(x, v0, dec, th, SpikingOptions.Default with { ReturnMembrane = true });
        Assert.Equal(new[] { 0f, 1f, 0f, 1f, 0f }, r.Spikes.ToArray());
        AssertClose(new[] { 0.6f, 1.1f, 0.3f, 1.35f, 0f }, r.H!.ToArray(), 1e-6);
        AssertClose(new[] { 0f }, r.V.ToArray(), 0);
        r.Spikes.Sum().Backward();
        AssertClose(new[] { 0.9903098f, 1.4339136f, 0.2696542f, 0.3426942f, 0.0494090f }, x.Grad!.ToArray(), 2e-6);
        AssertClose(new[] { 0.9631564f }, dec.Grad!.ToArray(), 2e-6);
        AssertClose(new[] { -2.1976769f }, th.Grad!.ToArray(), 2e-6);
        AssertClose(new[] { 0.4951549f }, v0.Grad!.ToArray(), 2e-6);
    }

    [Theory, MemberData(nameof(Devices))]
    public void BitPackingLayout(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        int T = 70, N = 5;
        var x = Tensor.Rand(new[] { T, N }, new Generator(3), d, -0.5f, 1.5f); x.RequiresGrad = true;
        var r = SpikingFunctions.Lif(x, null, Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d), Tensor.Full(new[] { 1 }, 1f, DType.Float32, d));
        var s = r.Spikes.ToArray();
        Assert.Equal(new[] { 3, N }, r.SavedBits!.Shape);
        var w = r.SavedBits.ToArray<int>();
        Assert.Contains(1f, s);
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++)
                Assert.Equal(s[t * N + n] != 0f, ((w[(t / 32) * N + n] >> (t % 32)) & 1) != 0);
        for (int n = 0; n < N; n++) Assert.Equal(0, w[2 * N + n] >> (T - 64)); // unused high bits stay clear
    }

    [Theory, MemberData(nameof(Devices))]
    public void ShortSequencesShareWordsBetweenNeighbours(string dev)
    {
        var d = Device.Parse(dev);
        foreach (var (T, N, lanes) in new[] { (12, 8, 2), (12, 7, 2), (16, 12, 2), (5, 8, 4), (8, 9, 4), (1, 4, 4), (17, 4, 1) })
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.Rand(new[] { T, N }, new Generator((ulong)(T + N)), d, -0.5f, 1.5f); x.RequiresGrad = true;
            var r = SpikingFunctions.Lif(x, null, Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d), Tensor.Full(new[] { 1 }, 1f, DType.Float32, d));
            var s = r.Spikes.ToArray();
            int width = 32 / lanes, words = (N + lanes - 1) / lanes;
            Assert.Equal(new[] { (T + 31) / 32, words }, r.SavedBits!.Shape);
            var w = r.SavedBits.ToArray<int>();
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++)
                    Assert.Equal(s[t * N + n] != 0f, ((w[n / lanes] >> (n % lanes * width + t)) & 1) != 0);
            for (int n = 0; n < N; n++) // bits past T in each field stay clear
                if (T < width) Assert.Equal(0, (w[n / lanes] >> (n % lanes * width + T)) & ((1 << (width - T)) - 1));
            // float32 saved state with T ≤ 16 keeps x instead of h: 4 B + the bits per neuron-step
            double expect = T <= 16 ? 4.0 + 4.0 * words / ((double)T * N) : 4.0 + 4.0 * words * ((T + 31) / 32) / ((double)T * N);
            Assert.Equal(expect, r.SavedBytesPerNeuronStep, 9);
        }
    }

    [Theory, MemberData(nameof(Devices))]
    public void StreamingTwoChunksEqualsOneCall(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        int T = 37, N = 6;
        var xs = Tensor.Randn(new[] { T, N }, new Generator(5), d, 0.4f, 0.7f);
        var dec = Tensor.Full(new[] { 1 }, 0.9f, DType.Float32, d); var th = Tensor.Full(new[] { 1 }, 1f, DType.Float32, d);
        var be = Tensor.Full(new[] { 1 }, 0.2f, DType.Float32, d); var da = Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d);
        var x = xs.Clone(); x.RequiresGrad = true;
        var whole = SpikingFunctions.Alif(x, null, null, dec, th, be, da);
        (whole.Spikes.Sum() + whole.V.Sum()).Backward();
        var x1 = xs.Narrow(0, 0, 20).Clone(); x1.RequiresGrad = true;
        var x2 = xs.Narrow(0, 20, 17).Clone(); x2.RequiresGrad = true;
        var p1 = SpikingFunctions.Alif(x1, null, null, dec, th, be, da);
        var p2 = SpikingFunctions.Alif(x2, p1.V, p1.A, dec, th, be, da);
        Assert.Equal(whole.Spikes.ToArray(), Tensor.Cat(new[] { p1.Spikes, p2.Spikes }, 0).ToArray());
        Assert.Equal(whole.V.ToArray(), p2.V.ToArray());
        Assert.Equal(whole.A!.ToArray(), p2.A!.ToArray());
        (p1.Spikes.Sum() + p2.Spikes.Sum() + p2.V.Sum()).Backward();
        AssertClose(x.Grad!.ToArray(), Tensor.Cat(new[] { x1.Grad!, x2.Grad! }, 0).ToArray(), 1e-5);
    }

    [Theory, MemberData(nameof(Devices))]
    public void SavedBytesPerNeuronStep(string dev)
    {
        var d = Device.Parse(dev);
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { 64, 40 }, new Generator(1), d); x.RequiresGrad = true;
        var p = Tensor.Full(new[] { 1 }, 0.9f, DType.Float32, d);
        Assert.True(SpikingFunctions.Lif(x, null, p, p).SavedBytesPerNeuronStep <= 4.2);
        Assert.True(SpikingFunctions.Lif(x, null, p, p, new SpikingOptions { SavedDType = DType.Float16 }).SavedBytesPerNeuronStep <= 2.2);
        using (Autograd.Tape.NoGrad()) Assert.Equal(0, SpikingFunctions.Lif(x, null, p, p).SavedBytes);
    }

    [Theory, MemberData(nameof(Devices))]
    public void Float16SavedStateIsRoundedToNearestEven(string dev)
    {
        // Every backend keeps the bits System.Half gives the float32 h: round to nearest even. ILGPU's CPU
        // emulation cast truncates, which the kernels must not use. N % 4 == 0 takes the four-neuron forward kernel,
        // N = 39 the one-neuron one; odd T leaves the last step pair half used.
        var d = Device.Parse(dev);
        foreach (var (T, N) in new[] { (37, 40), (37, 39), (20, 12) })
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.Randn(new[] { T, N }, new Generator((ulong)(T * N)), d, 0.3f, 0.7f); x.RequiresGrad = true;
            var one = Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d);
            var r = SpikingFunctions.Lif(x, null, one, Tensor.Ones(new[] { 1 }, d),
                new SpikingOptions { SavedDType = DType.Float16, ReturnMembrane = true });
            var h = r.H!.ToArray();
            var kept = r.SavedH!.ToArray<Half>();
            int roundedUp = 0;
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++)
                {
                    float v = h[t * N + n];
                    ushort expected = BitConverter.HalfToUInt16Bits((Half)v);
                    ushort got = BitConverter.HalfToUInt16Bits(kept[HalfPairs.Index(t, n, N)]);
                    Assert.True(expected == got, $"T={T} N={N} h[{t}, {n}] = {v:R}: kept 0x{got:x4}, nearest 0x{expected:x4}");
                    if (Math.Abs((float)(Half)v) > Math.Abs(v)) roundedUp++;
                }
            Assert.True(roundedUp > T * N / 10,
                $"only {roundedUp} values round away from zero: the check would not see truncation");
        }
    }

    [Fact]
    public void TheTwoArctanSurrogatesAreNamedApart()
    {
        // The default is the seed's and tether's arctan, peak α; the textbook ATan peaks at α/2 (same curve at 2α).
        Assert.Equal(SurrogateKind.ArctanTether, SpikingOptions.Default.Surrogate);
        Assert.Equal(2f, default(ArctanTetherSurrogate).Grad(0f, 2f));
        Assert.Equal(1f, default(AtanSurrogate).Grad(0f, 2f));
        foreach (float z in new[] { -0.7f, -0.1f, 0.05f, 0.3f })
            Assert.Equal(default(ArctanTetherSurrogate).Grad(z, 1.5f), default(AtanSurrogate).Grad(z, 3f), 1e-6f);
        Assert.Equal(new[] { "ArctanTether", "Sigmoid", "FastSigmoid", "Atan", "Triangle", "Rectangle" },
            Enum.GetNames<SurrogateKind>());
        Assert.Equal("ArctanTether", SpikingOptions.Default.Surrogate.ToString());
    }

    [Fact]
    public void BadInputsThrowClearly()
    {
        var d = Device.Cpu;
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { 8, 2, 3 }, new Generator(1), d);
        var one = Tensor.Full(new[] { 1 }, 0.9f, DType.Float32, d);
        Assert.Contains("v0", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, Tensor.Zeros(new[] { 5 }, d), one, one)).Message);
        Assert.Contains("T = 0", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(Tensor.Zeros(new[] { 0, 6 }, d), null, one, one)).Message);
        Tensor Decay(float v) => Tensor.Full(new[] { 1 }, v, DType.Float32, d);
        var big = Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, null, Decay(1.5f), one));
        Assert.Equal("decay", big.ParamName);
        Assert.StartsWith("lif: decay must be in [0, 1], got decay[0] = 1.5", big.Message);
        var neg = Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, null, Decay(-0.1f), one));
        Assert.StartsWith("lif: decay must be in [0, 1], got decay[0] = -0.1", neg.Message);
        // λ = 0 (what sigmoid of a very negative logit rounds to) is a neuron without memory: s_t = H(x_t − θ).
        var memoryless = SpikingFunctions.Lif(x, null, Tensor.Zeros(new[] { 1 }, d), one).Spikes.ToArray();
        Assert.Equal(x.ToArray().Select(v => v >= 0.9f ? 1f : 0f), memoryless);
        Assert.Contains("threshold", Assert.Throws<ArgumentException>(() => SpikingFunctions.Plif(x, null, Tensor.Full(new[] { 3 }, 0.9f, DType.Float32, d), Tensor.Ones(new[] { 4 }, d))).Message);
        Assert.Contains("alpha", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, null, one, one, null, Tensor.Full(new[] { 1 }, -1f, DType.Float32, d))).Message);
        Assert.Contains("Alpha", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, null, one, one, new SpikingOptions { Alpha = 0f })).Message);
        var bad = Tensor.FromArray(Enumerable.Repeat(0.5f, 48).Select((v, i) => i == 17 ? float.NaN : v).ToArray(), new[] { 8, 2, 3 }, d);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(bad, null, one, one)).Message);
        if (TestDevices.All.Contains(Device.IlgpuCpu))
        {
            using var other = Tensor.Full(new[] { 1 }, 0.9f, DType.Float32, Device.IlgpuCpu);
            Assert.Contains("decay", Assert.Throws<ArgumentException>(() => SpikingFunctions.Lif(x, null, other, one)).Message);
        }
    }

    internal static void AssertClose(float[] expected, float[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}

/// <summary>Which kernel family ran: reads a launch counter of the shared ilgpu-cpu backend, so no other test may run meanwhile.</summary>
[Collection(SpikeSharp.Tests.Backends.SerialBackendTests.Name)]
public class NeuronKernelChoiceTests
{
    [Fact]
    public void FourNeuronKernelsRunWhenNIsAMultipleOfFour()
    {
        var d = Device.Parse("ilgpu-cpu");
        var driver = (SpikeSharp.Neurons.Ilgpu.IlgpuNeuronDriver)SpikeSharp.Backends.BackendRegistry.Get(d)
            .Family<INeuronDriver>()!;
        foreach (var (N, vec) in new[] { (12, true), (10, false) })
        {
            using var scope = TensorScope.Begin();
            long before = driver.Vec4Launches;
            var x = Tensor.Rand(new[] { 6, N }, new Generator(1), d, -0.5f, 1.5f); x.RequiresGrad = true;
            SpikingFunctions.Lif(x, null, Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d), Tensor.Full(new[] { 1 }, 1f, DType.Float32, d)).Spikes.Sum().Backward();
            Assert.Equal(vec ? 1 : 0, driver.Vec4Launches - before); // the forward pass (the backward is one-neuron)
            // ALIF always takes the one-neuron kernels.
            before = driver.Vec4Launches;
            var one = Tensor.Full(new[] { 1 }, 0.5f, DType.Float32, d);
            SpikingFunctions.Alif(x, null, null, one, one, one, one).Spikes.Sum().Backward();
            Assert.Equal(0, driver.Vec4Launches - before);
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void SavedHForShortSequencesWhenRecomputeIsOff(string dev)
    {
        // The float32 saved-h path of short sequences is only taken with recompute mode off (a process-wide switch).
        SpikeBits.RecomputeEnabled = false;
        try
        {
            foreach (var kind in new[] { UnfusedReference.Kind.Lif, UnfusedReference.Kind.Plif })
            {
                var o = new SpikingOptions { Reset = ResetMode.Soft };
                double err = NeuronGradTests.Compare(Device.Parse(dev), kind, o, 12, 4, 5, seed: 3);
                Assert.True(err < 1e-5, $"{kind}: rel err {err:E2}");
            }
        }
        finally { SpikeBits.RecomputeEnabled = true; }
    }
}

/// <summary>What the CPU driver allocates, counted over the whole process: no other test may run meanwhile.</summary>
[Collection(SpikeSharp.Tests.Backends.SerialBackendTests.Name)]
public class CpuNeuronDriverMemoryTests
{
    [Fact]
    public void PerFeatureGradientsAreSummedPerWorkerNotPerChunk()
    {
        // plif-csnn's first PLIF layer has F = 100,352 features: sums per chunk of 1024 neurons took chunks × F floats
        // for every parameter (5.7 GB allocated by one backward call at batch 32, and 23-40 s). Sums per worker take
        // workers × F doubles for the gradients asked for.
        int T = 2, B = 16, F = 16384, N = B * F;
        var d = Device.Cpu;
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(new[] { T, B, F }, new Generator(1), d, 0.5f, 1f); x.RequiresGrad = true;
        var dec = Tensor.Full(new[] { F }, 0.6f, DType.Float32, d); dec.RequiresGrad = true;
        var th = Tensor.Ones(new[] { F }, d); th.RequiresGrad = true;
        var g = Tensor.Randn(new[] { T, B, F }, new Generator(2), d);
        var r = SpikingFunctions.Plif(x, null, dec, th);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        r.Spikes.Backward(g);
        long used = GC.GetTotalAllocatedBytes(precise: true) - before;
        long gradients = 4L * T * N + 2 * 4L * F;                                // ∂x and the parameter gradients
        long perWorker = Environment.ProcessorCount * (2 * 8L * F + 64 * 1024); // sums and scratch
        long bound = gradients + perWorker + (2 << 20);
        Assert.True(used < bound, $"backward allocated {used / 1e6:F1} MB, expected under {bound / 1e6:F1} MB");
        // The values are checked against the unfused reference in NeuronGradTests (PLIF, F = 5).
        Assert.Equal(F, th.Grad!.Numel);
        Assert.Contains(th.Grad.ToArray(), v => v != 0f);
    }
}
