using PureHDF;
using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

/// <summary>Small datasets in the exact published formats, written by the tests themselves.</summary>
internal static class EventFixtures
{
    /// <summary>One N-MNIST event as its 5 bytes: x, y, then the polarity bit over a 23-bit µs timestamp.</summary>
    public static byte[] NMnistEvent(int x, int y, int p, int t) =>
        new[] { (byte)x, (byte)y, (byte)((p << 7) | (t >> 16)), (byte)(t >> 8), (byte)t };

    /// <summary>
    /// Train/&lt;digit&gt;/*.bin and Test/&lt;digit&gt;/*.bin with <paramref name="perDigit"/> samples per digit in
    /// <paramref name="digits"/>; digit d lights a d-dependent column, so that the classes differ.
    /// </summary>
    public static void WriteNMnist(string root, int perDigit, int digits = 10)
    {
        int id = 0;
        foreach (var split in new[] { "Train", "Test" })
            for (int d = 0; d < digits; d++)
            {
                var dir = Path.Combine(root, split, d.ToString());
                Directory.CreateDirectory(dir);
                for (int i = 0; i < perDigit; i++)
                {
                    var bytes = new List<byte>();
                    for (int k = 0; k < 40; k++)
                        bytes.AddRange(NMnistEvent(3 * d + (k % 3), (k * 7 + i) % 34, k % 2, 1000 * k + 10 * i));
                    File.WriteAllBytes(Path.Combine(dir, $"{id++:D5}.bin"), bytes.ToArray());
                }
            }
    }

    /// <summary>An SHD file as h5py writes it: spikes/times (vlen float32 seconds), spikes/units (vlen uint16),
    /// labels (uint16).</summary>
    public static void WriteShd(string path, float[][] times, ushort[][] units, ushort[] labels)
    {
        var file = new H5File
        {
            ["spikes"] = new H5Group { ["times"] = times, ["units"] = units },
            ["labels"] = labels,
        };
        file.Write(path);
    }

    /// <summary>shd_train.h5 and shd_test.h5 with <paramref name="perSplit"/> samples each over
    /// <paramref name="classes"/> classes; class c fires channels 30c … 30c + 9.</summary>
    public static void WriteShdPair(string root, int perSplit, int classes = 4)
    {
        foreach (var name in new[] { "shd_train.h5", "shd_test.h5" })
        {
            var times = new float[perSplit][];
            var units = new ushort[perSplit][];
            var labels = new ushort[perSplit];
            for (int i = 0; i < perSplit; i++)
            {
                int c = i % classes;
                labels[i] = (ushort)c;
                times[i] = Enumerable.Range(0, 30).Select(k => 0.01f * k + 0.001f * (i % 3)).ToArray();
                units[i] = Enumerable.Range(0, 30).Select(k => (ushort)(30 * c + k % 10)).ToArray();
            }
            WriteShd(Path.Combine(root, name), times, units, labels);
        }
    }

    /// <summary>One CIFAR-10 record: the label byte, then the red, green and blue 32×32 planes.</summary>
    public static byte[] CifarRecord(int label, Func<int, int, int, byte> pixel)
    {
        var r = new byte[Cifar10.RecordBytes];
        r[0] = (byte)label;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    r[1 + c * 1024 + y * 32 + x] = pixel(c, y, x);
        return r;
    }

    /// <summary>The six batch files with <paramref name="perFile"/> records each; label = record index mod 10, the
    /// image a label-dependent colour.</summary>
    public static void WriteCifar(string dir, int perFile)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Cifar10.TrainFiles.Append(Cifar10.TestFile))
        {
            using var s = File.Create(Path.Combine(dir, f));
            for (int i = 0; i < perFile; i++)
            {
                int label = i % 10;
                s.Write(CifarRecord(label, (c, y, x) => (byte)(c == label % 3 ? 25 * label : (x + y) % 7)));
            }
        }
    }
}
