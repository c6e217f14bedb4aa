using System.Globalization;

namespace SpikeSharp.Data;

/// <summary>
/// A random change a <see cref="DataLoader"/> applies to each training sample as it copies it out (on the host,
/// in the loader's producer thread, so it overlaps the training step).
/// </summary>
public interface ISampleTransform
{
    /// <summary>
    /// Transforms one sample in place. <paramref name="key"/> is unique to (loader seed, epoch, sample index) and is
    /// the only source of randomness, so a run (and a resumed run) sees the same augmented samples.
    /// </summary>
    void Apply(Span<float> sample, int[] sampleShape, ulong key);
}

/// <summary>
/// Image augmentation for small greyscale or colour images: a random translation by up to
/// <see cref="MaxShift"/> pixels in each direction (the image moves and the uncovered border is zero — the same
/// distribution as zero-padding by <see cref="MaxShift"/> and cropping at a random offset), and a horizontal flip with
/// probability ½ when <see cref="Flip"/> is set. Every plane of a sample (channels, and time steps of a (T, C, H, W)
/// sample) moves the same way.
/// </summary>
public sealed record ImageAugmentation
{
    /// <summary>What <see cref="Parse"/> accepts, in words (for error messages).</summary>
    public const string Expected = "none, flip, shiftN (N pixels, e.g. shift2) or flip+shiftN";

    /// <summary>No augmentation.</summary>
    public static ImageAugmentation None { get; } = new(0, false);

    /// <summary>An augmentation of up to <paramref name="maxShift"/> pixels, with or without flips.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxShift"/> is negative.</exception>
    public ImageAugmentation(int maxShift, bool flip)
    {
        if (maxShift < 0)
            throw new ArgumentOutOfRangeException(nameof(maxShift), $"maxShift must be ≥ 0 pixels, got {maxShift}");
        MaxShift = maxShift;
        Flip = flip;
    }

    /// <summary>The largest translation in pixels, per axis.</summary>
    public int MaxShift { get; }

    /// <summary>Whether images are mirrored left–right with probability ½.</summary>
    public bool Flip { get; }

    /// <summary>True when this changes nothing.</summary>
    public bool IsNone => MaxShift == 0 && !Flip;

    /// <summary>
    /// Parses a specification: <c>none</c>, <c>flip</c>, <c>shiftN</c> (N pixels) or both joined by <c>+</c>
    /// (<c>flip+shift2</c>); case and order do not matter.
    /// </summary>
    /// <exception cref="ArgumentException">The text is not such a specification; the message names it.</exception>
    public static ImageAugmentation Parse(string spec, string parameter = "augment")
    {
        ArgumentNullException.ThrowIfNull(spec, parameter);
        var bad = new ArgumentException($"--{parameter}: expected {Expected}, got '{spec}'", parameter);
        var text = spec.Trim().ToLowerInvariant();
        if (text == "none") return None;
        int shift = 0;
        bool flip = false, sawShift = false;
        foreach (var part in text.Split('+'))
        {
            if (part == "flip" && !flip) flip = true;
            else if (part.StartsWith("shift", StringComparison.Ordinal) && !sawShift
                     && int.TryParse(part.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out shift)
                     && shift is > 0 and <= 64)
                sawShift = true;
            else throw bad;
        }
        return new ImageAugmentation(shift, flip);
    }

    /// <summary>The specification <see cref="Parse"/> reads back: <c>none</c>, <c>flip</c>, <c>shift2</c> or
    /// <c>flip+shift2</c>.</summary>
    public override string ToString() => IsNone ? "none"
        : string.Join("+", new[] { Flip ? "flip" : null, MaxShift > 0 ? $"shift{MaxShift}" : null }
            .Where(s => s != null));

    /// <summary>A transform for samples of <paramref name="sampleShape"/> (…, H, W), or null when
    /// <see cref="IsNone"/>.</summary>
    /// <exception cref="ArgumentException">The samples are not images of rank ≥ 2, or the shift is not smaller than
    /// the image.</exception>
    public ISampleTransform? For(int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (IsNone) return null;
        if (sampleShape.Length < 2)
            throw new ArgumentException(
                $"augment {this}: samples must be images (…, H, W), got shape [{string.Join(", ", sampleShape)}]",
                nameof(sampleShape));
        int h = sampleShape[^2], w = sampleShape[^1];
        if (MaxShift >= Math.Min(h, w))
            throw new ArgumentException(
                $"augment {this}: the shift must be smaller than the {h}×{w} image", nameof(sampleShape));
        return new Transform(this, h, w);
    }

    private sealed class Transform(ImageAugmentation a, int h, int w) : ISampleTransform
    {
        private readonly ThreadLocal<float[]> _plane = new(() => new float[h * w]);

        public void Apply(Span<float> sample, int[] sampleShape, ulong key)
        {
            ulong r = Mix(key);
            int span = 2 * a.MaxShift + 1;
            int dy = (int)(r % (ulong)span) - a.MaxShift;
            int dx = (int)(r / (ulong)span % (ulong)span) - a.MaxShift;
            bool flip = a.Flip && (Mix(r) & 1) == 1;
            if (dx == 0 && dy == 0 && !flip) return;
            var plane = _plane.Value!;
            for (int p = 0; p + h * w <= sample.Length; p += h * w)
            {
                var img = sample.Slice(p, h * w);
                img.CopyTo(plane);
                // Output (y, x) shows input (y − dy, x − dx), after the mirror when flipped.
                for (int y = 0; y < h; y++)
                {
                    int sy = y - dy;
                    var row = img.Slice(y * w, w);
                    if (sy < 0 || sy >= h) { row.Clear(); continue; }
                    for (int x = 0; x < w; x++)
                    {
                        int sx = x - dx;
                        if (flip) sx = w - 1 - sx;
                        row[x] = sx < 0 || sx >= w ? 0f : plane[sy * w + sx];
                    }
                }
            }
        }

        // SplitMix64's finaliser: a well-mixed 64-bit value from any key.
        private static ulong Mix(ulong z)
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
