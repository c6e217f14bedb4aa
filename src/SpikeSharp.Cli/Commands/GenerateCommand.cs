using System.CommandLine;
using SpikeSharp.Nn.Transformer;

namespace SpikeSharp.Cli.Commands;

/// <summary><c>spikesharp generate</c>: samples text from a trained spiking language model, one token at a
/// time.</summary>
internal static class GenerateCommand
{
    public static Command Build()
    {
        var ckpt = new Option<string>("--checkpoint")
        {
            Required = true, Description = "directory written by 'spikesharp train lm --out DIR'",
        };
        var prompt = new Option<string>("--prompt")
        {
            Required = true, Description = "text to start from (characters of the model's vocabulary)",
        };
        var tokens = new Option<int>("--tokens")
        {
            DefaultValueFactory = _ => 200, Description = "characters to generate",
        };
        var temperature = new Option<float>("--temperature")
        {
            DefaultValueFactory = _ => 1f, Description = "sampling temperature (0 = greedy)",
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "random seed" };
        var device = DeviceOption.Create();
        var cmd = new Command("generate",
            "Feed a prompt to a spiking language model, then generate one character at a time through its kept "
            + "states.")
        {
            ckpt, prompt, tokens, temperature, seed, device,
        };
        cmd.SetAction(p => Run(p.GetValue(ckpt)!, p.GetValue(prompt)!, p.GetValue(tokens), p.GetValue(temperature),
            p.GetValue(seed), p.GetValue(device), Console.Out));
        return cmd;
    }

    /// <summary>Writes the prompt followed by the generated text; returns the exit code.</summary>
    public static int Run(string checkpoint, string prompt, int tokens, float temperature, int seed,
        string? deviceName, TextWriter o)
    {
        if (tokens < 0) throw new ArgumentException($"--tokens must be >= 0, got {tokens}", nameof(tokens));
        if (!(temperature >= 0 && float.IsFinite(temperature)))
            throw new ArgumentException($"--temperature must be >= 0, got {temperature}", nameof(temperature));
        if (string.IsNullOrEmpty(prompt))
            throw new ArgumentException("--prompt must hold at least one character", nameof(prompt));
        var device = DeviceOption.Apply(deviceName);
        var (model, vocab) = SpikingLmCheckpoint.Load(checkpoint, device);
        using var _m = model;
        var ids = vocab.Encode(prompt); // names any character outside the vocabulary
        model.Eval();
        var rng = new Random(seed);
        o.Write(prompt);
        using (Autograd.Tape.NoGrad())
        {
            float[] last = LastLogits(model, ids, device);
            for (int i = 0; i < tokens; i++)
            {
                int next = Sample(last, temperature, rng);
                o.Write(vocab.Decode(new[] { next }));
                last = LastLogits(model, new[] { next }, device);
            }
        }
        o.WriteLine();
        return 0;
    }

    // Feeds ids (T, 1) through the kept state; returns the logits of the last step.
    private static float[] LastLogits(SpikingLanguageModel model, int[] ids, Device device)
    {
        using var scope = TensorScope.Begin();
        var logits = model.Forward(Tensor.FromArray(ids, new[] { ids.Length, 1 }, device));
        return logits.Narrow(0, ids.Length - 1, 1).ToArray();
    }

    private static int Sample(float[] logits, float temperature, Random rng)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        if (temperature == 0) return best;
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) { p[i] = Math.Exp((logits[i] - logits[best]) / temperature); sum += p[i]; }
        double u = rng.NextDouble() * sum;
        for (int i = 0; i < p.Length; i++) { u -= p[i]; if (u <= 0) return i; }
        return p.Length - 1;
    }
}
