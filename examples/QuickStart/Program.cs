// The README's library example as a program: a rate-coded spiking MLP on Fashion-MNIST.
// dotnet run -c Release --project examples/QuickStart [-- --device cpu] [--steps N]
// One epoch by default; --steps N repeats epochs until N steps and reports the live tensor count and the
// process memory (RSS), which stay flat: the loader frees each batch, the scope frees each step's tensors.
using System.Diagnostics;
using SpikeSharp;
using SpikeSharp.Data;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

int? maxSteps = null;
for (int i = 0; i < args.Length; i++)
{
    string value = i + 1 < args.Length ? args[i + 1] : "";
    switch (args[i])
    {
        case "--device": Device.Default = Device.Parse(value); i++; break;
        case "--steps" when int.TryParse(value, out var n) && n > 0: maxSteps = n; i++; break;
        case "--steps":
            Console.Error.WriteLine($"--steps: expected a positive integer, got '{value}'");
            return 1;
        default:
            Console.Error.WriteLine(
                $"unknown argument '{args[i]}'; expected --device cpu|cuda|cuda:N|ilgpu-cpu or --steps N");
            return 1;
    }
}
var data = FashionMnist.Load(log: Console.WriteLine);
var labels = data.TrainLabels.Select(b => (int)b).ToArray();
var trainSet = ArrayDataset.FromBytes(data.TrainImages, labels, new[] { 1, 28, 28 }).Take(12_800);

var net = new Sequential(
    new MultiStep(new Flatten(1), new Linear(784, 256)),   // (T, B, 1, 28, 28) → (T, B, 256)
    new Lif(decay: 0.9f, threshold: 1f),                     // fused multi-step LIF, exact BPTT
    new MultiStep(new Linear(256, 10)));
var opt = new Adam(net.NamedParameters(), lr: 1e-3f);
var loader = new DataLoader(trainSet, batchSize: 128, shuffle: true, seed: 1);   // x (B, 1, 28, 28), y int32 (B)
int step = 0, steps = maxSteps ?? loader.BatchCount;
var clock = Stopwatch.StartNew();
while (step < steps)
{
    foreach (var (x, y) in loader.Batches())
    {
        using var scope = TensorScope.Begin();                   // frees this step's tensors
        net.ResetState();
        var logits = net.Forward(Encoders.Rate(x, steps: 8)).Mean(0);
        var loss = Tensor.CrossEntropy(logits, y);
        opt.ZeroGrad(); loss.Backward(); opt.Step();
        if (++step % 20 == 0 || step == steps)
            Console.WriteLine($"step {step}: loss {loss.Item():F4}, live tensors {Tensor.LiveCount}, "
                + $"RSS {Environment.WorkingSet >> 20} MB, {clock.Elapsed.TotalSeconds:F0} s");
        if (step == steps) break;
    }
}
return 0;
