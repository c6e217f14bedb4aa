using System.Globalization;
using SpikeSharp.Monitoring;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.Monitoring;

public class MetricsCsvTests
{
    [Fact]
    public void WritesHeaderAndInvariantRows_CreatingDirectories()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("runs", "a", "metrics.csv");
        var previous = CultureInfo.CurrentCulture;
        try
        {
            // A comma-decimal culture must not leak into the file.
            var commaDecimal = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            commaDecimal.NumberFormat.NumberDecimalSeparator = ",";
            CultureInfo.CurrentCulture = commaDecimal;
            var csv = new MetricsCsv(path, new[] { "epoch", "train_loss", "test_acc", "note" });
            csv.Append(1, 0.5, 0.8125f, "warm, up");
            csv.Append(new Dictionary<string, object?> { ["epoch"] = 2, ["train_loss"] = 0.25 });
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
        Assert.Equal("epoch,train_loss,test_acc,note\n1,0.5,0.8125,\"warm, up\"\n2,0.25,,\n", File.ReadAllText(path));
    }

    [Fact]
    public void ReopeningAppends_ButDifferentHeaderFails()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("m.csv");
        new MetricsCsv(path, new[] { "epoch", "loss" }).Append(1, 1.0);
        new MetricsCsv(path, new[] { "epoch", "loss" }).Append(2, 0.5);
        Assert.Equal(new[] { "epoch,loss", "1,1", "2,0.5" }, File.ReadAllLines(path));

        var e = Assert.Throws<InvalidOperationException>(() => new MetricsCsv(path, new[] { "epoch", "acc" }));
        Assert.Contains("epoch,acc", e.Message);
        new MetricsCsv(path, new[] { "epoch", "acc" }, overwrite: true);
        Assert.Equal(new[] { "epoch,acc" }, File.ReadAllLines(path));
    }

    [Fact]
    public void WrongValueCountOrColumn_IsRejected()
    {
        using var tmp = new TempDirectory();
        var csv = new MetricsCsv(tmp.Combine("m.csv"), new[] { "epoch", "loss" });
        var e = Assert.Throws<ArgumentException>(() => csv.Append(1));
        Assert.Contains("Expected 2 values", e.Message);
        Assert.Throws<ArgumentException>(() => csv.Append(new Dictionary<string, object?> { ["lr"] = 0.1 }));
        Assert.Throws<ArgumentException>(() => new MetricsCsv(tmp.Combine("n.csv"), new[] { "a", "a" }));
    }

    [Fact]
    public void TruncateAfter_DropsRowsPastTheCheckpoint_AndACutOffLastLine()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("m.csv");
        var csv = new MetricsCsv(path, new[] { "epoch", "loss", "note" });
        csv.Append(1, 1.0, "a, b");
        csv.Append(2, 0.5, "c");
        csv.Append(3, 0.25, "d");
        File.AppendAllText(path, "4,0.1"); // a kill while appending: no newline, a cell missing

        Assert.Equal(new[] { "1", "2", "3" }, csv.ReadRows().Select(r => r[0]).ToArray());
        Assert.Equal("a, b", csv.ReadRows()[0][2]);
        Assert.Equal(2, csv.TruncateAfter("epoch", 2));
        Assert.Equal("epoch,loss,note\n1,1,\"a, b\"\n2,0.5,c\n", File.ReadAllText(path));
        csv.Append(3, 0.3, "again");
        Assert.Equal(new[] { "1", "2", "3" }, csv.ReadRows().Select(r => r[0]).ToArray());
        Assert.Equal("0.3", csv.ReadRows()[2][1]);
        var e = Assert.Throws<ArgumentException>(() => csv.TruncateAfter("step", 1));
        Assert.Contains("'step'", e.Message);
    }

    [Fact]
    public void Reopening_AFileCutOffMidLine_StartsTheNextRowOnItsOwnLine()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("m.csv");
        new MetricsCsv(path, new[] { "epoch", "loss" }).Append(1, 1.0);
        File.AppendAllText(path, "2,0.");
        var csv = new MetricsCsv(path, new[] { "epoch", "loss" });
        csv.Append(3, 0.25);
        Assert.Equal(new[] { "epoch,loss", "1,1", "2,0.", "3,0.25" }, File.ReadAllLines(path));
    }
}
