using SpikeSharp.Autograd;
using SpikeSharp.Neurons;

namespace SpikeSharp.Tests.Neurons;

/// <summary>
/// The spiking neurons as an unfused step loop of primitive tensor ops, differentiated by the tape. The spike
/// is a custom recorded op (Heaviside forward, surrogate backward, the seed's pseudo-gradient for α).
/// x: (T, B, F); state: (B, F); parameters: (F) or (1).
/// </summary>
public static class UnfusedReference
{
    public enum Kind { Lif, Plif, If, Alif }

    /// <summary>grad: the surrogate derivative σ'(z, α); null = the one <paramref name="o"/> names.</summary>
    public static (Tensor spikes, Tensor v, Tensor? a) Run(Kind kind, Tensor x, Tensor v0, Tensor? a0, Tensor? decay, Tensor threshold,
        Tensor? beta, Tensor? decayA, Tensor alpha, SpikingOptions o, Func<float, float, float>? grad = null)
    {
        grad ??= (z, al) => SurrogateGrad(o.Surrogate, z, al);
        int T = x.Size(0);
        var stateShape = x.Shape[1..];
        Tensor u = v0, a = a0 ?? Tensor.Zeros(stateShape, x.Device);
        var spikes = new List<Tensor>();
        for (int t = 0; t < T; t++)
        {
            var xt = x.Narrow(0, t, 1).Reshape(stateShape);
            var h = kind == Kind.If ? u + xt : u * decay! + xt;
            var th = kind == Kind.Alif ? threshold + beta! * a : threshold;
            var s = Spike(h - th, alpha, grad);
            var sr = o.DetachReset ? s.Detach() : s;
            if (o.Reset == ResetMode.Hard)
                u = h * (1f - sr) + sr * o.VReset;
            else
                u = h - th * sr;
            if (kind == Kind.Alif) a = a * decayA! + s;
            spikes.Add(s);
        }
        return (Tensor.Stack(spikes, 0), u, kind == Kind.Alif ? a : null);
    }

    public static float SurrogateGrad(SurrogateKind k, float z, float alpha) => k switch
    {
        SurrogateKind.ArctanTether => default(ArctanTetherSurrogate).Grad(z, alpha),
        SurrogateKind.Sigmoid => default(SigmoidSurrogate).Grad(z, alpha),
        SurrogateKind.FastSigmoid => default(FastSigmoidSurrogate).Grad(z, alpha),
        SurrogateKind.Atan => default(AtanSurrogate).Grad(z, alpha),
        SurrogateKind.Triangle => default(TriangleSurrogate).Grad(z, alpha),
        _ => default(RectangleSurrogate).Grad(z, alpha),
    };

    /// <summary>s = H(z) with the surrogate derivative; alpha (1 or F elements, broadcast over the last dim).</summary>
    public static Tensor Spike(Tensor z, Tensor alpha, SurrogateKind k) =>
        Spike(z, alpha, (zi, al) => SurrogateGrad(k, zi, al));

    /// <summary>s = H(z) with the surrogate derivative <paramref name="grad"/>(z, α).</summary>
    public static Tensor Spike(Tensor z, Tensor alpha, Func<float, float, float> grad)
    {
        var zs = z.ToArray();
        var al = alpha.ToArray();
        int F = al.Length;
        var s = Tensor.FromArray(zs.Select(v => v >= 0f ? 1f : 0f).ToArray(), z.Shape, z.Device);
        var zShape = z.Shape; var aShape = alpha.Shape; var dev = z.Device;
        Tape.Record("spike_ref", new[] { s }, new[] { z, alpha }, g =>
        {
            var gs = g[0]!.ToArray();
            var gz = new float[zs.Length]; var ga = new float[F];
            for (int i = 0; i < zs.Length; i++)
            {
                float av = al[i % F];
                float sg = grad(zs[i], av);
                gz[i] = gs[i] * sg;
                ga[i % F] += gs[i] * zs[i] * sg / av;
            }
            return new Tensor?[] { Tensor.FromArray(gz, zShape, dev), Tensor.FromArray(ga, aShape, dev) };
        });
        return s;
    }
}
