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
}
