using SpikeSharp.Autograd;
using SpikeSharp.Data;
using SpikeSharp.Neurons;
using SpikeSharp.Nn;
using SpikeSharp.Nn.Transformer;
using SpikeSharp.Optim;
using SpikeSharp.Training;

namespace SpikeSharp.Bench;

/// <summary>Sizes of the <c>train</c> suite's workloads (the CLI's defaults unless an option changes them).</summary>
internal sealed record TrainSizes(int T = 8, int LmDim = 384, int LmLayers = 6, int LmHeads = 6, int LmSeq = 64,
    int LmBatch = 32, int OnN = 4096, int OnT = 500, int OnB = 16);

/// <summary>
/// One training workload of the <c>train</c> suite: a model, its optimiser and synthetic data of the real shapes, and
/// <see cref="Step"/>, one training step as the CLI runs it (no host read of the loss: the trainer reads it only when
/// it reports progress). Work that records no op is marked for <see cref="OpProfile"/> ("input", "optimizer.step",
/// "metrics").
/// </summary>
internal sealed class TrainWorkload : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private Action _step = () => { };

    private TrainWorkload(string model, int batch, int t, int samplesPerStep, int? epochSamples)
    {
        Model = model; Batch = batch; T = t; SamplesPerStep = samplesPerStep; EpochSamples = epochSamples;
    }

    /// <summary>The workload's name: plif-csnn, csnn, lm or on.</summary>
    public string Model { get; }

    /// <summary>Samples (images, windows, or ON batch rows) per step.</summary>
    public int Batch { get; }

    /// <summary>Time steps of the spiking layers.</summary>
    public int T { get; }

    /// <summary>Samples one step consumes.</summary>
    public int SamplesPerStep { get; }

    /// <summary>Samples in one epoch (Fashion-MNIST's 60000 training images), null where epochs do not apply.</summary>
    public int? EpochSamples { get; }

    /// <summary>Runs one training step (asynchronous on a GPU: the caller synchronises).</summary>
    public void Step() => _step();

    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static readonly string[] Models = { "plif-csnn", "csnn", "lm", "on" };

    /// <summary>Builds workload <paramref name="model"/> (Fashion models at <paramref name="batch"/>; the LM and the
    /// ON step at their own sizes).</summary>
    public static TrainWorkload Create(string model, int batch, TrainSizes sizes, Device device) => model switch
    {
        "plif-csnn" or "csnn" => Fashion(model, batch, sizes.T, device),
        "lm" => Lm(sizes, device),
        "on" => OpenNeuromorphic(sizes, device),
        _ => throw new ArgumentException(
            $"--models: expected a list of {string.Join(", ", Models)}, got '{model}'", "models"),
    };

    private static TrainWorkload Fashion(string name, int batch, int t, Device device)
    {
        var kind = FashionModels.Parse(name);
        var w = new TrainWorkload(name, batch, t, batch, 60000);
        var modelGen = new Generator(0);
        var encGen = new Generator(1);
        var model = FashionModels.Create(kind, modelGen, device);
        var opt = new Adam(model.NamedParameters(), 1e-3f);
        w._owned.Add(model); w._owned.Add(opt);
        // Enough random images for a few loader epochs of 8 batches; the loader shuffles and uploads as in training.
        var rnd = new Random(0);
        int count = batch * 8;
        var images = new byte[count * 784];
        rnd.NextBytes(images);
        var labels = Enumerable.Range(0, count).Select(_ => rnd.Next(10)).ToArray();
        var loader = new DataLoader(ArrayDataset.FromBytes(images, labels, new[] { 1, 28, 28 }), batch,
            shuffle: true, dropLast: true, seed: 0, device: device);
        var sched = new CosineLr(opt, 1_000_000);
        var lossSum = Tensor.Zeros(new[] { 1 }, device).Persist();
        var correct = Tensor.Zeros(new[] { 1 }, device).Persist();
        w._owned.Add(lossSum); w._owned.Add(correct);
        IEnumerator<(Tensor x, Tensor y)>? batches = null;
        w._owned.Add(new Disposer(() => batches?.Dispose()));
        bool rateMse = FashionModels.UsesRateMse(kind);
        model.Train();
        w._step = () =>
        {
            if (batches == null || !batches.MoveNext())
            {
                batches?.Dispose();
                batches = loader.Batches().GetEnumerator();
                batches.MoveNext();
            }
            var (x, y) = batches.Current;
            OpProfile.Mark("input");
            // FashionTrainer.TrainEpoch's step: encode, forward, loss, backward, Adam, cosine rate, metrics.
            using var scope = TensorScope.Begin();
            model.ResetState();
            var outT = model.Forward(Encoders.Encode(x, t, EncodingKind.Direct, encGen));
            var avg = outT.Mean(0);
            Tensor loss;
            if (rateMse)
            {
                using var onehot = Tensor.OneHot(y, 10);
                loss = Tensor.Mse(avg, onehot);
            }
            else loss = Tensor.CrossEntropy(avg, y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            OpProfile.Mark("optimizer.step");
            sched.Step();
            using (Tape.NoGrad())
            {
                FashionTrainer.AccumulateInto(lossSum, loss.Reshape(1));
                using var c = Functional.Correct(outT, y);
                FashionTrainer.AccumulateInto(correct, c);
            }
            OpProfile.Mark("metrics");
        };
        return w;
    }

    // Characters of the bundled corpus are about this many (as the memory suite assumes).
    private const int LmVocab = 96;

    private static TrainWorkload Lm(TrainSizes s, Device device)
    {
        var w = new TrainWorkload("lm", s.LmBatch, s.LmSeq, s.LmBatch, null);
        var model = new SpikingLanguageModel(new SpikingLmConfig(LmVocab, s.LmDim, s.LmLayers, s.LmHeads),
            gen: new Generator(0), device: device);
        // train lm: AdamW (weight decay 0.01), cosine with warm-up, gradient norm clipped to 1.
        var opt = new AdamW(model.NamedParameters(), 1e-3f, weightDecay: 0.01f);
        var sched = new CosineLr(opt, 1_000_000, warmupSteps: 100, minLr: 1e-4f);
        w._owned.Add(model); w._owned.Add(opt);
        int step = 0;
        w._step = () =>
        {
            using var scope = TensorScope.Begin();
            model.Train(); model.ResetState();
            var rng = new Random(step++);
            int n = s.LmSeq * s.LmBatch;
            var xs = new int[n];
            var ys = new int[n];
            for (int i = 0; i < n; i++) { xs[i] = rng.Next(LmVocab); ys[i] = rng.Next(LmVocab); }
            var x = Tensor.FromArray(xs, new[] { s.LmSeq, s.LmBatch }, device);
            var y = Tensor.FromArray(ys, null, device);
            OpProfile.Mark("input");
            var logits = model.Forward(x);
            var loss = Tensor.CrossEntropy(logits.Reshape(-1, LmVocab), y);
            opt.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(model.Parameters(), 1f)?.Dispose();
            OpProfile.Mark("clip_grad_norm");
            opt.Step();
            OpProfile.Mark("optimizer.step");
            sched.Step();
        };
        return w;
    }

    private static TrainWorkload OpenNeuromorphic(TrainSizes s, Device device)
    {
        // The `on` suite's step: x (T, B, n) spikes → Linear(n, n, no bias) → LIF (λ 0.8, θ 1) → sum, backward to W.
        var w = new TrainWorkload("on", s.OnB, s.OnT, s.OnB, null);
        Tensor x;
        using (Tape.NoGrad())
        using (var scope = TensorScope.Begin())
        {
            var u = Tensor.Rand(new[] { s.OnT, s.OnB, s.OnN }, new Generator(1), device);
            // An upstream LIF on uniform noise, ~4 % firing, so that the Linear has a spike operand.
            x = SpikingFunctions.Lif(u, null, Tensor.Scalar(0.01f, device), Tensor.Scalar(0.96f, device))
                .Spikes.MoveToOuterScope();
        }
        x.Persist();
        double bound = 1.0 / Math.Sqrt(s.OnN);
        var weight = Tensor.Rand(new[] { s.OnN, s.OnN }, new Generator(2), device, (float)-bound, (float)bound)
            .Persist();
        weight.RequiresGrad = true;
        var decay = Tensor.Scalar(0.8f, device).Persist();
        var th = Tensor.Scalar(1f, device).Persist();
        w._owned.AddRange(new IDisposable[] { x, weight, decay, th });
        w._step = () =>
        {
            using var scope = TensorScope.Begin();
            var y = Tensor.Linear(x, weight);
            SpikingFunctions.Lif(y, null, decay, th).Spikes.Sum().Backward();
            weight.Grad!.Dispose();
            weight.Grad = null;
        };
        return w;
    }

    /// <summary>Frees the model, optimiser state and data.</summary>
    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    private sealed class Disposer(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
