using SpikeSharp.Autograd;

namespace SpikeSharp.Nn;

/// <summary>Losses and metrics for spiking networks, whose outputs are (T, B, C) sequences.</summary>
public static class Functional
{
    /// <summary>log softmax over <paramref name="dim"/>, stabilised by the (constant) maximum.</summary>
    public static Tensor LogSoftmax(Tensor x, int dim = -1)
    {
        Tensor m;
        using (Tape.NoGrad()) m = x.Max(dim, keepDim: true);
        var z = x.Sub(m);
        return z.Sub(z.Exp().Sum(dim, keepDim: true).Log());
    }

    /// <summary>Mean cross-entropy of logits (B, C) against int32 labels (B).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels)
    {
        if (logits.Rank != 2) throw new ArgumentException($"CrossEntropy: logits must be (B, C), got {ShapeUtil.Format(logits._shape)}", nameof(logits));
        CheckLabels(labels, logits.Size(0), "CrossEntropy");
        var onehot = Tensor.OneHot(labels, logits.Size(1)); // kept alive: the product's backward reads it
        return LogSoftmax(logits, 1).Mul(onehot).Sum().MulScalar(-1f / logits.Size(0));
    }

    /// <summary>Cross-entropy of the time-averaged output: outputs (T, B, C) → mean over T → <see cref="CrossEntropy"/>.</summary>
    public static Tensor RateCrossEntropy(Tensor outputs, Tensor labels)
    {
        if (outputs.Rank != 3) throw new ArgumentException($"RateCrossEntropy: outputs must be (T, B, C), got {ShapeUtil.Format(outputs._shape)}", nameof(outputs));
        return CrossEntropy(outputs.Mean(0), labels);
    }

    /// <summary>
    /// Mean squared error between firing rates (mean over T of (T, B, C) spikes) and one-hot targets scaled by
    /// <paramref name="onRate"/> (the rate the correct class should fire at); mean over B and C.
    /// </summary>
    public static Tensor RateMse(Tensor outputs, Tensor labels, float onRate = 1f)
    {
        if (outputs.Rank != 3) throw new ArgumentException($"RateMse: outputs must be (T, B, C), got {ShapeUtil.Format(outputs._shape)}", nameof(outputs));
        CheckLabels(labels, outputs.Size(1), "RateMse");
        var target = Tensor.OneHot(labels, outputs.Size(2));
        if (onRate != 1f) target = target.MulScalar(onRate);
        var d = outputs.Mean(0).Sub(target);
        return d.Mul(d).Mean();
    }

    /// <summary>Mean squared error of equal-shaped tensors.</summary>
    public static Tensor Mse(Tensor prediction, Tensor target)
    {
        var d = prediction.Sub(target);
        return d.Mul(d).Mean();
    }

    /// <summary>
    /// Number of correct predictions as a one-element device tensor (no host read): argmax over C of logits (B, C),
    /// or of the summed outputs of (T, B, C), compared with int32 labels (B).
    /// </summary>
    public static Tensor Correct(Tensor outputs, Tensor labels)
    {
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        var logits = outputs.Rank == 3 ? outputs.Sum(0) : outputs;
        if (logits.Rank != 2) throw new ArgumentException($"Correct: outputs must be (B, C) or (T, B, C), got {ShapeUtil.Format(outputs._shape)}", nameof(outputs));
        CheckLabels(labels, logits.Size(0), "Correct");
        var pred = logits.ArgMax(1).To(DType.Float32);
        var lab = labels.To(DType.Float32);
        return pred.Eq(lab).Sum().MoveToOuterScope();
    }

    /// <summary>Fraction of correct predictions (reads one number from the device).</summary>
    public static float Accuracy(Tensor outputs, Tensor labels)
    {
        using var c = Correct(outputs, labels);
        return c.Item() / labels.Numel;
    }

    private static void CheckLabels(Tensor labels, int batch, string op)
    {
        if (labels.DType != DType.Int32 || labels.Rank != 1 || labels.Size(0) != batch)
            throw new ArgumentException($"{op}: labels must be int32 ({batch}), got {labels.DType.Name()} {ShapeUtil.Format(labels._shape)}", nameof(labels));
    }
}
