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
    /// Does nothing when no input requires a gradient or grad mode is off. The inputs and outputs are kept alive for
    /// <paramref name="fn"/> until it has run (the library's own ops name exactly what their backward reads, so the
    /// rest can be freed during the forward pass).
    /// </summary>
    public static void Record(string op, Tensor[] outputs, Tensor?[] inputs, BackwardFn fn) =>
        Record(op, outputs, inputs, Saves.InputsAndOutputs, fn);

    /// <summary>Single-output form of <see cref="Record(string, Tensor[], Tensor?[], BackwardFn)"/>.</summary>
    public static Tensor Record(string op, Tensor output, Func<Tensor, Tensor?[]> backward, params Tensor?[] inputs) =>
        Record(op, output, Saves.InputsAndOutputs, backward, inputs);

    /// <summary>
    /// Records an op whose backward reads exactly the tensors in <paramref name="saves"/> (besides the gradients it
    /// is given): those are pinned until the backward has run; any other input or output may be freed as soon as the
    /// forward pass is done with it (<see cref="Tensor.Release"/>).
    /// </summary>
    internal static void Record(string op, Tensor[] outputs, Tensor?[] inputs, Saves saves, BackwardFn fn)
    {
        OpProfile.OnRecord(op);
        foreach (var o in outputs) o.Storage.ClaimFor(op);
        if (!Needs(inputs)) return;
        var kept = new Tensor?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) kept[i] = inputs[i] is { RequiresGrad: true } t ? t : null;
        var saved = saves.Resolve(inputs, outputs);
        foreach (var t in saved)
        {
            t.Pin();
            if (!t.IsDisposed) t.Storage.ClaimFor(op + ":saved");
        }
        var node = new Node(op, kept, outputs.Length, fn, outputs.Select(o => o.Dims).ToArray(), saved);
        for (int i = 0; i < outputs.Length; i++)
        {
            outputs[i].GradFn = node;
            outputs[i].OutputIndex = i;
            outputs[i].MarkRequiresGradFromOp();
        }
    }

    /// <summary>Single-output form of <see cref="Record(string, Tensor[], Tensor?[], Saves, BackwardFn)"/>.</summary>
    internal static Tensor Record(string op, Tensor output, Saves saves, Func<Tensor, Tensor?[]> backward,
        params Tensor?[] inputs)
    {
        Record(op, new[] { output }, inputs, saves, g => g[0] is { } g0 ? backward(g0) : new Tensor?[inputs.Length]);
        return output;
    }

    /// <summary>
    /// Runs the backward pass from <paramref name="root"/>; see <see cref="Tensor.Backward"/>. Memory: a gradient the
    /// pass made is freed as soon as it has been handed to its node's backward (or summed into another), and each
    /// node's saved tensors are unpinned when its backward has run (unless <paramref name="retainGraph"/>), so the
    /// pass holds the saved tensors still ahead of it plus the gradients in flight, not every tensor it made.
    /// </summary>
    internal static void Backward(Tensor root, Tensor? gradient, bool retainGraph)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward: the tensor does not require grad (no input with "
                + "RequiresGrad = true was used to compute it, or it was computed under NoGrad)");
        // Tensors with a larger Id are this pass's own: gradients nobody else holds, which it may free or add into.
        long mark = Tensor.CreatedCount;
        if (gradient == null)
        {
            if (root.Numel != 1)
                throw new InvalidOperationException($"Backward: gradient can be implicit only for a scalar output, "
                    + $"this one has shape {ShapeUtil.Format(root.Dims)}; pass a gradient of the same shape");
            gradient = Tensor.Ones(root.Dims, root.Device);
        }
        else if (!gradient.Dims.AsSpan().SequenceEqual(root.Dims))
            throw new ArgumentException($"Backward: gradient shape {ShapeUtil.Format(gradient.Dims)} does not match "
                + $"output shape {ShapeUtil.Format(root.Dims)}", nameof(gradient));

        using var _ = NoGrad();
        if (root.GradFn == null) { Accumulate(root, gradient); return; }

        var order = TopoOrder(root.GradFn);
        // Fail before any gradient is accumulated, so a second pass through a freed graph leaves every .Grad as it was.
        foreach (var node in order)
            if (node.Fn == null)
                throw new InvalidOperationException($"Backward: the graph through '{node.Op}' was already freed by "
                    + "an earlier Backward(); call Backward(retainGraph: true) the first time to go through it twice");
        var pass = new GradientPass(mark, gradient);
        pass.Seed(root.GradFn, root.OutputIndex, gradient);

        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            var gouts = pass.Take(node);
            if (gouts == null || gouts.All(g => g == null)) { Free(node, retainGraph); pass.Drop(gouts); continue; }
            Tensor?[] gins;
            using (MemoryProfile.Label(node.BackwardLabel)) gins = node.Fn!(gouts);
            var loose = new List<Tensor>();
            for (int i = 0; i < gins.Length; i++)
            {
                var g = gins[i];
                if (g == null) continue;
                var inp = i < node.Inputs.Length ? node.Inputs[i] : null;
                if (inp == null) { loose.Add(g); continue; }
                if (!g.Dims.AsSpan().SequenceEqual(inp.Dims))
                    throw new InvalidOperationException($"Backward of '{node.Op}': gradient for input {i} has "
                        + $"shape {ShapeUtil.Format(g.Dims)}, input has {ShapeUtil.Format(inp.Dims)} (a bug in the "
                        + "op's backward rule)");
                if (!pass.Add(inp, g)) loose.Add(g);
            }
            Free(node, retainGraph);
            pass.Drop(gouts);
            foreach (var g in loose) pass.DisposeIfLoose(g);
        }
        // Leaf gradients are applied only after the whole pass succeeded (an error midway leaves .Grad untouched).
        pass.ApplyToLeaves();
    }

    private static void Free(Node node, bool retain)
    {
        if (retain) return;
        node.Fn = null;
        node.Inputs = Array.Empty<Tensor?>();
        var saved = node.Saved;
        node.Saved = Array.Empty<Tensor>();
        foreach (var t in saved) t.Unpin();
    }

    /// <summary>
    /// The gradients in flight during one backward pass: per node output and per leaf, the sum so far. Counts how
    /// many places hold each gradient tensor, frees the pass's own gradients when no place holds them any more, and
    /// sums into a held gradient in place when it is the pass's own and held once.
    /// </summary>
    private sealed class GradientPass(long mark, Tensor seed)
    {
        private readonly Dictionary<Node, Tensor?[]> _pending = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Tensor, Tensor> _leaves = new(ReferenceEqualityComparer.Instance);
        private readonly List<Tensor> _leafOrder = new();
        private readonly Dictionary<Tensor, int> _uses = new(ReferenceEqualityComparer.Instance);

        private bool Owned(Tensor g) => g.Id > mark && !ReferenceEquals(g, seed);

        public void Seed(Node node, int output, Tensor g)
        {
            var arr = _pending[node] = new Tensor?[node.NumOutputs];
            arr[output] = g;
            Hold(g);
        }

        public Tensor?[]? Take(Node node) => _pending.Remove(node, out var g) ? g : null;

        /// <summary>Adds <paramref name="g"/> to what <paramref name="input"/> has received; false when it was summed
        /// into an earlier gradient (so that nothing holds <paramref name="g"/> itself).</summary>
        public bool Add(Tensor input, Tensor g)
        {
            if (input.GradFn is { } prev)
            {
                if (!_pending.TryGetValue(prev, out var arr)) _pending[prev] = arr = new Tensor?[prev.NumOutputs];
                return Put(ref arr[input.OutputIndex], g);
            }
            if (!_leaves.TryGetValue(input, out var old))
            {
                _leaves[input] = g;
                _leafOrder.Add(input);
                Hold(g);
                return true;
            }
            var slot = (Tensor?)old;
            bool kept = Put(ref slot, g);
            _leaves[input] = slot!;
            return kept;
        }

        private bool Put(ref Tensor? slot, Tensor g)
        {
            if (slot is not { } old) { slot = g; Hold(g); return true; }
            if (Owned(old) && _uses[old] == 1 && old.Storage.RefCount == 1)
            {
                old.AddInPlace(g);
                return false;
            }
            Tensor sum;
            using (MemoryProfile.Label("grad_accumulate")) sum = old.Add(g);
            slot = sum;
            Hold(sum);
            Drop(old);
            return false;
        }

        private void Hold(Tensor g) => _uses[g] = _uses.GetValueOrDefault(g) + 1;

        private void Drop(Tensor g)
        {
            if (!_uses.TryGetValue(g, out int n)) return;
            if (n > 1) { _uses[g] = n - 1; return; }
            _uses.Remove(g);
            if (Owned(g)) g.Dispose();
        }

        /// <summary>The gradients a node was given are consumed once its backward has run.</summary>
        public void Drop(Tensor?[]? gouts)
        {
            if (gouts == null) return;
            foreach (var g in gouts) if (g != null) Drop(g);
        }

        /// <summary>Frees a gradient a backward returned that no place holds (summed into another, or for an input
        /// that needs none).</summary>
        public void DisposeIfLoose(Tensor g)
        {
            if (!_uses.ContainsKey(g) && Owned(g)) g.Dispose();
        }

        public void ApplyToLeaves()
        {
            foreach (var leaf in _leafOrder)
            {
                var g = _leaves[leaf];
                bool adopted = Accumulate(leaf, g, Owned(g) && _uses[g] == 1);
                if (adopted) _uses.Remove(g);
                else Drop(g);
            }
        }
    }

    // A gradient tensor that nothing else references (its own storage, not the caller's seed, not given to
    // another leaf) becomes the leaf's .Grad as it is; anything shared is copied first, because later
    // accumulation writes into .Grad in place. Adopting saves a full read and write of every gradient.
    private static bool Accumulate(Tensor leaf, Tensor g, bool mayAdopt = false)
    {
        if (!leaf.RequiresGrad) return false;
        if (leaf.Grad == null || leaf.Grad.IsDisposed)
        {
            if (mayAdopt && g.Storage.RefCount == 1 && g.Numel == g.Storage.Length)
            {
                leaf.Grad = g.Persist();
                return true;
            }
            using (MemoryProfile.Label("grad")) leaf.Grad = g.Clone().Persist();
        }
        else
        {
            leaf.Grad.AddInPlace(g);
        }
        return false;
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

/// <summary>What a recorded op's backward reads besides its gradients (see <see cref="Tape.Record(string, Tensor[],
/// Tensor?[], Saves, BackwardFn)"/>).</summary>
internal readonly struct Saves
{
    private readonly Tensor?[]? _tensors;
    private readonly bool _all;

    private Saves(Tensor?[]? tensors, bool all)
    {
        _tensors = tensors;
        _all = all;
    }

    /// <summary>The backward reads no tensor (only shapes and host values).</summary>
    public static Saves None => default;

    /// <summary>The backward reads these tensors (nulls are skipped).</summary>
    public static Saves Of(params Tensor?[] tensors) => new(tensors, false);

    /// <summary>Everything the op was given and made: for backward rules that do not say what they read.</summary>
    public static Saves InputsAndOutputs => new(null, true);

    internal Tensor[] Resolve(Tensor?[] inputs, Tensor[] outputs)
    {
        IEnumerable<Tensor?> all = _all ? inputs.Concat(outputs) : _tensors ?? Enumerable.Empty<Tensor?>();
        var set = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var list = new List<Tensor>();
        foreach (var t in all) if (t != null && set.Add(t)) list.Add(t);
        return list.ToArray();
    }
}
