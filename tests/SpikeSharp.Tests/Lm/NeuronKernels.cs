using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Lm;

/// <summary>Whether a device's backend has the fused LIF kernels (the ILGPU ones land separately from this folder).</summary>
internal static class NeuronKernels
{
    public static bool Available(Device d)
    {
        using var scope = TensorScope.Begin();
        try
        {
            var one = Tensor.Ones(new[] { 1 }, d);
            SpikingFunctions.Lif(Tensor.Zeros(new[] { 1, 1 }, d), null, one.MulScalar(0.5f), one);
            return true;
        }
        catch (NotSupportedException) { return false; }
    }
}
