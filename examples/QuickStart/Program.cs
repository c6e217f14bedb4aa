// The README's library example as a program: a rate-coded spiking MLP on Fashion-MNIST.
// dotnet run -c Release --project examples/QuickStart [-- --device cpu]
using SpikeSharp;
using SpikeSharp.Data;
using SpikeSharp.Nn;
using SpikeSharp.Optim;

if (args.Length == 2 && args[0] == "--device") Device.Default = Device.Parse(args[1]);
var data = FashionMnist.Load(log: Console.WriteLine);
var train = ArrayDataset.FromBytes(data.TrainImages, data.TrainLabels.Select(b => (int)b).ToArray(), new[] { 1, 28, 28 }).Take(12_800);
var loader = new DataLoader(train, batchSize: 128, shuffle: true, seed: 1);

var net = new Sequential(
    new MultiStep(new Flatten(1), new Linear(784, 256)),   // (T, B, 1, 28, 28) → (T, B, 256)
    new Lif(decay: 0.9f, threshold: 1f),                     // fused multi-step LIF, exact BPTT
    new MultiStep(new Linear(256, 10)));
var opt = new Adam(net.NamedParameters(), lr: 1e-3f);
int step = 0;
foreach (var (x, y) in loader.Batches())
{
    using var scope = TensorScope.Begin();                   // frees this step's tensors
    net.ResetState();
    var logits = net.Forward(Encoders.Rate(x, steps: 8)).Mean(0);
    var loss = Tensor.CrossEntropy(logits, y);
    opt.ZeroGrad(); loss.Backward(); opt.Step();
    if (++step % 20 == 0) Console.WriteLine($"step {step}: loss {loss.Item():F4}");
}
