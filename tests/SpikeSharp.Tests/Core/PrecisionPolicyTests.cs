using SpikeSharp.Attention;
using SpikeSharp.Neurons;
using SpikeSharp.Tests.Cli;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Core;

/// <summary>
/// The precision policy (<see cref="Precision.Apply"/>, <see cref="Precision.Use"/>, <see cref="Precision.Parse"/>,
/// the command line's <c>--precision</c>). Apply changes process-wide switches, so these run alone.
/// </summary>
[Collection(LiveCountCollection.Name)]
public sealed class PrecisionPolicyTests : IDisposable
{
    private readonly bool _tf32 = Precision.AllowTf32, _conv = Precision.ConvolutionTf32,
        _spike = Precision.ExactSpikeGemm;
    private readonly TempDirectory _tmp = new();

    public void Dispose()
    {
        Precision.AllowTf32 = _tf32;
        Precision.ConvolutionTf32 = _conv;
        Precision.ExactSpikeGemm = _spike;
        _tmp.Dispose();
    }

    [Fact]
    public void Fp32TurnsEveryTf32SwitchOffAndTf32TurnsThemOn()
    {
        Precision.ExactSpikeGemm = false;
        Precision.Apply(PrecisionMode.Tf32);
        Assert.True(Precision.AllowTf32);
        Assert.True(Precision.ConvolutionTf32);
        Assert.True(Precision.ExactSpikeGemm);
        Precision.Apply(PrecisionMode.Fp32);
        Assert.False(Precision.AllowTf32);
        Assert.False(Precision.ConvolutionTf32);
        Assert.True(Precision.ExactSpikeGemm); // exact: part of fp32
        Expect.Throws<ArgumentOutOfRangeException>(() => Precision.Apply((PrecisionMode)7), "Fp32 or Tf32");
        Assert.False(Precision.AllowTf32); // a refused mode changes nothing
    }

    [Fact]
    public void UseOverridesTheSwitchesForTheFlowAndRestoresThem()
    {
        Precision.Apply(PrecisionMode.Fp32);
        Assert.Null(Precision.ScopedMode);
        using (Precision.Use(PrecisionMode.Tf32))
        {
            Assert.True(Precision.AllowTf32 && Precision.ConvolutionTf32);
            Assert.Equal(PrecisionMode.Tf32, Precision.ScopedMode);
            // A flow that did not start inside the scope keeps the process-wide mode.
            bool other = true;
            Thread th;
            using (ExecutionContext.SuppressFlow())
            {
                th = new Thread(() => other = Precision.AllowTf32);
                th.Start();
            }
            th.Join();
            Assert.False(other);
            using (Precision.Use(PrecisionMode.Fp32)) Assert.False(Precision.AllowTf32 || Precision.ConvolutionTf32);
            Assert.True(Precision.AllowTf32);
        }
        Assert.False(Precision.AllowTf32 || Precision.ConvolutionTf32);
        Assert.Null(Precision.ScopedMode);
        Expect.Throws<ArgumentOutOfRangeException>(() => Precision.Use((PrecisionMode)(-1)), "Fp32 or Tf32");
    }

    [Theory]
    [InlineData("fp32", PrecisionMode.Fp32)]
    [InlineData(" TF32 ", PrecisionMode.Tf32)]
    public void ParseReadsBothNames(string text, PrecisionMode expected) =>
        Assert.Equal(expected, Precision.Parse(text, "--precision"));

    [Theory]
    [InlineData("bf16")]
    [InlineData("")]
    [InlineData(null)]
    public void ParseRejectsEverythingElse(string? text)
    {
        var e = Expect.Throws<ArgumentException>(() => Precision.Parse(text, "--precision"),
            $"--precision: expected fp32 or tf32, got '{text}'");
        Assert.Equal("precision", e.ParamName);
    }

    [Fact]
    public void TheCommandLineRejectsOtherPrecisions()
    {
        foreach (var args in new[]
                 {
                     new[] { "train", "--precision", "fp16", "--device", "cpu" },
                     new[] { "train", "lm", "--precision", "fp16", "--device", "cpu" },
                     new[] { "train", "cifar10", "--data", _tmp.Path, "--precision", "fp16", "--device", "cpu" },
                 })
        {
            var run = CliProcess.Run(_tmp.Path, null, args);
            Assert.True(run.Code == 1, run.ToString());
            Assert.Contains("error: --precision: expected fp32 or tf32, got 'fp16'", run.Err);
            Assert.Equal("", run.Out);
        }
    }
}

/// <summary>
/// <see cref="Tensor.IsBinary"/> (0/1 spikes) beside <see cref="Tensor.IsBf16Exact"/>, and the marks of the causal
/// attention accumulation: every op keeps a mark only where its output provably holds such values.
/// </summary>
public class BinaryMarkTests
{
    private static Tensor Spikes(int seed, int t = 5, Device? d = null)
    {
        var dev = d ?? Device.Cpu;
        var x = Tensor.Rand(new[] { t, 2, 3, 4 }, new Generator((ulong)seed), dev);
        return SpikingFunctions.Lif(x, null, Tensor.Scalar(0.2f, dev), Tensor.Scalar(0.5f, dev)).Spikes;
    }

    [Fact]
    public void ViewsKeepBinaryAndOtherOpsDropBoth()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(1);
        Assert.True(s.IsBinary && s.IsBf16Exact);
        foreach (var v in new[] { s.Reshape(-1), s.Permute(1, 0, 2, 3), s.Narrow(0, 1, 2), s.Detach() })
            Assert.True(v.IsBinary, "a view or rearrangement of spikes holds 0/1");
        foreach (var t in new[] { s.MulScalar(1f), s.Add(s), s.Clone(), s.Sum(0) })
            Assert.False(t.IsBinary || t.IsBf16Exact);
        var view = s.Reshape(-1);
        s.RequiresGrad = true; // may be written in place from now on
        Assert.False(view.IsBinary || view.IsBf16Exact);
    }

    // The ops that ExactnessMarkTests' table does not list: each makes a new, unmarked tensor.
    [Fact]
    public void TheRemainingOpsDropTheMarks()
    {
        using var scope = TensorScope.Begin();
        var s = Spikes(8);
        var m = s.Reshape(-1, 4);
        var w = Tensor.Rand(new[] { 2, 3, 1, 1 }, new Generator(9));
        var dropped = new (string, Func<Tensor>)[]
        {
            ("div scalar", () => s.DivScalar(1f)), ("rsub", () => s.RSubScalar(1f)), ("rdiv", () => s.RDivScalar(1f)),
            ("log", () => s.Log()), ("log_softmax", () => s.LogSoftmax()), ("logsumexp", () => s.LogSumExp(0)),
            ("std", () => s.Std(0)), ("ge", () => s.Ge(0.5f)), ("lt", () => s.Lt(0.5f)), ("ne", () => s.Ne(s)),
            ("ones_like", () => Tensor.OnesLike(s)), ("zeros_like", () => Tensor.ZerosLike(s)),
            ("embedding", () => m.Embedding(Tensor.FromArray(new[] { 0, 1 }))),
            ("conv2d", () => Tensor.Conv2d(s.Narrow(0, 0, 1).Reshape(2, 3, 4, 1), w)),
        };
        foreach (var (what, op) in dropped)
        {
            var t = op();
            Assert.False(t.IsBf16Exact || t.IsBinary, $"{what} kept a mark");
        }
        // The same tensor handed back: its mark stays, and stays true.
        Assert.True(s.EnsureFinite("s").IsBinary);
        using var kept = s.Persist();
        Assert.True(kept.IsBinary);
    }

    [Fact]
    public void AccumulatedSpikeCountsAreExactButNotBinary()
    {
        using var scope = TensorScope.Begin();
        var (q, k, v) = (Spikes(2), Spikes(3), Spikes(4));
        var (a, state) = CausalAccumulation.Forward(q, k, v);
        Assert.True(a.IsBf16Exact);
        Assert.False(a.IsBinary);
        Assert.False(state.IsBf16Exact);
        Assert.Contains(a.ToArray(), x => x > 1f); // counts, not spikes
        Assert.All(a.ToArray(), x => Assert.True(x == MathF.Round(x) && x <= 5f));

        // A carried sum, a non-spike input or more than 256 steps: the counts are not known to be exact.
        Assert.False(CausalAccumulation.Forward(q, k, v, state).Output.IsBf16Exact);
        Assert.False(CausalAccumulation.Forward(q, k.MulScalar(1f), v).Output.IsBf16Exact);
        var (q2, k2, v2) = (Spikes(5, 257), Spikes(6, 257), Spikes(7, 257));
        Assert.False(CausalAccumulation.Forward(q2, k2, v2).Output.IsBf16Exact);
        var (q3, k3, v3) = (Spikes(5, 256), Spikes(6, 256), Spikes(7, 256));
        Assert.True(CausalAccumulation.Forward(q3, k3, v3).Output.IsBf16Exact);
    }
}
