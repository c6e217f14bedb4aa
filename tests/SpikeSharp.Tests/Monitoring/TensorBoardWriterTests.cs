using System.Text;
using SpikeSharp.Monitoring;
using SpikeSharp.Tests.Data;
using SpikeSharp.Training;

namespace SpikeSharp.Tests.Monitoring;

public class TensorBoardWriterTests
{
    [Fact]
    public void Crc32c_matches_the_rfc_3720_test_vectors()
    {
        // RFC 3720 (iSCSI), appendix B.4, and the "check" value of the CRC-32C catalogue entry.
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C("123456789"u8));
        Assert.Equal(0x8A9136AAu, TensorBoardWriter.Crc32C(new byte[32]));
        Assert.Equal(0x62A8AB43u, TensorBoardWriter.Crc32C(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, TensorBoardWriter.Crc32C(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        var down = Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray();
        Assert.Equal(0x113FDB5Cu, TensorBoardWriter.Crc32C(down));
        var random = new byte[1000];
        new Random(1).NextBytes(random);
        for (int n = 0; n <= random.Length; n += 37)
            Assert.Equal(EventFileReader.Crc32C(random.AsSpan(0, n)), TensorBoardWriter.Crc32C(random.AsSpan(0, n)));
    }

    [Fact]
    public void Masked_crc_matches_values_computed_with_crcmod()
    {
        // Python: crcmod.predefined.mkCrcFun("crc-32c"), then ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2^32.
        Assert.Equal(0xa282ead8u, TensorBoardWriter.MaskedCrc32C(ReadOnlySpan<byte>.Empty));
        Assert.Equal(0xc78ab0e5u, TensorBoardWriter.MaskedCrc32C("123456789"u8));
        Assert.Equal(0x224b7fa3u, TensorBoardWriter.MaskedCrc32C(new byte[] { 24, 0, 0, 0, 0, 0, 0, 0 }));
        var up = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        Assert.Equal(0x951f7892u, TensorBoardWriter.MaskedCrc32C(up));
    }

    [Fact]
    public void First_record_is_the_file_version_and_scalars_follow()
    {
        using var dir = new TempDirectory();
        double start = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
        string path;
        using (var w = new TensorBoardWriter(dir.Path))
        {
            path = w.FilePath;
            w.AddScalar("loss/train", 0.25, 10);
            w.AddScalar("accuracy/test", 0.875, 20);
            w.AddScalar("lr", 1e-3, 0);
        }
        Assert.Matches(@"^events\.out\.tfevents\.\d{10}\.[A-Za-z0-9_-]+$", Path.GetFileName(path));
        var events = EventFileReader.Read(path);
        Assert.Equal(4, events.Count);
        Assert.Equal(TensorBoardWriter.FileVersion, events[0].FileVersion);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Empty(events[0].Values);
        Assert.InRange(events[0].WallTime, start - 1, start + 60);
        Assert.Equal(new[] { ("loss/train", 10L, 0.25f), ("accuracy/test", 20L, 0.875f), ("lr", 0L, 1e-3f) },
            EventFileReader.Scalars(events));
    }

    [Fact]
    public void Exact_bytes_of_a_scalar_record()
    {
        // Event{step = 3 (field 2, varint), summary (field 5) = Summary{value (field 1) = Value{tag (1) = "a",
        // simple_value (2) = 1.5f}}}, after the 9-byte wall time: 10 03 2A 0A 0A 08 0A 01 61 15 00 00 C0 3F.
        using var dir = new TempDirectory();
        string path;
        using (var w = new TensorBoardWriter(dir.Path))
        {
            path = w.FilePath;
            w.AddScalar("a", 1.5, 3);
        }
        var bytes = File.ReadAllBytes(path);
        int first = 16 + (int)BitConverter.ToUInt64(bytes, 0);
        var record = bytes.AsSpan(first);
        Assert.Equal(23UL, BitConverter.ToUInt64(record));
        var data = record.Slice(12, 23).ToArray();
        Assert.Equal(0x09, data[0]); // wall_time: field 1, 64-bit
        Assert.Equal(new byte[] { 0x10, 0x03, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, (byte)'a', 0x15, 0, 0, 0xC0, 0x3F },
            data[9..]);
        Assert.Equal(EventFileReader.Masked(record[..8]), BitConverter.ToUInt32(record[8..12]));
        Assert.Equal(EventFileReader.Masked(data), BitConverter.ToUInt32(record[35..39]));
        Assert.Equal(first + 39, bytes.Length);
    }

    [Fact]
    public void Histogram_holds_counts_limits_and_moments()
    {
        using var dir = new TempDirectory();
        string path;
        using (var w = new TensorBoardWriter(dir.Path))
        {
            path = w.FilePath;
            w.AddHistogram("weights", new float[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, float.NaN }, 7, bins: 3);
            w.AddHistogram("constant", new float[] { 2, 2, 2 }, 7);
            w.AddHistogram("empty", new[] { float.NaN }, 7);
        }
        var events = EventFileReader.Read(path);
        Assert.Equal(3, events.Count); // nothing for "empty"
        var h = events[1].Values.Single().Histogram!;
        Assert.Equal("weights", events[1].Values.Single().Tag);
        Assert.Equal(7, events[1].Step);
        Assert.Equal((0.0, 9.0, 10.0, 45.0, 285.0), (h.Min, h.Max, h.Num, h.Sum, h.SumSquares));
        Assert.Equal(new[] { 3.0, 6.0, 9.0 }, h.BucketLimits);
        Assert.Equal(new[] { 3.0, 3.0, 4.0 }, h.Buckets); // [0, 3), [3, 6), [6, 9]
        var c = events[2].Values.Single().Histogram!;
        Assert.Equal(new[] { 2.0 }, c.BucketLimits);
        Assert.Equal(new[] { 3.0 }, c.Buckets);
    }

    [Fact]
    public void Writers_in_one_directory_get_their_own_files_and_bad_calls_are_refused()
    {
        using var dir = new TempDirectory();
        using var a = new TensorBoardWriter(dir.Path);
        using var b = new TensorBoardWriter(dir.Path);
        Assert.NotEqual(a.FilePath, b.FilePath);
        Assert.Throws<ArgumentException>(() => a.AddScalar("", 1, 0));
        Assert.Equal("bins", Assert.Throws<ArgumentOutOfRangeException>(() =>
            a.AddHistogram("h", new float[] { 1 }, 0, bins: 0)).ParamName);
        a.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.AddScalar("x", 1, 0));
        string file = dir.Combine("not-a-dir");
        File.WriteAllText(file, "");
        var e = Assert.Throws<IOException>(() => new TensorBoardWriter(file));
        Assert.Contains($"TensorBoard: cannot create an event file in '{file}'", e.Message);
    }

    [Fact]
    public void Fashion_training_logs_the_promised_tags()
    {
        using var dir = new TempDirectory();
        var trainer = new FashionTrainer(new FashionTrainOptions
        {
            Epochs = 2, BatchSize = 64, TimeSteps = 2, TrainLimit = 128, TestLimit = 128, Device = Device.Cpu,
            OutDir = dir.Combine("run"), Plots = false, ReportEvery = 1, TensorBoardDir = dir.Combine("tb"),
        });
        trainer.Run();
        var file = Assert.Single(Directory.GetFiles(dir.Combine("tb")));
        var events = EventFileReader.Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var scalars = EventFileReader.Scalars(events);
        float At(string tag, long step) => scalars.Single(s => s.Tag == tag && s.Step == step).Value;
        // Two batches per epoch: epoch values at steps 2 and 4, running ones at every reported step.
        for (int e = 0; e < 2; e++)
        {
            var r = trainer.History[e];
            long step = 2 * (e + 1);
            Assert.Equal((float)r.TrainLoss, At("loss/train", step));
            Assert.Equal((float)r.TestLoss, At("loss/test", step));
            Assert.Equal((float)r.TrainAccuracy, At("accuracy/train", step));
            Assert.Equal((float)r.TestAccuracy, At("accuracy/test", step));
            Assert.InRange(At("lr", step), 0f, 1e-3f);
            Assert.InRange(At("firing_rate/1", step), 1e-4f, 1f); // the mlp's LIF layer, on the test set
        }
        Assert.Equal(new long[] { 1, 2, 3, 4 }, scalars.Where(s => s.Tag == "loss/train_running").Select(s => s.Step));
        var histogramTags = events.SelectMany(e => e.Values).Where(v => v.Histogram != null).Select(v => v.Tag)
            .Distinct().ToList();
        Assert.Contains("parameters/0.module.1.weight", histogramTags);
        Assert.Contains("parameters/1.decay_logit", histogramTags);
        var weights = events.SelectMany(e => e.Values).First(v => v.Tag == "parameters/0.module.1.weight").Histogram!;
        Assert.Equal(512 * 784, weights.Num);
    }
}
