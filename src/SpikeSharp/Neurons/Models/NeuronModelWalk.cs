namespace SpikeSharp.Neurons;

/// <summary>Indexed float memory: a host array window on the CPU, an ArrayView in the ILGPU kernels.</summary>
internal interface IFloats
{
    float this[int i] { get; set; }
}

/// <summary>
/// The buffers of one call of a neuron model (layouts below); optional ones are flagged by the Has fields.
/// x, out, gOut, gX: (T, N); s0, sT, gS0, gST: (K, N) with K the model's state size;
/// prm: (P, F) parameters (P = the model's parameter count), neuron n reading column n % F;
/// saved: (T, K, N) the state before each step; gP: (P, N) each neuron's
/// parameter gradients (the caller sums them over the neurons sharing a column).
/// </summary>
internal struct ModelBufs<TF> where TF : struct, IFloats
{
    public TF X, S0, Prm, Out, ST, Saved, GOut, GST, GX, GS0, GP;
    public int T, N, F, P, HasS0, HasSaved, HasGOut, HasGST, HasGS0, HasGP;
    public StepConfig C;
}

/// <summary>
/// One neuron's walk over time for any <see cref="INeuronModel"/>, forward and backward, written once for the CPU
/// driver and the ILGPU kernels (kernel code rules apply).
/// </summary>
internal static class NeuronModelWalk
{
    public static NeuronParamSet Gather<TM, TF>(ModelBufs<TF> b, int n)
        where TM : struct, INeuronModel where TF : struct, IFloats
    {
        var p = default(NeuronParamSet);
        for (int k = 0; k < b.P; k++) p.Set(k, b.Prm[k * b.F + n % b.F]);
        return p;
    }

    public static void Forward<TM, TF>(ModelBufs<TF> b, in NeuronParamSet p, int n)
        where TM : struct, INeuronModel where TF : struct, IFloats
    {
        int K = TM.StateSize, N = b.N;
        var s = default(NeuronState);
        if (b.HasS0 != 0)
            for (int k = 0; k < K; k++) s.Set(k, b.S0[k * N + n]);
        for (int t = 0; t < b.T; t++)
        {
            if (b.HasSaved != 0)
                for (int k = 0; k < K; k++) b.Saved[(t * K + k) * N + n] = s.Get(k);
            b.Out[t * N + n] = TM.Step(ref s, p, b.X[t * N + n], b.C);
        }
        for (int k = 0; k < K; k++) b.ST[k * N + n] = s.Get(k);
    }

    public static void Backward<TM, TS, TF>(ModelBufs<TF> b, in NeuronParamSet p, int n)
        where TM : struct, INeuronModel where TS : struct, ISurrogate where TF : struct, IFloats
    {
        int K = TM.StateSize, N = b.N;
        var g = default(NeuronState);
        var gp = default(NeuronParamSet);
        if (b.HasGST != 0)
            for (int k = 0; k < K; k++) g.Set(k, b.GST[k * N + n]);
        for (int t = b.T - 1; t >= 0; t--)
        {
            var pre = default(NeuronState);
            for (int k = 0; k < K; k++) pre.Set(k, b.Saved[(t * K + k) * N + n]);
            float x = b.X[t * N + n];
            float sg = TM.Spiking ? default(TS).Grad(TM.Distance(pre, p, x), b.C.Alpha) : 0f;
            float gOut = b.HasGOut != 0 ? b.GOut[t * N + n] : 0f;
            b.GX[t * N + n] = TM.StepBackward(pre, p, x, b.C, sg, gOut, ref g, ref gp);
        }
        if (b.HasGS0 != 0)
            for (int k = 0; k < K; k++) b.GS0[k * N + n] = g.Get(k);
        if (b.HasGP != 0)
        {
            for (int k = 0; k < b.P; k++) b.GP[k * N + n] = gp.Get(k);
        }
    }
}
