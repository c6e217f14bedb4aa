using System.Reflection;
using static SpikeSharp.Tests.Core.CoreTestUtil;

namespace SpikeSharp.Tests.Core;

/// <summary>
/// Ops live in static <c>*Ops</c> classes as C# 14 extension members: the instance form (<c>a.Matmul(b)</c>), the
/// static form on Tensor (<c>Tensor.Matmul(a, b)</c>) and the class form (<c>MatmulOps.Matmul(a, b)</c>) are one
/// op, and Tensor itself declares no op.
/// </summary>
public class OpClassesTests
{
    [Fact]
    public void TheThreeSpellingsOfAnOpAgree()
    {
        using var a = F(Device.Cpu, new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var b = F(Device.Cpu, new float[] { 1, 0, -1, 2, 0.5f, 3 }, 3, 2);
        float[] want = { 1 - 2 + 1.5f, 0 + 4 + 9, 4 - 5 + 3, 0 + 10 + 18 }; // b = [[1, 0], [-1, 2], [0.5, 3]]
        using (var y = a.Matmul(b)) Assert.Equal(want, y.ToArray());
        using (var y = Tensor.Matmul(a, b)) Assert.Equal(want, y.ToArray());
        using (var y = MatmulOps.Matmul(a, b)) Assert.Equal(want, y.ToArray());
        using (var y = MatmulOps.Matmul(a, b, transA: false, transB: false)) Assert.Equal(want, y.ToArray());

        using var c = F(Device.Cpu, new float[] { 10, 20, 30 }, 3);
        float[] sum = { 11, 22, 33, 14, 25, 36 };
        using (var y = a + c) Assert.Equal(sum, y.ToArray());
        using (var y = ElementwiseOps.Add(a, c)) Assert.Equal(sum, y.ToArray());
        using (var y = ReductionOps.Sum(a, 1)) Assert.Equal(new float[] { 6, 15 }, y.ToArray());
        using (var y = ShapeOps.Cat(new[] { c, c })) Assert.Equal(new float[] { 10, 20, 30, 10, 20, 30 }, y.ToArray());
        using var cond = F(Device.Cpu, new float[] { 1, 0, 1 }, 3);
        using (var y = Tensor.Where(cond, c, c.Neg())) Assert.Equal(new float[] { 10, -20, 30 }, y.ToArray());
        using (var y = UnaryMathOps.Where(cond, c, c.Neg())) Assert.Equal(new float[] { 10, -20, 30 }, y.ToArray());
    }

    [Fact]
    public void TensorDeclaresNoOp()
    {
        var declared = typeof(Tensor).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static
            | BindingFlags.DeclaredOnly).Select(m => m.Name).ToHashSet();
        string[] ops = { "Add", "Matmul", "Sum", "Reshape", "Conv2d", "CrossEntropy", "Softmax", "Relu", "Cat" };
        foreach (var op in ops) Assert.DoesNotContain(op, declared);
        Assert.Contains("op_Addition", declared); // operators belong to the type
    }
}
