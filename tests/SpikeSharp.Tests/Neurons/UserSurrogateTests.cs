using SpikeSharp.Neurons;
using static SpikeSharp.Tests.Neurons.UnfusedReference;

namespace SpikeSharp.Tests.Neurons
{
    /// <summary>A surrogate the library does not ship, written as a user would: σ'(x) = α/√π · exp(−(αx)²).
    /// </summary>
    public struct GaussianSurrogate : ISurrogate
    {
        public readonly float Grad(float x, float alpha)
        {
            float z = alpha * x;
            return 0.5641896f * alpha * MathF.Exp(-z * z);
        }
    }

    /// <summary>The surrogate type is a type argument of every fused function, so users can bring their own; the
    /// <see cref="SurrogateKind"/> names map to types in one table.</summary>
    public class UserSurrogateTests
    {
        public static IEnumerable<object[]> Cases() =>
            from d in TestDevices.Names
            from k in Enum.GetValues<Kind>()
            select new object[] { d[0], k };

        [Theory, MemberData(nameof(Cases))]
        public void AUserSurrogateMatchesTheUnfusedReference(string dev, Kind kind)
        {
            var d = Device.Parse(dev);
            foreach (var reset in new[] { ResetMode.Hard, ResetMode.Soft })
                // T = 37: saved h over two words; T = 12: recompute mode (the short backward kernel).
                foreach (var (T, B) in new[] { (37, 4), (12, 4) })
                {
                    var o = new SpikingOptions { Reset = reset, DetachReset = false };
                    double err = NeuronGradTests.Compare(d, kind, o, T, B, F: 5, seed: T + B,
                        NeuronGradTests.SurrogateUnderTest.Of<GaussianSurrogate>());
                    Assert.True(err < 1e-5, $"{kind} {reset} T={T}: rel err {err:E2}");
                }
        }

        [Theory, MemberData(nameof(Devices))]
        public void ASurrogateNamedLikeABuiltInOneGetsItsOwnKernels(string dev)
        {
            // The built-in sigmoid first, so its kernels are loaded; then a user struct of the same name must not
            // run them (the GPU kernel caches are keyed by the type, not by its name).
            var d = Device.Parse(dev);
            var o = new SpikingOptions { Surrogate = SurrogateKind.Sigmoid };
            Assert.True(NeuronGradTests.Compare(d, Kind.Lif, o, 12, 4, 5, seed: 1) < 1e-5);
            Assert.True(NeuronGradTests.Compare(d, Kind.Lif, o, 37, 4, 5, seed: 1) < 1e-5);
            foreach (int T in new[] { 12, 37 })
            {
                double err = NeuronGradTests.Compare(d, Kind.Lif, o, T, 4, 5, seed: 1,
                    NeuronGradTests.SurrogateUnderTest.Of<Custom.SigmoidSurrogate>());
                Assert.True(err < 1e-5, $"T={T}: rel err {err:E2}");
            }
        }

        [Fact]
        public void TheGenericOverloadsIgnoreTheKindInTheOptions()
        {
            var d = Device.Cpu;
            float[] Grad(bool generic)
            {
                using var scope = TensorScope.Begin();
                var x = Tensor.Rand(new[] { 9, 6 }, new Generator(3), d, -0.5f, 1.5f); x.RequiresGrad = true;
                var decay = Tensor.Full(new[] { 1 }, 0.8f, DType.Float32, d);
                var th = Tensor.Ones(new[] { 1 }, d);
                var r = generic
                    ? SpikingFunctions.Lif<TriangleSurrogate>(x, null, decay, th,
                        new SpikingOptions { Surrogate = SurrogateKind.Atan })
                    : SpikingFunctions.Lif(x, null, decay, th,
                        new SpikingOptions { Surrogate = SurrogateKind.Triangle });
                r.Spikes.Sum().Backward();
                return x.Grad!.ToArray();
            }
            Assert.Equal(Grad(generic: false), Grad(generic: true));
        }

        private sealed class TypeOf : ISurrogateCall<Type>
        {
            public Type Invoke<TS>() where TS : struct, ISurrogate => typeof(TS);
        }

        [Fact]
        public void EveryKindMapsToTheStructItDocuments()
        {
            var expected = new Dictionary<SurrogateKind, Type>
            {
                [SurrogateKind.ArctanTether] = typeof(ArctanTetherSurrogate),
                [SurrogateKind.Sigmoid] = typeof(SigmoidSurrogate),
                [SurrogateKind.FastSigmoid] = typeof(FastSigmoidSurrogate),
                [SurrogateKind.Atan] = typeof(AtanSurrogate),
                [SurrogateKind.Triangle] = typeof(TriangleSurrogate),
                [SurrogateKind.Rectangle] = typeof(RectangleSurrogate),
            };
            Assert.Equal(Enum.GetValues<SurrogateKind>().Length, expected.Count);
            foreach (var (kind, type) in expected) Assert.Equal(type, Surrogates.Dispatch(kind, new TypeOf()));
            var e = Assert.Throws<ArgumentOutOfRangeException>(
                () => Surrogates.Dispatch((SurrogateKind)42, new TypeOf()));
            Assert.Equal("kind", e.ParamName);
            Assert.StartsWith(
                "surrogate: surrogate kind 42 is not a SurrogateKind; expected one of ArctanTether, Sigmoid", e.Message);
        }

        [Fact]
        public void AnUndefinedKindFailsAtTheCallNamingTheOptions()
        {
            var d = Device.Cpu;
            using var scope = TensorScope.Begin();
            var x = Tensor.Ones(new[] { 3, 4 }, d);
            var one = Tensor.Ones(new[] { 1 }, d);
            var o = new SpikingOptions { Surrogate = (SurrogateKind)42 };
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => SpikingFunctions.Lif(x, null, one, one, o));
            Assert.Equal("options", e.ParamName);
            Assert.StartsWith("lif: surrogate kind 42 is not a SurrogateKind", e.Message);
            e = Assert.Throws<ArgumentOutOfRangeException>(() => NeuronModels.Run<LiModel>(x, null, new[] { one }, o));
            Assert.Equal("options", e.ParamName);
            Assert.StartsWith("li: surrogate kind 42 is not a SurrogateKind", e.Message);
        }

        public static IEnumerable<object[]> Devices => TestDevices.Names;
    }
}

namespace SpikeSharp.Tests.Neurons.Custom
{
    /// <summary>A user's surrogate that happens to share its name with a built-in one (and differs from it):
    /// σ'(x) = α / (1 + |αx|)³ · 2.</summary>
    public struct SigmoidSurrogate : ISurrogate
    {
        public readonly float Grad(float x, float alpha)
        {
            float d = 1f + MathF.Abs(alpha * x);
            return 2f * alpha / (d * d * d);
        }
    }
}
