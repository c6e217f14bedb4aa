namespace SpikeSharp.Text;

/// <summary>
/// The reference a character model must beat: next-character probabilities from add-one (Laplace)
/// smoothed bigram counts of the training ids, P(b | a) = (count(a, b) + 1) / (count(a) + V).
/// </summary>
public sealed class BigramBaseline
{
    private readonly double[] _logProb; // (V, V): log P(next | previous)

    /// <summary>Counts the bigrams of <paramref name="trainIds"/> over a vocabulary of
    /// <paramref name="vocabSize"/>.</summary>
    public BigramBaseline(int[] trainIds, int vocabSize)
    {
        if (vocabSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabSize must be positive, got {vocabSize}");
        VocabSize = vocabSize;
        var counts = new long[vocabSize * vocabSize];
        for (int i = 0; i + 1 < trainIds.Length; i++) counts[Check(trainIds[i]) * vocabSize + Check(trainIds[i + 1])]++;
        _logProb = new double[counts.Length];
        for (int a = 0; a < vocabSize; a++)
        {
            long row = 0;
            for (int b = 0; b < vocabSize; b++) row += counts[a * vocabSize + b];
            for (int b = 0; b < vocabSize; b++)
                _logProb[a * vocabSize + b] = Math.Log((counts[a * vocabSize + b] + 1.0) / (row + vocabSize));
        }
    }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    private int Check(int id) => (uint)id < (uint)VocabSize ? id
        : throw new ArgumentOutOfRangeException(nameof(id), $"bigram: token id {id} is outside [0, {VocabSize})");

    /// <summary>log P(next | previous).</summary>
    public double LogProb(int previous, int next) => _logProb[Check(previous) * VocabSize + Check(next)];

    /// <summary>Mean cross-entropy in nats of predicting each id of <paramref name="ids"/> from the one
    /// before.</summary>
    public double Loss(int[] ids)
    {
        if (ids.Length < 2)
            throw new ArgumentException($"bigram loss: need at least 2 ids, got {ids.Length}", nameof(ids));
        double sum = 0;
        for (int i = 0; i + 1 < ids.Length; i++) sum -= LogProb(ids[i], ids[i + 1]);
        return sum / (ids.Length - 1);
    }

    /// <summary>Nats per character to bits per character.</summary>
    public static double BitsPerChar(double nats) => nats / Math.Log(2);
}
