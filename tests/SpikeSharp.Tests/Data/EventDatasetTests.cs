using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

/// <summary>The N-MNIST, SHD and CIFAR-10 loaders on format-exact fixtures, the frame cache and bad input.</summary>
public class EventDatasetTests
{
    [Fact]
    public void NMnistEventBytesDecodeAsTheDatasetDocumentsThem()
    {
        // x = 33, y = 5, polarity 1, t = 0x123456 µs: 0x21 0x05 | 1 << 7 | 0x12, 0x34, 0x56.
        var ev = NMnist.ParseEvents(new byte[] { 0x21, 0x05, 0x92, 0x34, 0x56, 0x00, 0x21, 0x7F, 0xFF, 0xFF }, "b");
        Assert.Equal(new[] { 33, 0 }, ev.X);
        Assert.Equal(new[] { 5, 33 }, ev.Y);
        Assert.Equal(new[] { 1, 0 }, ev.P);
        Assert.Equal(new long[] { 0x123456, (1 << 23) - 1 }, ev.T);
        Assert.Equal(new byte[] { 0x21, 0x05, 0x92, 0x34, 0x56 }, EventFixtures.NMnistEvent(33, 5, 1, 0x123456));
        Assert.Equal(new byte[] { 0x21, 0x05, 0x92, 0x34, 0x56, 0x00, 0x21, 0x7F, 0xFF, 0xFF }, NMnist.EncodeEvents(ev));
    }

    [Fact]
    public void NMnistLoadsFramesInFileNameOrderWithDigitLabels()
    {
        using var tmp = new TempDirectory();
        EventFixtures.WriteNMnist(tmp.Path, perDigit: 2, digits: 3);
        var files = NMnist.ListFiles(tmp.Path, train: true);
        Assert.Equal(new[] { 0, 0, 1, 1, 2, 2 }, files.Select(f => f.Label));
        var ds = NMnist.Load(tmp.Path, true, EventBinning.EventCount(10), steps: 5);
        Assert.Equal(new[] { 5, 2, 34, 34 }, ds.SampleShape);
        Assert.True(ds.TimeMajor);
        Assert.Equal(6, ds.Count);
        // 40 events in slices of 10: 4 frames of 10 counts, the fifth empty (padding).
        var sample = ds.Sample(2);
        for (int t = 0; t < 5; t++)
            Assert.Equal(t < 4 ? 10f : 0f, sample.AsSpan(t * 2312, 2312).ToArray().Sum());
        // The event k = 0 of sample 2 (digit 1, i = 0): x = 3, y = 0, polarity 0, in frame 0.
        var events = NMnist.ReadEvents(files[2].Path);
        Assert.Equal((3, 0, 0, 0L), (events.X[0], events.Y[0], events.P[0], events.T[0]));
        Assert.Equal(1f, sample[0 * 2312 + 0 * 1156 + 0 * 34 + 3]);
        Assert.Equal(1, ds.Label(2));
        Assert.Equal(6, NMnist.Load(tmp.Path, false, EventBinning.TimeBins(4), 4).Count);
        Assert.Equal(4, NMnist.Load(tmp.Path, false, EventBinning.TimeBins(4), 4, limit: 4).Count);
    }

    [Fact]
    public void NMnistBadFilesFailNamingTheFileAndTheEvent()
    {
        using var tmp = new TempDirectory();
        var dir = Path.Combine(tmp.Path, "Train", "3");
        Directory.CreateDirectory(dir);
        string Write(string name, params byte[][] events)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllBytes(path, events.SelectMany(e => e).ToArray());
            return path;
        }
        var truncated = Write("a.bin", EventFixtures.NMnistEvent(1, 1, 0, 5), new byte[] { 1, 2, 3 });
        var e = Assert.Throws<InvalidDataException>(() => NMnist.ReadEvents(truncated));
        Assert.Contains($"'{truncated}' has 8 bytes, not a whole number of 5-byte events", e.Message);
        var late = Write("a.bin", EventFixtures.NMnistEvent(1, 1, 0, 50), EventFixtures.NMnistEvent(1, 2, 0, 40));
        e = Assert.Throws<InvalidDataException>(() => NMnist.ReadEvents(late));
        Assert.Contains("timestamps out of order: event #1 at 40 µs comes after event #0 at 50 µs", e.Message);
        var outside = Write("a.bin", EventFixtures.NMnistEvent(34, 1, 0, 5));
        e = Assert.Throws<InvalidDataException>(() => NMnist.Load(tmp.Path, true, EventBinning.TimeBins(2), 2));
        Assert.Contains($"'{outside}': event #0 at x=34, y=1, polarity 0 lies outside the 34x34 sensor", e.Message);
        Directory.CreateDirectory(Path.Combine(tmp.Path, "Train", "10"));
        e = Assert.Throws<InvalidDataException>(() => NMnist.ListFiles(tmp.Path, true));
        Assert.Contains("expected the labels 0 to 9 as folder names, got '10'", e.Message);
        var missing = Assert.Throws<DirectoryNotFoundException>(() => NMnist.ListFiles(tmp.Path, false));
        Assert.Contains("has no Test folder", missing.Message);
    }

    [Fact]
    public void ShdReadsVariableLengthSpikesAndBinsThemOverChannels()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("shd_train.h5");
        // Sample 1's spikes are out of time order: the loader sorts them (documented), keeping unit with time.
        EventFixtures.WriteShd(path,
            new[] { new[] { 0.0f, 0.5f, 1.0f }, new[] { 0.2f, 0.1f }, Array.Empty<float>() },
            new[] { new ushort[] { 3, 699, 3 }, new ushort[] { 7, 8 }, Array.Empty<ushort>() },
            new ushort[] { 19, 0, 5 });
        var logs = new List<string>();
        var (samples, labels) = Shd.Read(path, log: logs.Add);
        Assert.Equal(new[] { 19, 0, 5 }, labels);
        Assert.Equal(new long[] { 0, 500_000, 1_000_000 }, samples[0].T);
        Assert.Equal(new[] { 3, 699, 3 }, samples[0].X);
        Assert.Equal(new long[] { 100_000, 200_000 }, samples[1].T);
        Assert.Equal(new[] { 8, 7 }, samples[1].X);
        Assert.Contains(logs, l => l.Contains("sorted the spikes of 1 sample(s)"));
        File.Copy(path, tmp.Combine("shd_test.h5"));
        // Two bins of ⌊1 s / 2⌋: [0, 0.5 s) holds unit 3, [0.5 s, 1 s) unit 699; t = 1 s falls outside.
        var ds = Shd.Load(tmp.Path, true, EventBinning.TimeBins(2), 2);
        Assert.Equal(new[] { 2, 700 }, ds.SampleShape);
        var f = ds.Sample(0);
        Assert.Equal(1f, f[3]);
        Assert.Equal(1f, f[700 + 699]);
        Assert.Equal(2f, f.Sum());
        Assert.Equal(0f, ds.Sample(2).Sum());
    }

    [Fact]
    public void ShdBadFilesFailNamingTheFileAndTheSample()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("shd_train.h5");
        EventFixtures.WriteShd(path, new[] { new[] { 0.1f } }, new[] { new ushort[] { 700 } }, new ushort[] { 1 });
        Assert.Contains("sample #0 spike 0 has unit 700; expected a channel 0 to 699",
            Assert.Throws<InvalidDataException>(() => Shd.Read(path)).Message);
        EventFixtures.WriteShd(path, new[] { new[] { 0.1f } }, new[] { new ushort[] { 1 } }, new ushort[] { 20 });
        Assert.Contains($"'{path}' sample #0 has label 20; expected 0 to 19",
            Assert.Throws<InvalidDataException>(() => Shd.Read(path)).Message);
        EventFixtures.WriteShd(path, new[] { new[] { 0.1f, 0.2f } }, new[] { new ushort[] { 1 } }, new ushort[] { 2 });
        Assert.Contains("sample #0 has 2 spike times but 1 units",
            Assert.Throws<InvalidDataException>(() => Shd.Read(path)).Message);
        EventFixtures.WriteShd(path, new[] { new[] { float.NaN } }, new[] { new ushort[] { 1 } }, new ushort[] { 2 });
        Assert.Contains("has time NaN s", Assert.Throws<InvalidDataException>(() => Shd.Read(path)).Message);

        File.WriteAllText(path, "not an HDF5 file at all");
        Assert.Contains($"SHD: '{path}' is not a readable HDF5 file",
            Assert.Throws<InvalidDataException>(() => Shd.Read(path)).Message);
        EventFixtures.WriteShdPair(tmp.Path, 8);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Shd.Read(path));
        Assert.StartsWith($"SHD: '{path}'", e.Message);
        File.Delete(path);
        Assert.Contains("has no shd_train.h5",
            Assert.Throws<FileNotFoundException>(() => Shd.Load(tmp.Path, true, EventBinning.TimeBins(2), 2)).Message);
    }

    [Fact]
    public void Cifar10ReadsRecordsAsRedGreenBluePlanes()
    {
        using var tmp = new TempDirectory();
        var dir = tmp.Combine("cifar-10-batches-bin");
        EventFixtures.WriteCifar(dir, perFile: 3);
        // Replace the test batch by one record with known pixels: R = 10, G = y, B = x.
        File.WriteAllBytes(Path.Combine(dir, Cifar10.TestFile),
            EventFixtures.CifarRecord(7, (c, y, x) => (byte)(c == 0 ? 10 : c == 1 ? y : x)));
        Assert.Equal(dir, Cifar10.FindDirectory(tmp.Path));
        var test = Cifar10.Load(tmp.Path, train: false);
        Assert.Equal(new[] { 3, 32, 32 }, test.SampleShape);
        Assert.Equal(7, test.Label(0));
        var px = new float[3072];
        test.CopySample(0, px);
        Assert.Equal(10 * (1f / 255f), px[0 * 1024 + 5 * 32 + 6]);
        Assert.Equal(5 * (1f / 255f), px[1 * 1024 + 5 * 32 + 6]);
        Assert.Equal(6 * (1f / 255f), px[2 * 1024 + 5 * 32 + 6]);
        var train = Cifar10.Load(tmp.Path, train: true);
        Assert.Equal(15, train.Count);
        Assert.Equal(new[] { 0, 1, 2, 0, 1 }, Enumerable.Range(0, 5).Select(train.Label));
        Assert.Equal(4, Cifar10.Load(tmp.Path, true, limit: 4).Count);
    }

    [Fact]
    public void Cifar10BadFilesFailNamingTheFileAndRecord()
    {
        using var tmp = new TempDirectory();
        EventFixtures.WriteCifar(tmp.Path, perFile: 2);
        var batch = tmp.Combine("data_batch_2.bin");
        File.WriteAllBytes(batch, File.ReadAllBytes(batch)[..5000]);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(tmp.Path, true));
        Assert.Contains($"'{batch}' has 5000 bytes, not a whole number of 3073-byte records (record #1 is " +
                        "truncated after 1927 bytes)", e.Message);
        File.WriteAllBytes(batch, EventFixtures.CifarRecord(10, (_, _, _) => 0));
        e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(tmp.Path, true));
        Assert.Contains($"'{batch}' record #0 has label 10; expected 0 to 9", e.Message);
        File.Delete(batch);
        Assert.Contains("lacks data_batch_2.bin",
            Assert.Throws<FileNotFoundException>(() => Cifar10.Load(tmp.Path, true)).Message);
    }

    [Fact]
    public void TheFrameCacheIsReusedAndRebuiltWhenItsKeyChanges()
    {
        using var tmp = new TempDirectory();
        var data = tmp.Combine("data");
        var cache = tmp.Combine("cache");
        EventFixtures.WriteNMnist(data, perDigit: 1, digits: 2);
        var logs = new List<string>();
        var first = NMnist.Load(data, true, EventBinning.TimeBins(3), 3, cacheDirectory: cache, log: logs.Add);
        var file = Assert.Single(Directory.GetFiles(cache));
        Assert.Equal("nmnist-train-time-bins-3-T3-n2.frames", Path.GetFileName(file));
        Assert.Contains(logs, l => l.StartsWith("frames: cached 2 samples"));
        logs.Clear();
        var again = NMnist.Load(data, true, EventBinning.TimeBins(3), 3, cacheDirectory: cache, log: logs.Add);
        Assert.Contains(logs, l => l.StartsWith("frames: read 2 samples from the cache"));
        Assert.Equal(first.Sample(1), again.Sample(1));
        Assert.Equal(first.Label(1), again.Label(1));

        // The data changed (another event in a file): the key differs and the cache is rebuilt.
        var bin = NMnist.ListFiles(data, true)[0].Path;
        File.AppendAllBytes(bin, EventFixtures.NMnistEvent(0, 0, 0, 60000));
        File.SetLastWriteTimeUtc(bin, DateTime.UtcNow.AddMinutes(1));
        logs.Clear();
        var changed = NMnist.Load(data, true, EventBinning.TimeBins(3), 3, cacheDirectory: cache, log: logs.Add);
        Assert.Contains(logs, l => l.Contains("was made from other data or parameters; rebuilding it"));
        Assert.NotEqual(first.Sample(0), changed.Sample(0));

        // A damaged cache file is rebuilt, never trusted.
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..40]);
        logs.Clear();
        var rebuilt = NMnist.Load(data, true, EventBinning.TimeBins(3), 3, cacheDirectory: cache, log: logs.Add);
        Assert.Contains(logs, l => l.Contains("is unreadable"));
        Assert.Equal(changed.Sample(0), rebuilt.Sample(0));
        // Other binning parameters: a cache file of their own.
        NMnist.Load(data, true, EventBinning.TimeWindow(5000), 3, cacheDirectory: cache);
        Assert.Equal(2, Directory.GetFiles(cache).Length);
    }

    [Fact]
    public void ALoaderBatchesFramesTimeMajor()
    {
        using var tmp = new TempDirectory();
        EventFixtures.WriteNMnist(tmp.Path, perDigit: 1, digits: 3);
        var ds = NMnist.Load(tmp.Path, true, EventBinning.EventCount(20), 2);
        var loader = new DataLoader(ds, 3, shuffle: false, device: Device.Cpu);
        foreach (var (x, y) in loader.Batches())
        {
            Assert.Equal(new[] { 2, 3, 2, 34, 34 }, x.Shape);
            Assert.Equal(new[] { 0, 1, 2 }, y.ToArray<int>());
            var values = x.ToArray();
            // x[t, b] is frame t of sample b.
            for (int b = 0; b < 3; b++)
                for (int t = 0; t < 2; t++)
                    Assert.Equal(ds.Sample(b).AsSpan(t * 2312, 2312).ToArray(),
                        values.AsSpan((t * 3 + b) * 2312, 2312).ToArray());
        }
    }
}
