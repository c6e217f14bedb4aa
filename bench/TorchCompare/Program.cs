// One process, alternating rounds: the README main job's training step (Flatten → Linear(784, 512) → LIF, T = 4
// → Linear(512, 10), time-averaged logits, cross-entropy, Adam 1e-3, batch 128, direct encoding) in SpikeSharp's
// CPU backend and in libtorch (TorchSharp-cpu) written op by op with the same math, both from the same weights.
// Run: dotnet run -c Release --project bench/TorchCompare -- [rounds] [stepsPerRound] [threads]
using System.Diagnostics;
using SpikeSharp;
using SpikeSharp.Nn;
using SpikeSharp.Training;
using TorchSharp;
using static TorchSharp.torch;
using SsTensor = SpikeSharp.Tensor;
using SsGenerator = SpikeSharp.Generator;
using SsDevice = SpikeSharp.Device;
using SpikeSharp.Data;
using TTensor = TorchSharp.torch.Tensor;

const int T = 4, B = 128, Classes = 10, CompareSteps = 5, WarmupSteps = 5;
int rounds = args.Length > 0 ? int.Parse(args[0]) : 10;
int perRound = args.Length > 1 ? int.Parse(args[1]) : 20;
int threads = args.Length > 2 ? int.Parse(args[2]) : 2;

SpikeSharp.Threads.Count = threads;
torch.set_num_threads(threads);

// Inputs: fixed-seed uniform images (B, 1, 28, 28) and labels, the same for both frameworks and every step.
var gen = new SsGenerator(42);
using var images = SsTensor.Rand(new[] { B, 1, 28, 28 }, gen).Persist();
var rng = new Random(7);
int[] labels = Enumerable.Range(0, B).Select(_ => rng.Next(Classes)).ToArray();
using var ssLabels = SsTensor.FromArray(labels).Persist();

// SpikeSharp: the README main job's model exactly as the trainer builds it.
var model = FashionModels.Create(FashionModelKind.Mlp, new SsGenerator(1), SsDevice.Cpu);
model.Train();
var named = model.NamedParameters().ToList();
using var ssOpt = new SpikeSharp.Optim.Adam(named, 1e-3f);

// libtorch: the same parameters, copied.
TorchSharp.Modules.Parameter Copy(SsTensor p) =>
    new(torch.tensor(p.ToArray(), p.Shape.Select(d => (long)d).ToArray(), dtype: float32));
var byName = named.ToDictionary(n => n.Name, n => n.Param);
Console.WriteLine("SpikeSharp parameters: " + string.Join(", ",
    named.Select(n => $"{n.Name} [{string.Join("x", n.Param.Shape)}]")));
SsTensor Find(string suffix) => named.Single(n => n.Name.EndsWith(suffix)).Param;
var linears = named.Where(n => n.Name.EndsWith("weight")).Select(n => n.Param).ToList();
var biases = named.Where(n => n.Name.EndsWith("bias")).Select(n => n.Param).ToList();
var w1 = Copy(linears[0]); var b1 = Copy(biases[0]);
var w2 = Copy(linears[1]); var b2 = Copy(biases[1]);
var decayLogit = Copy(Find("decay_logit"));
var theta = Copy(Find("threshold"));
var tParams = new[] { w1, b1, decayLogit, theta, w2, b2 };
var tOpt = torch.optim.Adam(tParams, lr: 1e-3);
var tImages = torch.tensor(images.ToArray(), new long[] { B, 1, 28, 28 }, dtype: float32);
var tLabels = torch.tensor(labels.Select(l => (long)l).ToArray(), dtype: int64);
const float Alpha = 2f; // SpikingOptions.Default: arctan (tether) surrogate, α = 2, hard reset to 0, reset detached

float SsStep()
{
    using var scope = TensorScope.Begin();
    model.ResetState();
    var x = Encoders.Direct(images, T); // what the trainer's direct encoding does
    var outT = model.Forward(x);
    var loss = SsTensor.CrossEntropy(outT.Mean(0), ssLabels);
    ssOpt.ZeroGrad();
    loss.Backward();
    ssOpt.Step();
    return loss.Item();
}

// Heaviside forward, arctan-tether surrogate backward: g = arctan(απx)/π + 1/2 has g' = α / (1 + (απx)²).
TTensor Spike(TTensor x)
{
    var h = x.ge(0f).to_type(float32);
    var g = torch.atan(x * (Alpha * MathF.PI)) / MathF.PI + 0.5f;
    return h.detach() + (g - g.detach());
}

float TorchStep()
{
    using var scope = torch.NewDisposeScope();
    var x = tImages.flatten(1).unsqueeze(0).expand(T, B, 784).reshape(T * B, 784);
    var cur = torch.nn.functional.linear(x, w1, b1).reshape(T, B, 512);
    var decay = torch.sigmoid(decayLogit);
    var v = torch.zeros(B, 512, dtype: float32);
    var spikes = new List<TTensor>(T);
    for (int t = 0; t < T; t++)
    {
        var h = decay * v + cur[t];
        var s = Spike(h - theta);
        v = h * (1f - s.detach()); // hard reset to 0, no gradient through the reset
        spikes.Add(s);
    }
    var outT = torch.nn.functional.linear(torch.stack(spikes).reshape(T * B, 512), w2, b2).reshape(T, B, Classes);
    var loss = torch.nn.functional.cross_entropy(outT.mean(new long[] { 0 }), tLabels);
    tOpt.zero_grad();
    loss.backward();
    tOpt.step();
    return loss.item<float>();
}

Console.WriteLine($"threads: SpikeSharp {SpikeSharp.Threads.Count}, libtorch {torch.get_num_threads()}; "
    + $"T={T} B={B}; {rounds} rounds x {perRound} steps each");
Console.WriteLine("loss agreement (same weights, same inputs, Adam 1e-3):");
Console.WriteLine("step  SpikeSharp    libtorch      |diff|");
for (int i = 0; i < CompareSteps; i++)
{
    float a = SsStep(), b = TorchStep();
    Console.WriteLine($"{i + 1,4}  {a,-12:F7}  {b,-12:F7}  {MathF.Abs(a - b):E2}");
}
for (int i = 0; i < WarmupSteps; i++) { SsStep(); TorchStep(); }

var ssTimes = new List<double>(); var tTimes = new List<double>(); var roundRatios = new List<double>();
var sw = new Stopwatch();
for (int r = 0; r < rounds; r++)
{
    var ssRound = new List<double>(); var tRound = new List<double>();
    for (int i = 0; i < perRound; i++) { sw.Restart(); SsStep(); ssRound.Add(sw.Elapsed.TotalMilliseconds); }
    for (int i = 0; i < perRound; i++) { sw.Restart(); TorchStep(); tRound.Add(sw.Elapsed.TotalMilliseconds); }
    ssTimes.AddRange(ssRound); tTimes.AddRange(tRound);
    roundRatios.Add(Median(ssRound) / Median(tRound));
    Console.WriteLine($"round {r + 1,2}: SpikeSharp {Median(ssRound),7:F2} ms/step  libtorch {Median(tRound),7:F2} "
        + $"ms/step  ratio {roundRatios[^1]:F3}");
}
double ms = Median(ssTimes), mt = Median(tTimes);
Console.WriteLine();
Console.WriteLine("framework   median ms/step  min ms/step");
Console.WriteLine($"SpikeSharp  {ms,14:F2}  {ssTimes.Min(),11:F2}");
Console.WriteLine($"libtorch    {mt,14:F2}  {tTimes.Min(),11:F2}");
Console.WriteLine($"ratio SpikeSharp/libtorch: {ms / mt:F3} (median of steps), {Median(roundRatios):F3} (median of "
    + $"per-round ratios), range {roundRatios.Min():F3}..{roundRatios.Max():F3}");

static double Median(List<double> v)
{
    var s = v.OrderBy(x => x).ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : 0.5 * (s[s.Count / 2 - 1] + s[s.Count / 2]);
}
