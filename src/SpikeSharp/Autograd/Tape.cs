namespace SpikeSharp.Autograd;

/// <summary>The define-by-run tape: recording, grad mode, and the backward pass.</summary>
public static class Tape
{
    [ThreadStatic] private static int _noGradDepth;

    /// <summary>True when ops record onto the tape (outside <see cref="NoGrad"/>).</summary>
    public static bool IsEnabled => _noGradDepth == 0;

    /// <summary>Disables recording until disposed: <c>using (Grad.NoGrad()) { ... }</c>.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _done;
        public NoGradScope() => _noGradDepth++;
        public void Dispose() { if (!_done) { _done = true; _noGradDepth--; } }
    }

    /// <summary>True when recording is on and any input needs a gradient.</summary>
    public static bool Needs(params Tensor?[] inputs)
    {
        if (!IsEnabled) return false;
        foreach (var t in inputs) if (t != null && t.RequiresGrad) return true;
        return false;
    }

    /// <summary>
    /// Records an op with outputs <paramref name="outputs"/> computed from <paramref name="inputs"/>.
    /// Does nothing when no input requires a gradient or grad mode is off.
    /// </summary>
    public static void Record(string op, Tensor[] outputs, Tensor?[] inputs, BackwardFn fn)
    {
        foreach (var o in outputs) o.Storage.ClaimFor(op);
        if (!Needs(inputs)) return;
        var kept = new Tensor?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) kept[i] = inputs[i] is { RequiresGrad: true } t ? t : null;
        var node = new Node(op, kept, outputs.Length, fn, outputs.Select(o => o._shape).ToArray());
        for (int i = 0; i < outputs.Length; i++)
        {
            outputs[i].GradFn = node;
            outputs[i].OutputIndex = i;
            outputs[i].MarkRequiresGradFromOp();
        }
    }

    /// <summary>Single-output form of <see cref="Record(string, Tensor[], Tensor?[], BackwardFn)"/>.</summary>
    public static Tensor Record(string op, Tensor output, Func<Tensor, Tensor?[]> backward, params Tensor?[] inputs)
    {
        Record(op, new[] { output }, inputs, g => g[0] is { } g0 ? backward(g0) : new Tensor?[inputs.Length]);
        return output;
    }

    /// <summary>Runs the backward pass from <paramref name="root"/>; see <see cref="Tensor.Backward"/>.</summary>
    internal static void Backward(Tensor root, Tensor? gradient, bool retainGraph)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward: the tensor does not require grad (no input with RequiresGrad = true was used to compute it, or it was computed under NoGrad)");
        if (gradient == null)
        {
            if (root.Numel != 1)
                throw new InvalidOperationException($"Backward: gradient can be implicit only for a scalar output, this one has shape {ShapeUtil.Format(root._shape)}; pass a gradient of the same shape");
            gradient = Tensor.Ones(root._shape, root.Device);
        }
        else if (!gradient._shape.AsSpan().SequenceEqual(root._shape))
            throw new ArgumentException($"Backward: gradient shape {ShapeUtil.Format(gradient._shape)} does not match output shape {ShapeUtil.Format(root._shape)}", nameof(gradient));

        using var _ = NoGrad();
        if (root.GradFn == null) { Accumulate(root, gradient); return; }

        var order = TopoOrder(root.GradFn);
        // Fail before any gradient is accumulated, so a second pass through a freed graph leaves every .Grad as it was.
        foreach (var node in order)
            if (node.Fn == null)
                throw new InvalidOperationException($"Backward: the graph through '{node.Op}' was already freed by an earlier Backward(); call Backward(retainGraph: true) the first time to go through it twice");
        // Leaf gradients are applied only after the whole pass succeeded (an error midway leaves .Grad untouched).
        var leafGrads = new List<(Tensor leaf, Tensor g)>();
        var pending = new Dictionary<Node, Tensor?[]>(ReferenceEqualityComparer.Instance);
        pending[root.GradFn] = new Tensor?[root.GradFn.NumOutputs];
        pending[root.GradFn][root.OutputIndex] = gradient;

        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            if (!pending.Remove(node, out var gouts) || gouts.All(g => g == null)) { Free(node, retainGraph); continue; }
            if (node.Fn == null)
                throw new InvalidOperationException($"Backward: the graph through '{node.Op}' was already freed by an earlier Backward(); call Backward(retainGraph: true) the first time to go through it twice");
            Tensor?[] gins;
            using (MemoryProfile.Label(node.BackwardLabel)) gins = node.Fn(gouts);
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var inp = node.Inputs[i];
                var g = i < gins.Length ? gins[i] : null;
                if (inp == null || g == null) continue;
                if (!g._shape.AsSpan().SequenceEqual(inp._shape))
                    throw new InvalidOperationException($"Backward of '{node.Op}': gradient for input {i} has shape {ShapeUtil.Format(g._shape)}, input has {ShapeUtil.Format(inp._shape)} (a bug in the op's backward rule)");
                if (inp.GradFn is { } prev)
                {
                    if (!pending.TryGetValue(prev, out var arr)) pending[prev] = arr = new Tensor?[prev.NumOutputs];
                    arr[inp.OutputIndex] = arr[inp.OutputIndex] is { } old ? old.Add(g) : g;
                }
                else leafGrads.Add((inp, g));
            }
            Free(node, retainGraph);
        }
        var adopted = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (leaf, g) in leafGrads) Accumulate(leaf, g, !ReferenceEquals(g, gradient) && adopted.Add(g));
    }

    private static void Free(Node node, bool retain)
    {
        if (retain) return;
        node.Fn = null;
        node.Inputs = Array.Empty<Tensor?>();
    }

    // A gradient tensor that nothing else references (its own storage, not the caller's seed, not given to
    // another leaf) becomes the leaf's .Grad as it is; anything shared is copied first, because later
    // accumulation writes into .Grad in place. Adopting saves a full read and write of every gradient.
    private static void Accumulate(Tensor leaf, Tensor g, bool mayAdopt = false)
    {
        if (!leaf.RequiresGrad) return;
        if (leaf.Grad == null || leaf.Grad.IsDisposed)
        {
            leaf.Grad = mayAdopt && g.Storage.RefCount == 1 && g.Numel == g.Storage.Length ? g.Persist() : g.Clone().Persist();
        }
        else
        {
            leaf.Backend.Map(new Kernels.AddOp(), leaf.Grad.Buf, g.Buf, leaf.Grad.Buf);
        }
    }

    private static List<Node> TopoOrder(Node root)
    {
        // Iterative post-order DFS: a node comes after every node it depends on.
        var order = new List<Node>();
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node node, int next)>();
        stack.Push((root, 0));
        seen.Add(root);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node.Inputs.Length)
            {
                stack.Push((node, next + 1));
                if (node.Inputs[next]?.GradFn is { } child && seen.Add(child)) stack.Push((child, 0));
            }
            else order.Add(node);
        }
        return order;
    }
}
