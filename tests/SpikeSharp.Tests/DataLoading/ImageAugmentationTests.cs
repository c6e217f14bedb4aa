using SpikeSharp.Data;

namespace SpikeSharp.Tests.DataLoading;

public class ImageAugmentationTests
{
    [Theory]
    [InlineData("none", 0, false, "none")]
    [InlineData("flip", 0, true, "flip")]
    [InlineData("shift3", 3, false, "shift3")]
    [InlineData("Shift2+FLIP", 2, true, "flip+shift2")]
    [InlineData(" flip+shift1 ", 1, true, "flip+shift1")]
    public void Parse_ReadsEverySpelling_AndPrintsTheCanonicalOne(string spec, int shift, bool flip, string text)
    {
        var a = ImageAugmentation.Parse(spec);
        Assert.Equal((shift, flip), (a.MaxShift, a.Flip));
        Assert.Equal(text, a.ToString());
        Assert.Equal(a, ImageAugmentation.Parse(a.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("flop")]
    [InlineData("shift")]
    [InlineData("shift0")]
    [InlineData("shift-1")]
    [InlineData("shift65")]
    [InlineData("flip+flip")]
    [InlineData("shift1+shift2")]
    [InlineData("none+flip")]
    public void Parse_RefusesBadSpecifications_NamingTheOption(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => ImageAugmentation.Parse(spec));
        Assert.Equal("augment", e.ParamName);
        Assert.StartsWith($"--augment: expected none, flip, shiftN", e.Message);
        Assert.Contains($"got '{spec}'", e.Message);
    }

    [Fact]
    public void BadConstructionsAndShapes_AreRefused()
    {
        Assert.Equal("maxShift",
            Assert.Throws<ArgumentOutOfRangeException>(() => new ImageAugmentation(-1, false)).ParamName);
        var a = new ImageAugmentation(4, flip: false);
        var e = Assert.Throws<ArgumentException>(() => a.For(new[] { 1, 4, 8 }));
        Assert.Contains("smaller than the 4×8 image", e.Message);
        Assert.Contains("(…, H, W)", Assert.Throws<ArgumentException>(() => a.For(new[] { 784 })).Message);
        Assert.Null(ImageAugmentation.None.For(new[] { 1, 28, 28 }));
    }

    // Every output must be the input moved by some (dy, dx) within the shift, perhaps mirrored, with zeros where
    // the moved image does not cover; over many keys every such move must occur, and a key always gives the same.
    [Fact]
    public void Apply_GivesExactlyTheShiftedOrMirroredImages_AllOfThem_Deterministically()
    {
        const int c = 2, h = 5, w = 7, s = 2;
        var shape = new[] { c, h, w };
        var img = Enumerable.Range(1, c * h * w).Select(v => (float)v).ToArray();
        var t = new ImageAugmentation(s, flip: true).For(shape)!;
        var seen = new HashSet<(int, int, bool)>();
        for (ulong key = 0; key < 2000; key++)
        {
            var x = (float[])img.Clone();
            t.Apply(x, shape, key);
            var y = (float[])img.Clone();
            t.Apply(y, shape, key);
            Assert.Equal(x, y);
            var match = Moves().Where(m => Expected(img, m).SequenceEqual(x)).ToList();
            Assert.True(match.Count == 1, $"key {key}: output matches {match.Count} moves");
            seen.Add(match[0]);
        }
        Assert.Equal(Moves().Count(), seen.Count);

        IEnumerable<(int dy, int dx, bool flip)> Moves() =>
            from dy in Enumerable.Range(-s, 2 * s + 1)
            from dx in Enumerable.Range(-s, 2 * s + 1)
            from f in new[] { false, true }
            select (dy, dx, f);

        float[] Expected(float[] src, (int dy, int dx, bool flip) m)
        {
            var o = new float[src.Length];
            for (int p = 0; p < c; p++)
            for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                // Shift, then mirror: the pixel shown at (y, x) comes from the shifted image's column.
                int sy = y - m.dy, sx = x - m.dx;
                if (m.flip) sx = w - 1 - sx;
                o[(p * h + y) * w + x] = sy < 0 || sy >= h || sx < 0 || sx >= w ? 0f : src[(p * h + sy) * w + sx];
            }
            return o;
        }
    }

    [Fact]
    public void DataLoader_AppliesTheTransformPerEpochAndSample_Reproducibly()
    {
        const int n = 16;
        var data = Enumerable.Range(0, n * 64).Select(v => (float)(v % 97 + 1)).ToArray();
        var ds = new ArrayDataset(data, Enumerable.Range(0, n).ToArray(), new[] { 1, 8, 8 });
        DataLoader Loader() => new(ds, n, shuffle: false, seed: 9, device: Device.Cpu)
            { Transform = new ImageAugmentation(2, flip: true).For(ds.SampleShape) };
        float[][] Epochs(DataLoader l) => Enumerable.Range(0, 2)
            .Select(_ => l.Batches().Select(b => b.x.ToArray<float>()).Single()).ToArray();
        var a = Epochs(Loader());
        var b = Epochs(Loader());
        Assert.Equal(a[0], b[0]);
        Assert.Equal(a[1], b[1]);
        Assert.NotEqual(a[0], a[1]);             // a new draw every epoch
        Assert.NotEqual(data, a[0]);             // the samples did change
        var resumed = Loader();
        resumed.Epoch = 1;                        // a resumed run replays epoch 1 exactly
        Assert.Equal(a[1], resumed.Batches().Select(x => x.x.ToArray<float>()).Single());
    }

    [Fact]
    public void DataLoader_MovesEveryFrameOfASequenceSampleAlike()
    {
        // Two samples of (T 3, 4, 4): every frame holds the same picture, so after the transform too.
        var frame = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        var data = Enumerable.Repeat(frame, 6).SelectMany(f => f).ToArray();
        var ds = new SequenceDataset(data, new[] { 3, 4, 4 });
        var l = new DataLoader(ds, 2, shuffle: false, seed: 1, device: Device.Cpu)
            { Transform = new ImageAugmentation(1, flip: true).For(ds.SampleShape) };
        var x = l.Batches().Select(b => b.x.ToArray<float>()).Single(); // (T 3, B 2, 4, 4)
        Assert.NotEqual(frame.Concat(frame), x.Take(32));  // moved at all
        for (int i = 0; i < 2; i++)
        {
            var f0 = x.AsSpan(i * 16, 16).ToArray();
            for (int t = 1; t < 3; t++) Assert.Equal(f0, x.AsSpan((t * 2 + i) * 16, 16).ToArray());
        }
    }

    private sealed class SequenceDataset(float[] data, int[] shape) : ILabelledDataset
    {
        public int Count => data.Length / SampleSize;
        public int[] SampleShape => shape;
        public int SampleSize => shape.Aggregate(1, (a, b) => a * b);
        public bool TimeMajor => true;
        public int Label(int index) => 0;
        public void CopySample(int index, Span<float> destination) =>
            data.AsSpan(index * SampleSize, SampleSize).CopyTo(destination);
        public ILabelledDataset Take(int count) => throw new NotSupportedException();
    }
}
