using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;

namespace SpikeSharp.Neurons;

/// <summary>The buffers of one call of a neuron model (layouts as in <see cref="ModelBufs{TF}"/>).</summary>
internal sealed class ModelCall
{
    public int T, N, F, P;
    public Buf X, Prm;
    public Buf? S0, Out, ST, Saved, GOut, GST, GX, GS0, GP;
    public StepConfig C;

    /// <summary>
    /// The call as kernel buffers, each window mapped by <paramref name="map"/> (absent ones to default).
    /// </summary>
    public ModelBufs<TF> Map<TF>(Func<Buf, TF> map) where TF : struct, IFloats
    {
        TF M(Buf? b) => b is { } x ? map(x) : default;
        return new ModelBufs<TF>
        {
            X = map(X), Prm = map(Prm), S0 = M(S0), Out = M(Out), ST = M(ST), Saved = M(Saved),
            GOut = M(GOut), GST = M(GST), GX = M(GX), GS0 = M(GS0), GP = M(GP),
            T = T, N = N, F = F, P = P, C = C,
            HasS0 = S0 != null ? 1 : 0, HasSaved = Saved != null ? 1 : 0, HasGOut = GOut != null ? 1 : 0,
            HasGST = GST != null ? 1 : 0, HasGS0 = GS0 != null ? 1 : 0, HasGP = GP != null ? 1 : 0,
        };
    }
}

/// <summary>
/// A backend's driver of the generic neuron-model walk (one per backend, see <see cref="NeuronModels"/>).
/// </summary>
internal interface INeuronModelDriver
{
    void Forward<TM>(ModelCall c) where TM : struct, INeuronModel;

    void Backward<TM, TS>(ModelCall c) where TM : struct, INeuronModel where TS : struct, ISurrogate;
}

/// <summary>A window of a host float array.</summary>
internal struct HostFloats : IFloats
{
    public float[] A;
    public int O;

    public float this[int i] { readonly get => A[O + i]; set => A[O + i] = value; }
}

/// <summary>
/// The CPU driver: neurons in parallel chunks, each walked over time by <see cref="NeuronModelWalk"/>.
/// </summary>
internal sealed class CpuNeuronModelDriver : INeuronModelDriver
{
    public static CpuNeuronModelDriver Instance { get; } = new();

    private static HostFloats Host(Buf b) => new() { A = b.Array<float>(), O = b.Offset };

    private static void ForEachNeuron(int n, Action<int> body)
    {
        int chunk = Math.Max(256, n / (8 * Environment.ProcessorCount));
        Parallel.For(0, (n + chunk - 1) / chunk, c =>
        {
            int end = Math.Min(n, (c + 1) * chunk);
            for (int i = c * chunk; i < end; i++) body(i);
        });
    }

    public void Forward<TM>(ModelCall c) where TM : struct, INeuronModel
    {
        var b = c.Map(Host);
        ForEachNeuron(c.N, n =>
            NeuronModelWalk.Forward<TM, HostFloats>(b, NeuronModelWalk.Gather<TM, HostFloats>(b, n), n));
    }

    public void Backward<TM, TS>(ModelCall c) where TM : struct, INeuronModel where TS : struct, ISurrogate
    {
        var b = c.Map(Host);
        ForEachNeuron(c.N, n =>
            NeuronModelWalk.Backward<TM, TS, HostFloats>(b, NeuronModelWalk.Gather<TM, HostFloats>(b, n), n));
    }
}
