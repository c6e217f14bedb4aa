namespace SpikeSharp.Autograd;

/// <summary>
/// Backward rule of a recorded op: gradients of the outputs in, gradients of the inputs out (null = none).
/// </summary>
public delegate Tensor?[] BackwardFn(Tensor?[] gradOutputs);

/// <summary>One recorded op on the tape.</summary>
internal sealed class Node
{
    public Node(string op, Tensor?[] inputs, int outputs, BackwardFn fn, int[][] outputShapes, Tensor[] saved)
    {
        Saved = saved;
        Op = op;
        Inputs = inputs;
        NumOutputs = outputs;
        Fn = fn;
        OutputShapes = outputShapes;
    }

    public string Op { get; }

    /// <summary>What <see cref="MemoryProfile"/> calls the gradients this node's backward makes.</summary>
    public string BackwardLabel => _backwardLabel ??= Op + ".backward";
    private string? _backwardLabel;
    public Tensor?[] Inputs { get; set; }
    public int NumOutputs { get; }
    public BackwardFn? Fn { get; set; }
    public int[][] OutputShapes { get; }

    /// <summary>The tensors pinned for <see cref="Fn"/> (unpinned when the node is freed).</summary>
    public Tensor[] Saved { get; set; }
}
