using SpikeSharp.Autograd;

namespace SpikeSharp.Nn;

/// <summary>Losses and metrics for spiking networks, whose outputs are (T, B, C) sequences.</summary>
public static class Functional
{
    /// <summary>log softmax over <paramref name="dim"/> (see <see cref="SoftmaxOps.LogSoftmax"/>).</summary>
    public static Tensor LogSoftmax(Tensor x, int dim = -1) => x.LogSoftmax(dim);

    /// <summary>
    /// Mean cross-entropy of logits (B, C) against int32 labels (B) (see <see cref="LossOps.CrossEntropy"/>).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels) => Tensor.CrossEntropy(logits, labels);

    /// <summary>
    /// Cross-entropy of the time-averaged output: outputs (T, B, C) → mean over T → <see cref="CrossEntropy"/>.
    /// </summary>
    public static Tensor RateCrossEntropy(Tensor outputs, Tensor labels)
    {
        if (outputs.Rank != 3)
            throw new ArgumentException(
                $"RateCrossEntropy: outputs must be (T, B, C), got {ShapeUtil.Format(outputs.Shape)}", nameof(outputs));
        var rate = outputs.Mean(0);
        return Tensor.Releasing(rate, CrossEntropy(rate, labels));
    }

    /// <summary>
    /// Mean squared error between firing rates (mean over T of (T, B, C) spikes) and one-hot targets scaled by
    /// <paramref name="onRate"/> (the rate the correct class should fire at); mean over B and C.
    /// </summary>
    public static Tensor RateMse(Tensor outputs, Tensor labels, float onRate = 1f)
    {
        if (outputs.Rank != 3)
            throw new ArgumentException(
                $"RateMse: outputs must be (T, B, C), got {ShapeUtil.Format(outputs.Shape)}", nameof(outputs));
        CheckLabels(labels, outputs.Size(1), "RateMse");
        var target = Tensor.OneHot(labels, outputs.Size(2));
        if (onRate != 1f) target = Tensor.Releasing(target, target.MulScalar(onRate));
        var rate = outputs.Mean(0);
        var d = rate.Sub(target);
        rate.Release(); target.Release();
        var sq = d.Mul(d);
        d.Release();
        return Tensor.Releasing(sq, sq.Mean());
    }

    /// <summary>Mean squared error of equal-shaped tensors (see <see cref="LossOps.Mse"/>).</summary>
    public static Tensor Mse(Tensor prediction, Tensor target) => Tensor.Mse(prediction, target);

    /// <summary>
    /// Number of correct predictions as a one-element device tensor (no host read): argmax over C of logits (B, C),
    /// or of the summed outputs of (T, B, C), compared with int32 labels (B).
    /// </summary>
    public static Tensor Correct(Tensor outputs, Tensor labels)
    {
        using var _ = Tape.NoGrad();
        using var scope = TensorScope.Begin();
        var logits = outputs.Rank == 3 ? outputs.Sum(0) : outputs;
        if (logits.Rank != 2)
            throw new ArgumentException($"Correct: outputs must be (B, C) or (T, B, C), got "
                + ShapeUtil.Format(outputs.Shape), nameof(outputs));
        CheckLabels(labels, logits.Size(0), "Correct");
        var pred = logits.ArgMax(1).To(DType.Float32);
        var lab = labels.To(DType.Float32);
        return pred.Eq(lab).Sum().MoveToOuterScope();
    }

    /// <summary>
    /// Fraction of correct predictions as a float32 scalar tensor on the device, like <see cref="LossOps.Accuracy"/>
    /// (read it with <see cref="Tensor.Item"/>): argmax over C of logits (B, C), or of the summed outputs of
    /// (T, B, C), compared with int32 labels (B). Not differentiable.
    /// </summary>
    public static Tensor Accuracy(Tensor outputs, Tensor labels)
    {
        if (outputs.Rank != 3) return Tensor.Accuracy(outputs, labels);
        using var _ = Tape.NoGrad();
        using var summed = outputs.Sum(0);
        return Tensor.Accuracy(summed, labels);
    }

    private static void CheckLabels(Tensor labels, int batch, string op)
    {
        if (labels.DType != DType.Int32 || labels.Rank != 1 || labels.Size(0) != batch)
            throw new ArgumentException($"{op}: labels must be int32 ({batch}), got {labels.DType.Name()} "
                + ShapeUtil.Format(labels.Shape), nameof(labels));
    }
}
