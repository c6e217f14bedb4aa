using SpikeSharp.Autograd;
using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>Errors are of the right type, say what went wrong, and leave inputs, parameters and their gradients untouched.</summary>
[Collection(SpikeSharp.Tests.Backends.SerialBackendTests.Name)] // asynchronous GPU errors must not be read by a concurrent test
public class ValidationTests
{
    public static IEnumerable<object[]> Devices => TestDevices.Names;

    // A leaf with a gradient already accumulated, and snapshots to prove nothing changed.
    private sealed class Param
    {
        public readonly Tensor T; private readonly float[] _data, _grad;
        public Param(Device d, int seed, params int[] shape)
        {
            T = Randn(d, seed, shape).Persist();
            T.RequiresGrad = true;
            T.Sum().Backward();
            _data = T.ToArray(); _grad = T.Grad!.ToArray();
        }
        public void Untouched()
        {
            Assert.Equal(_data, T.ToArray());
            Assert.Equal(_grad, T.Grad!.ToArray());
        }
    }

    private static void MessageHas(Exception e, params string[] parts)
    {
        foreach (var p in parts) Assert.Contains(p, e.Message);
    }

    [Theory, MemberData(nameof(Devices))]
    public void AllFiniteAndEnsureFinite(string dev)
    {
        var d = Device.Parse(dev);
        using var ok = F(d, new float[] { 1, -2, 3e38f, 0 });
        using var nan = F(d, new float[] { 1, float.NaN, 2, float.PositiveInfinity, float.NaN }, 5);
        using var inf = F(d, new float[] { float.NegativeInfinity }, 1);
        using var flag = ok.AllFinite();
        Assert.Empty(flag.Shape);
        Assert.Equal(d, flag.Device);
        Assert.Equal(1f, flag.Item());
        Assert.Equal(0f, nan.AllFinite().Item());
        Assert.Equal(0f, inf.AllFinite().Item());
        Assert.Equal(1f, Tensor.Zeros(new[] { 0 }, d).AllFinite().Item());
        Assert.Equal(1f, I(d, new[] { 1, 2 }).AllFinite().Item());
        Assert.Same(ok, ok.EnsureFinite("weights"));
        var e = Assert.Throws<ArgumentException>(() => nan.EnsureFinite("logits"));
        Assert.Equal("logits", e.ParamName);
        MessageHas(e, "2 NaN", "1 infinite", "index 1", "(5)");
        Assert.Equal(new float[] { 1, float.NaN, 2, float.PositiveInfinity, float.NaN }, nan.ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void ShapeDtypeMismatchesNameOpAndShapes(string dev)
    {
        var d = Device.Parse(dev);
        var a = new Param(d, 1, 2, 3); var b = new Param(d, 2, 4);
        MessageHas(Assert.Throws<ArgumentException>(() => a.T + b.T), "add", "(2, 3)", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => a.T * b.T), "mul", "(2, 3)", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => a.T.Maximum(b.T)), "maximum", "(2, 3)", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Matmul(a.T, b.T.Reshape(4, 1))), "matmul", "(2, 3)", "(4, 1)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Linear(a.T, b.T.Reshape(2, 2))), "linear", "(2, 3)", "(2, 2)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Mse(a.T, b.T)), "mse", "(2, 3)", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Where(a.T, a.T, b.T)), "where", "(2, 3)", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Cat(new[] { a.T, b.T.Reshape(1, 4) }, 0)), "cat", "(2, 3)", "(1, 4)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Stack(new[] { a.T, a.T.Reshape(3, 2) })), "stack", "(2, 3)", "(3, 2)");
        MessageHas(Assert.Throws<ArgumentException>(() => a.T.Reshape(4, -1)), "reshape", "(2, 3)", "(4, -1)");
        MessageHas(Assert.Throws<ArgumentException>(() => a.T.Permute(0, 0)), "permute");
        MessageHas(Assert.Throws<ArgumentOutOfRangeException>(() => a.T.Narrow(1, 2, 2)), "narrow", "(2, 3)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Scalar(1f, d).Softmax()), "softmax");
        MessageHas(Assert.Throws<ArgumentOutOfRangeException>(() => a.T.LogSoftmax(2)), "log_softmax", "dim 2");

        using var labels = I(d, new[] { 0, 1, 2 });
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.CrossEntropy(a.T, labels)), "cross_entropy", "(2, 3)", "(3)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.CrossEntropy(b.T, labels)), "cross_entropy", "(4)");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Accuracy(a.T, labels)), "accuracy", "(2, 3)", "(3)");
        var smoothing = Expect.Throws<ArgumentOutOfRangeException>(
            () => Tensor.CrossEntropy(a.T, labels.Narrow(0, 0, 2), labelSmoothing: 1.5f),
            "cross_entropy", "[0, 1]", "got 1.5");
        Assert.Equal("labelSmoothing", smoothing.ParamName);

        using var ints = I(d, new[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        MessageHas(Assert.Throws<ArgumentException>(() => a.T + ints), "add", "int32");
        MessageHas(Assert.Throws<ArgumentException>(() => ints.Exp()), "exp", "int32");
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.CrossEntropy(ints, labels.Narrow(0, 0, 2))), "cross_entropy", "int32");
        MessageHas(Assert.Throws<ArgumentException>(() => a.T.Embedding(a.T)), "embedding", "float32");
        Expect.Throws<InvalidOperationException>(() => ints.RequiresGrad = true, "only float32", "int32");
        a.Untouched(); b.Untouched();
    }

    [Theory, MemberData(nameof(Devices))]
    public void DeviceMismatchNamesBothDevices(string dev)
    {
        var d = Device.Parse(dev);
        var other = TestDevices.All.First(x => x != d); // the CPU and ilgpu-cpu are always there
        var a = new Param(d, 1, 2, 3); var b = new Param(other, 2, 2, 3);
        MessageHas(Assert.Throws<ArgumentException>(() => a.T + b.T), "add", d.ToString(), other.ToString());
        MessageHas(Assert.Throws<ArgumentException>(() => Tensor.Matmul(a.T, b.T.T())), "matmul", d.ToString(), other.ToString());
        a.Untouched(); b.Untouched();
    }

    [Theory, MemberData(nameof(Devices))]
    public void DisposedTensorsThrowObjectDisposed(string dev)
    {
        var d = Device.Parse(dev);
        var x = Randn(d, 1, 2, 3);
        var view = x.Reshape(3, 2);
        x.Dispose();
        Assert.Equal(6, view.ToArray().Length); // a view keeps the storage alive
        view.Dispose();
        Assert.True(x.IsDisposed);
        MessageHas(Assert.Throws<ObjectDisposedException>(() => x.ToArray()), "disposed", "(2, 3)");
        Expect.Throws<ObjectDisposedException>(() => x.Exp(), "tensor (2, 3) has been disposed");
        using var y = Randn(d, 2, 2, 3);
        Expect.Throws<ObjectDisposedException>(() => y + x, "tensor (2, 3) has been disposed");
        var s = Tensor.Scalar(1f, d); s.Dispose();
        Expect.Throws<ObjectDisposedException>(() => s.Item(), "tensor () has been disposed");
        Assert.Contains("disposed", x.ToString());
        x.Dispose(); // idempotent
    }

    [Theory, MemberData(nameof(Devices))]
    public void BackwardMisuse(string dev)
    {
        var d = Device.Parse(dev);
        var w = new Param(d, 1, 2, 3);
        var y = w.T * 2f;
        MessageHas(Assert.Throws<InvalidOperationException>(() => y.Backward()), "scalar", "(2, 3)");
        MessageHas(Assert.Throws<ArgumentException>(() => y.Backward(Tensor.Ones(new[] { 3 }, d))), "(3)", "(2, 3)");
        w.Untouched();

        using var noGradInput = Randn(d, 2, 2, 3);
        Expect.Throws<InvalidOperationException>(() => noGradInput.Sum().Backward(),
            "Backward", "does not require grad");

        // Backward twice through a freed graph, alone and mixed with a fresh path to the same leaf.
        var h = w.T.Tanh();
        var loss = h.Sum();
        loss.Backward();
        var after = w.T.Grad!.ToArray();
        MessageHas(Assert.Throws<InvalidOperationException>(() => loss.Backward()), "freed", "retainGraph");
        MessageHas(Assert.Throws<InvalidOperationException>(() => (h.Sum() + w.T.Sum()).Backward()), "freed");
        Assert.Equal(after, w.T.Grad!.ToArray());
    }

    [Theory, MemberData(nameof(Devices))]
    public void OutOfRangeIndicesAndLabels(string dev)
    {
        var d = Device.Parse(dev);
        var table = new Param(d, 1, 4, 3);
        using var bad = I(d, new[] { 0, 4, 1 });
        // GPU backends report bad indices asynchronously, at the next host read (no hidden synchronisation),
        // so each case reads its result; the CPU backend throws at the call itself.
        MessageHas(Assert.Throws<IndexOutOfRangeException>(() => table.T.IndexSelect(0, bad).ToArray()), "index_select", "4", "[0, 4)");
        using var neg = I(d, new[] { 1, -1 }, 1, 2);
        MessageHas(Assert.Throws<IndexOutOfRangeException>(() => table.T.Embedding(neg).ToArray()), "-1");
        MessageHas(Assert.Throws<IndexOutOfRangeException>(() => table.T.IndexSelect(1, I(d, new[] { 3 })).ToArray()), "3", "[0, 3)");
        using var labels = I(d, new[] { 0, 1, 2, 3 });
        MessageHas(Assert.Throws<IndexOutOfRangeException>(() => Tensor.CrossEntropy(table.T, labels).ToArray()), "3", "[0, 3)");
        MessageHas(Assert.Throws<IndexOutOfRangeException>(() => Tensor.OneHot(labels, 3).ToArray()), "one_hot", "3");
        table.Untouched();
        Assert.Equal(new[] { 0, 4, 1 }, bad.ToArray<int>());
    }
}
