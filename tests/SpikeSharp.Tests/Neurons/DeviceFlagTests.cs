using SpikeSharp.Neurons.Ilgpu;
using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

/// <summary>
/// Bad neuron inputs are the same <see cref="ArgumentException"/> on every backend: at the call on the CPU, at the next
/// host read on GPU backends (their kernels raise a device flag), with the same ParamName and the same start of the
/// message, naming the op and the argument.
/// </summary>
[Collection(SpikeSharp.Tests.Backends.SerialBackendTests.Name)]
public class DeviceFlagTests
{
    private static IEnumerable<Device> GpuBackends() => TestDevices.All.Where(d => d != Device.Cpu);

    // Each bad input: the op's call with it, the argument it names, and the start of the message on every backend.
    private static IEnumerable<(string Arg, string Head, Func<Device, Tensor> Call)> BadInputs()
    {
        Tensor X(Device d, float bad = 0.5f) => Tensor.FromArray(Enumerable.Range(0, 37 * 40)
            .Select(i => i == 123 ? bad : (float)Math.Sin(i)).ToArray(), new[] { 37, 40 }, d);
        Tensor S(Device d, float v) => Tensor.Full(new[] { 1 }, v, DType.Float32, d);
        Tensor V(Device d, int n, float v, int at, float bad) =>
            Tensor.FromArray(Enumerable.Range(0, n).Select(i => i == at ? bad : v).ToArray(), null, d);
        yield return ("x", "lif: x holds NaN or Inf values",
            d => SpikingFunctions.Lif(X(d, float.NaN), null, S(d, 0.9f), S(d, 1f)).Spikes);
        yield return ("decay", "plif: decay must be in [0, 1]",
            d => SpikingFunctions.Plif(X(d), null, V(d, 40, 0.9f, 7, 1.01f), V(d, 40, 1f, 0, 1f)).Spikes);
        yield return ("threshold", "if: threshold must be finite",
            d => SpikingFunctions.If(X(d), null, S(d, float.NaN)).Spikes);
        yield return ("decayA", "alif: decayA must be in [0, 1]",
            d => SpikingFunctions.Alif(X(d), null, null, S(d, 0.9f), S(d, 1f), S(d, 0.2f), S(d, -0.5f)).Spikes);
        yield return ("beta", "alif: beta must be finite",
            d => SpikingFunctions.Alif(X(d), null, null, S(d, 0.9f), S(d, 1f), S(d, float.PositiveInfinity),
                S(d, 0.5f)).Spikes);
        yield return ("alpha", "lif: alpha must be a finite number > 0", d =>
        {
            var x = X(d); x.RequiresGrad = true;
            var alpha = S(d, -1f); alpha.RequiresGrad = true;
            SpikingFunctions.Lif(x, null, S(d, 0.9f), S(d, 1f), null, alpha).Spikes.Sum().Backward();
            return x.Grad!;
        });
    }

    [Fact]
    public void EveryBackendReportsBadInputsAsTheSameArgumentException()
    {
        foreach (var (arg, head, call) in BadInputs())
        {
            ArgumentException Cpu()
            {
                using var scope = TensorScope.Begin();
                return Assert.Throws<ArgumentException>(() => call(Device.Cpu));
            }
            var cpu = Cpu();
            Assert.Equal(arg, cpu.ParamName);
            Assert.StartsWith(head, cpu.Message);
            foreach (var d in GpuBackends())
            {
                using var scope = TensorScope.Begin();
                var gpu = Assert.Throws<ArgumentException>(() => call(d).ToArray()); // raised at the host read
                Assert.Equal(arg, gpu.ParamName);
                Assert.StartsWith(head, gpu.Message);
                Assert.Contains($"found on {d} at the first host read after the call", gpu.Message);
                // The flag is cleared once reported: a clean call afterwards reads normally.
                var clean = SpikingFunctions.Lif(Tensor.Ones(new[] { 3, 4 }, d), null,
                    Tensor.Full(new[] { 1 }, 0.5f, DType.Float32, d), Tensor.Ones(new[] { 1 }, d));
                Assert.Equal(Enumerable.Repeat(1f, 12), clean.Spikes.ToArray()); // h = 0.5·0 + 1 reaches θ every step
            }
        }
    }

    [Fact]
    public void AFlagWordNamesEveryOpAndArgumentItHolds()
    {
        int flags = (NeuronFlag.Decay << 8) | (NeuronFlag.X << 24) | (NeuronFlag.Alpha << 24);
        var e = IlgpuNeuronDriver.FlagError(flags, Device.Cuda(0));
        Assert.Equal("decay", e.ParamName); // the first in flag order: plif's decay
        Assert.StartsWith("plif: decay must be in [0, 1] (found on cuda:0 at the first host read after the call",
            e.Message);
        Assert.Contains("; also alif: x holds NaN or Inf values; alif: alpha must be a finite number > 0", e.Message);
    }
}
