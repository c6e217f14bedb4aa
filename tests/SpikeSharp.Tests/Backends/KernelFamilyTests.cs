using SpikeSharp.Attention;
using SpikeSharp.Backends;
using SpikeSharp.Backends.Cpu;
using SpikeSharp.Kernels;
using SpikeSharp.Neurons;
using SpikeSharp.Neurons.Ilgpu;
using SpikeSharp.Optim;

namespace SpikeSharp.Tests.Backends;

/// <summary>The one backend contract: features reach their kernels through <see cref="IBackend.Family{TFamily}"/>,
/// each backend registers its families in one place, and a missing family is a clear error.</summary>
public class KernelFamilyTests
{
    // Every contract a backend is expected to register (docs/adding-a-backend.md lists the same).
    private static readonly Type[] Contracts =
        {
            typeof(INeuronDriver), typeof(INeuronModelDriver), typeof(ICausalAccumulationKernels),
            typeof(IOptimizerKernels),
            typeof(IBatchNormKernels), typeof(ILayerNormKernels), typeof(IPool2dKernels),
        };

    [Fact]
    public void EveryBackendRegistersEveryFamily()
    {
        // The CPU backend also has its own convolution (an optional family: without it conv takes its generic path).
        Assert.Equal(Contracts.Append(typeof(IConv2dKernels)).OrderBy(t => t.Name),
            CpuKernelFamilies.All.Contracts.OrderBy(t => t.Name));
        foreach (var d in TestDevices.All)
        {
            var be = BackendRegistry.Get(d);
            Assert.NotNull(be.Family<INeuronDriver>());
            Assert.NotNull(be.Family<INeuronModelDriver>());
            Assert.NotNull(be.Family<ICausalAccumulationKernels>());
            Assert.NotNull(be.Family<IOptimizerKernels>());
            Assert.NotNull(be.Family<IBatchNormKernels>());
            Assert.NotNull(be.Family<ILayerNormKernels>());
            Assert.NotNull(be.Family<IPool2dKernels>());
            Assert.Null(be.Family<IDisposable>()); // a contract nobody registers
            // One instance per backend, so caches and counters live as long as the backend.
            Assert.Same(be.Family<INeuronDriver>(), be.Family<INeuronDriver>());
        }
    }

    [Fact]
    public void DeferredErrorsComeFromTheFamiliesThatDeferThem()
    {
        // CPU families fail at the call; the CPU backend's Download runs no check.
        Assert.Empty(CpuKernelFamilies.All.ErrorChecks);
        // On ilgpu-cpu the neuron driver raises a device flag, which Download reports (DeviceFlagTests).
        var gpu = BackendRegistry.Get(Device.IlgpuCpu);
        Assert.IsAssignableFrom<IDeviceErrorCheck>(gpu.Family<INeuronDriver>());
        Assert.IsType<IlgpuNeuronDriver>(gpu.Family<INeuronDriver>());
    }

    private sealed class Check(string name, List<string> log) : IDeviceErrorCheck
    {
        public void ThrowIfDeviceErrors()
        {
            log.Add(name);
            if (name == "bad") throw new ArgumentException("bad: found at the host read", "x");
        }
    }

    private interface IOther;

    [Fact]
    public void TheRegistryRunsEachCheckOnceAndRefusesTwoFamiliesForOneContract()
    {
        var log = new List<string>();
        var ok = new Check("ok", log);
        var families = KernelFamilies.For(Device.Cpu).Add<IDeviceErrorCheck>(ok).Add<object>(ok).Build();
        families.ThrowIfDeviceErrors();
        Assert.Equal(new[] { "ok" }, log); // registered under two contracts, checked once
        Assert.Same(ok, families.Get<IDeviceErrorCheck>());
        Assert.Null(families.Get<IOther>());

        var bad = KernelFamilies.For(Device.Cpu).Add<IDeviceErrorCheck>(new Check("bad", log)).Build();
        var e = Assert.Throws<ArgumentException>(bad.ThrowIfDeviceErrors);
        Assert.Equal("x", e.ParamName);

        var twice = KernelFamilies.For(Device.IlgpuCpu).Add<IDeviceErrorCheck>(ok);
        var dup = Assert.Throws<InvalidOperationException>(() => twice.Add<IDeviceErrorCheck>(new Check("b", log)));
        Assert.Equal("the ilgpu-cpu backend registers two IDeviceErrorCheck kernel families; register one",
            dup.Message);
        twice.Build();
        var late = Assert.Throws<InvalidOperationException>(() => twice.Add<object>(ok));
        Assert.Equal("the kernel families of ilgpu-cpu are already built", late.Message);
    }

    [Fact]
    public void AnOpOnABackendWithoutItsFamilyNamesTheOpAndTheDevice()
    {
        var be = new NoFamilies();
        using var scope = TensorScope.Begin();
        Tensor On(float value, params int[] shape)
        {
            var s = be.Allocate(DType.Float32, shape.Aggregate(1, (a, b) => a * b));
            be.Fill(new Buf(s, 0, s.Length), value);
            return new Tensor(s, 0, shape, addRef: false);
        }
        var x = On(0.5f, 4, 3);
        var one = On(1f, 1);

        var e = Assert.Throws<NotSupportedException>(() => SpikingFunctions.Lif(x, null, one, one));
        Assert.Equal("lif: not supported on cpu: its backend registers no INeuronDriver kernel family", e.Message);
        e = Assert.Throws<NotSupportedException>(() => NeuronModels.Run<LiModel>(x, null, new[] { one }));
        Assert.Equal("li: not supported on cpu: its backend registers no INeuronModelDriver kernel family", e.Message);
        e = Assert.Throws<NotSupportedException>(() => CausalAccumulation.Forward(x, x, x));
        Assert.Equal("causal_accumulation: not supported on cpu: its backend registers no ICausalAccumulationKernels "
            + "kernel family", e.Message);
    }

    /// <summary>The CPU backend's primitives with no kernel family: a backend that registered nothing yet.</summary>
    private sealed class NoFamilies : IBackend
    {
        private static readonly CpuBackend Cpu = CpuBackend.Instance;
        public Device Device => Device.Cpu;
        public TFamily? Family<TFamily>() where TFamily : class => null;
        public Storage Allocate(DType dtype, int length) => new CpuStorage(this, dtype, length);
        public void Upload<T>(ReadOnlySpan<T> src, Buf dst) where T : unmanaged => Cpu.Upload(src, dst);
        public void Download<T>(Buf src, Span<T> dst) where T : unmanaged => Cpu.Download(src, dst);
        public void Copy(Buf src, Buf dst) => Cpu.Copy(src, dst);
        public void Fill(Buf dst, float value) => Cpu.Fill(dst, value);
        public void Cast(Buf src, Buf dst) => Cpu.Cast(src, dst);
        public void Map<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IUnaryOp => Cpu.Map(op, x, y);
        public void Map<TOp>(TOp op, Buf a, Buf b, Buf y) where TOp : struct, IBinaryOp => Cpu.Map(op, a, b, y);
        public void Map<TOp>(TOp op, Buf a, Buf b, Buf c, Buf y) where TOp : struct, ITernaryOp =>
            Cpu.Map(op, a, b, c, y);
        public void MapIndexed<TOp>(TOp op, Buf x, Buf y) where TOp : struct, IIndexedOp => Cpu.MapIndexed(op, x, y);
        public void MapBroadcast<TOp>(TOp op, Buf a, StridedIndex ia, Buf b, StridedIndex ib, Buf y)
            where TOp : struct, IBinaryOp => Cpu.MapBroadcast(op, a, ia, b, ib, y);
        public void Gather(Buf x, StridedIndex ix, Buf y) => Cpu.Gather(x, ix, y);
        public void Scatter(Buf x, Buf y, StridedIndex iy) => Cpu.Scatter(x, y, iy);
        public void ScatterAdd(Buf x, Buf y, StridedIndex iy) => Cpu.ScatterAdd(x, y, iy);
        public void Reduce<TOp>(TOp op, Buf x, Buf y, int outer, int r, int inner) where TOp : struct, IReduceOp =>
            Cpu.Reduce(op, x, y, outer, r, inner);
        public void ArgMax(Buf x, Buf y, int outer, int r, int inner) => Cpu.ArgMax(x, y, outer, r, inner);
        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, Buf a, Buf b, float beta, Buf c,
            int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0) =>
            Cpu.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c, batch, strideA, strideB, strideC);
        public void IndexSelect(Buf x, Buf idx, Buf y, int outer, int r, int count, int inner) =>
            Cpu.IndexSelect(x, idx, y, outer, r, count, inner);
        public void IndexAdd(Buf g, Buf idx, Buf y, int outer, int r, int count, int inner) =>
            Cpu.IndexAdd(g, idx, y, outer, r, count, inner);
        public void OneHot(Buf idx, Buf y, int classes) => Cpu.OneHot(idx, y, classes);
        public void Synchronize() { }
    }
}
