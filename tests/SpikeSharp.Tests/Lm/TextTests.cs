using SpikeSharp.Text;

namespace SpikeSharp.Tests.Lm;

public class TextTests
{
    [Fact]
    public void VocabularyRoundTripsAndNamesUnknownCharacters()
    {
        var v = CharVocabulary.FromText("hello world\n");
        Assert.Equal(new string(" \ndehlorw".OrderBy(c => c).ToArray()), v.Characters);
        Assert.Equal("low\n", v.Decode(v.Encode("low\n")));
        var e = Assert.Throws<ArgumentException>(() => v.Encode("hex!"));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("'!'", e.Message);
    }

    [Fact]
    public void SplitIsContiguousNinetyTen()
    {
        var c = TextCorpus.FromText(new string('a', 50) + new string('b', 50));
        Assert.Equal(90, c.Train.Length);
        Assert.Equal(10, c.Validation.Length);
        Assert.All(c.Validation, id => Assert.Equal(c.Vocabulary.Encode("b")[0], id));
    }

    [Fact]
    public void BatchesAreTimeMajorAndShifted()
    {
        var ids = Enumerable.Range(0, 100).ToArray();
        var (x, y) = TextCorpus.SampleBatch(ids, 8, 3, new Random(1));
        for (int t = 0; t < 8; t++)
            for (int b = 0; b < 3; b++)
            {
                Assert.Equal(x[t * 3 + b] + 1, y[t * 3 + b]);
                if (t > 0) Assert.Equal(x[(t - 1) * 3 + b] + 1, x[t * 3 + b]);
            }
        var e = Assert.Throws<ArgumentException>(() => TextCorpus.SampleBatch(ids, 100, 1, new Random(1)));
        Assert.Contains("seq-len 100", e.Message);
    }

    [Fact]
    public void BigramBaselineIsAddOneSmoothed()
    {
        // "abab": counts a→b 2, b→a 1; V = 2. P(b|a) = 3/4, P(a|b) = 2/3.
        var bg = new BigramBaseline(new[] { 0, 1, 0, 1 }, 2);
        Assert.Equal(Math.Log(3.0 / 4), bg.LogProb(0, 1), 12);
        Assert.Equal(Math.Log(1.0 / 4), bg.LogProb(0, 0), 12);
        Assert.Equal(Math.Log(2.0 / 3), bg.LogProb(1, 0), 12);
        Assert.Equal(-(Math.Log(3.0 / 4) + Math.Log(2.0 / 3)) / 2, bg.Loss(new[] { 0, 1, 0 }), 12);
    }

    [Fact]
    public void EfficiencyCountsSpikeDrivenAccumulates()
    {
        var r = new EfficiencyReport(new[] { LayerOps.Dense("fc1", 4, 8), LayerOps.Spiking("fc2", 8, 4, 0.25) });
        Assert.Equal(64, r.DenseMacs);
        Assert.Equal(32, r.Macs);
        Assert.Equal(8, r.Accumulates);
        Assert.Contains("fc2", r.Table());
    }

    [Fact]
    public void FortunesCorpusLoadsOrFailsWithAdvice()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => TextCorpus.FromFortunes("/nonexistent/fortunes"));
        Assert.Contains("--text", missing.Message);
        Assert.Contains("fortunes", missing.Message);
        if (!Directory.Exists(TextCorpus.FortunesDirectory)) return;
        var c = TextCorpus.FromFortunes();
        Assert.True(c.Train.Length > 100_000);
        Assert.DoesNotContain("\n%\n", c.Text);
    }

    [Fact]
    public void TextFilesMustBeUtf8AndSayHowTheyWereRead()
    {
        var dir = Directory.CreateTempSubdirectory("spikesharp-text-").FullName;
        try
        {
            string Write(string name, byte[] bytes)
            {
                var p = Path.Combine(dir, name);
                File.WriteAllBytes(p, bytes);
                return p;
            }

            // Before: File.ReadAllText decoded all of these, NULs and U+FFFD included, into the vocabulary.
            var elf = Write("ls", new byte[] { 0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0, 0x41 });
            var e = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(elf));
            Assert.Equal($"text: '{elf}' is not text: NUL byte at offset 7 (a binary file?); expected UTF-8 text",
                e.Message);

            var latin1 = Write("latin1.txt", System.Text.Encoding.Latin1.GetBytes("na\u00efve caf\u00e9\n"));
            e = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(latin1));
            Assert.Equal($"text: '{latin1}' is not valid UTF-8: bytes EF 76 65 20 at offset 2 " +
                "(Latin-1 or another 8-bit encoding?); expected UTF-8 text: convert it, e.g. iconv -f LATIN1 -t UTF-8",
                e.Message);

            var unicode = System.Text.Encoding.Unicode;
            var utf16 = Write("utf16.txt", unicode.GetPreamble().Concat(unicode.GetBytes("hello")).ToArray());
            e = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(utf16));
            Assert.StartsWith($"text: '{utf16}' is UTF-16 (byte-order mark FF FE at offset 0)", e.Message);

            // A truncated sequence at the very end is invalid too (offset of its first byte, in the file).
            var cut = Write("cut.txt", new byte[] { 0xEF, 0xBB, 0xBF, (byte)'a', (byte)'b', 0xC3 });
            e = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(cut));
            Assert.Contains("bytes C3 at offset 5", e.Message);

            var ascii = TextCorpus.FromFile(Write("a.txt", "plain text\r\nlines\n"u8.ToArray()));
            Assert.Equal(("ASCII", "plain text\nlines\n"), (ascii.EncodingName, ascii.Text));
            var utf8 = TextCorpus.FromFile(Write("u.txt", "na\u00efve caf\u00e9 \u2014 ok\n"u8.ToArray()));
            Assert.Equal(("UTF-8", "na\u00efve caf\u00e9 \u2014 ok\n"), (utf8.EncodingName, utf8.Text));
            var withBom = new byte[] { 0xEF, 0xBB, 0xBF }.Concat("caf\u00e9 au lait"u8.ToArray()).ToArray();
            var bom = TextCorpus.FromFile(Write("b.txt", withBom));
            Assert.Equal(("UTF-8 with byte-order mark", "caf\u00e9 au lait"), (bom.EncodingName, bom.Text));
            Assert.DoesNotContain('\uFFFD', bom.Vocabulary.Characters);
        }
        finally { Directory.Delete(dir, true); }
    }
}
