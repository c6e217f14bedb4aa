using System.Net;
using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

public class DatasetLoadingTests
{
    /// <summary>Writes a tiny MNIST-format dataset whose first pixel encodes <paramref name="marker"/>.</summary>
    private static void MakeDataset(string dir, int train, int test, byte marker, bool gzip = true, byte maxLabel = 9)
    {
        foreach (var (prefix, n) in new[] { ("train", train), ("t10k", test) })
        {
            var images = new byte[n * 784];
            images[0] = marker;
            var labels = Enumerable.Range(0, n).Select(i => (byte)(i % (maxLabel + 1))).ToArray();
            labels[^1] = maxLabel;
            var ext = gzip ? ".gz" : "";
            Idx.Write(Path.Combine(dir, $"{prefix}-images-idx3-ubyte{ext}"), new IdxArray(new[] { n, 28, 28 }, images), gzip);
            Idx.Write(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{ext}"), new IdxArray(new[] { n }, labels), gzip);
        }
    }

    private static DataSourceOptions Options(TempDirectory tmp, string? env = null, bool download = false,
        HttpMessageHandler? handler = null, bool sample = true) => new()
    {
        EnvironmentRoot = env,
        SystemDirectory = tmp.Combine("system"),
        CacheDirectory = tmp.Combine("cache"),
        AllowDownload = download,
        AllowBundledSample = sample,
        HttpHandler = handler,
        Mirrors = new[] { "http://mirror.invalid/data/" },
    };

    [Fact]
    public void ExplicitPath_WinsOverEverything()
    {
        using var tmp = new TempDirectory();
        MakeDataset(tmp.Combine("explicit"), 12, 6, marker: 1, gzip: false);
        MakeDataset(Directory.CreateDirectory(tmp.Combine("env")).FullName, 20, 10, marker: 2);

        var ds = MnistFamily.Load(FashionMnist.Spec, tmp.Combine("explicit"), null, Options(tmp, env: tmp.Combine("env")));
        Assert.Equal(12, ds.TrainCount);
        Assert.Equal(6, ds.TestCount);
        Assert.Equal(12 * 784, ds.TrainImages.Length);
        Assert.Equal(1, ds.TrainImages[0]);
        Assert.False(ds.IsBundledSample);
        Assert.Equal(Path.GetFullPath(tmp.Combine("explicit")), ds.Source);
    }

    [Fact]
    public void ExplicitParentDirectory_FindsDatasetSubfolder()
    {
        using var tmp = new TempDirectory();
        MakeDataset(Directory.CreateDirectory(tmp.Combine("root", "fashion-mnist")).FullName, 10, 5, marker: 3);
        var ds = MnistFamily.Load(FashionMnist.Spec, tmp.Combine("root"), null, Options(tmp));
        Assert.Equal(3, ds.TrainImages[0]);
    }

    [Fact]
    public void UnusableExplicitPath_FailsNamingTheMissingFile_WithoutFallback()
    {
        using var tmp = new TempDirectory();
        var dir = tmp.Combine("partial");
        MakeDataset(Directory.CreateDirectory(dir).FullName, 10, 5, marker: 1);
        File.Delete(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"));
        MakeDataset(Directory.CreateDirectory(tmp.Combine("system")).FullName, 10, 5, marker: 2);

        var e = Assert.Throws<FileNotFoundException>(() => MnistFamily.Load(FashionMnist.Spec, dir, null, Options(tmp)));
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
        Assert.DoesNotContain("train-images", e.Message);
    }

    [Fact]
    public void EnvironmentRoot_ComesBeforeSystemDirectory()
    {
        using var tmp = new TempDirectory();
        MakeDataset(Directory.CreateDirectory(tmp.Combine("env", "fashion-mnist")).FullName, 10, 5, marker: 7);
        MakeDataset(Directory.CreateDirectory(tmp.Combine("system")).FullName, 10, 5, marker: 8);
        var ds = MnistFamily.Load(FashionMnist.Spec, null, null, Options(tmp, env: tmp.Combine("env")));
        Assert.Equal(7, ds.TrainImages[0]);
    }

    [Fact]
    public void EmptyEnvironmentRoot_FallsThroughToSystemThenCache()
    {
        using var tmp = new TempDirectory();
        Directory.CreateDirectory(tmp.Combine("env"));
        MakeDataset(Directory.CreateDirectory(tmp.Combine("cache")).FullName, 10, 5, marker: 9);
        var log = new List<string>();
        var ds = MnistFamily.Load(FashionMnist.Spec, null, log.Add, Options(tmp, env: tmp.Combine("env")));
        Assert.Equal(9, ds.TrainImages[0]);
        Assert.Contains(log, l => l.Contains("SPIKESHARP_DATA"));

        MakeDataset(Directory.CreateDirectory(tmp.Combine("system")).FullName, 10, 5, marker: 4);
        Assert.Equal(4, MnistFamily.Load(FashionMnist.Spec, null, null, Options(tmp, env: tmp.Combine("env"))).TrainImages[0]);
    }

    [Fact]
    public void NothingAvailable_FallsBackToBundledSample_ForFashionOnly()
    {
        using var tmp = new TempDirectory();
        var log = new List<string>();
        var ds = MnistFamily.Load(FashionMnist.Spec, null, log.Add, Options(tmp));
        Assert.True(ds.IsBundledSample);
        Assert.Contains(log, l => l.Contains("bundled"));

        var e = Assert.Throws<FileNotFoundException>(() => MnistFamily.Load(Mnist.Spec, null, null, Options(tmp)));
        Assert.Contains("mnist", e.Message);
    }

    [Fact]
    public void Download_FillsCacheAtomically_AndReportsProgress()
    {
        using var tmp = new TempDirectory();
        var served = Directory.CreateDirectory(tmp.Combine("served")).FullName;
        MakeDataset(served, 10, 5, marker: 5);
        var handler = new FileServer(served);
        var log = new List<string>();

        var ds = MnistFamily.Load(Mnist.Spec, null, log.Add, Options(tmp, download: true, handler: handler));
        Assert.Equal(5, ds.TrainImages[0]);
        Assert.Equal(Path.GetFullPath(tmp.Combine("cache")), ds.Source);
        Assert.Contains(log, l => l.Contains("100%"));
        Assert.Equal(4, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.StartsWith("http://mirror.invalid/data/", r));
        Assert.Empty(Directory.GetFiles(tmp.Combine("cache"), "*.part-*"));

        // Second load comes from the cache without any request.
        MnistFamily.Load(Mnist.Spec, null, null, Options(tmp, download: true, handler: handler));
        Assert.Equal(4, handler.Requests.Count);
    }

    [Fact]
    public void FailedDownload_LeavesNoPartialFiles_AndFallsBack()
    {
        using var tmp = new TempDirectory();
        var served = Directory.CreateDirectory(tmp.Combine("served")).FullName;
        File.WriteAllText(Path.Combine(served, "train-images-idx3-ubyte.gz"), "<html>moved</html>");
        var log = new List<string>();
        var ds = MnistFamily.Load(FashionMnist.Spec, null, log.Add, Options(tmp, download: true, handler: new FileServer(served)));
        Assert.True(ds.IsBundledSample);
        Assert.Contains(log, l => l.Contains("failed"));
        Assert.True(!Directory.Exists(tmp.Combine("cache")) || Directory.GetFiles(tmp.Combine("cache")).Length == 0);
    }

    [Fact]
    public void UnreachableServer_CreatesNoCacheFolder()
    {
        using var tmp = new TempDirectory();
        var ds = MnistFamily.Load(FashionMnist.Spec, null, null, Options(tmp, download: true, handler: new Unreachable()));
        Assert.True(ds.IsBundledSample);
        Assert.False(Directory.Exists(tmp.Combine("cache")));
    }

    private sealed class Unreachable : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct) =>
            throw new HttpRequestException("Name or service not known");
    }

    [Fact]
    public void LabelOutOfRange_IsInvalidData()
    {
        using var tmp = new TempDirectory();
        MakeDataset(tmp.Path, 10, 5, marker: 0, maxLabel: 10);
        var e = Assert.Throws<InvalidDataException>(() => MnistFamily.Load(FashionMnist.Spec, tmp.Path, null, Options(tmp)));
        Assert.Contains("is 10", e.Message);
        Assert.Contains("0..9", e.Message);
    }

    [Fact]
    public void ImageAndLabelCountMismatch_IsInvalidData()
    {
        using var tmp = new TempDirectory();
        MakeDataset(tmp.Path, 10, 5, marker: 0);
        Idx.Write(Path.Combine(tmp.Path, "t10k-labels-idx1-ubyte.gz"), new IdxArray(new[] { 4 }, new byte[4]), gzip: true);
        var e = Assert.Throws<InvalidDataException>(() => MnistFamily.Load(FashionMnist.Spec, tmp.Path, null, Options(tmp)));
        Assert.Contains("5 images", e.Message);
        Assert.Contains("4 labels", e.Message);
    }

    [Fact]
    public void WrongImageSize_IsInvalidData()
    {
        using var tmp = new TempDirectory();
        MakeDataset(tmp.Path, 10, 5, marker: 0);
        Idx.Write(Path.Combine(tmp.Path, "train-images-idx3-ubyte.gz"), new IdxArray(new[] { 10, 14, 14 }, new byte[1960]), gzip: true);
        var e = Assert.Throws<InvalidDataException>(() => MnistFamily.Load(FashionMnist.Spec, tmp.Path, null, Options(tmp)));
        Assert.Contains("14x14", e.Message);
    }

    [Fact]
    public void BundledSample_HasExpectedCountsAndBalancedClasses()
    {
        var ds = FashionMnist.LoadBundledSample();
        Assert.True(ds.IsBundledSample);
        Assert.Equal(4000, ds.TrainCount);
        Assert.Equal(1000, ds.TestCount);
        Assert.Equal(4000 * 784, ds.TrainImages.Length);
        Assert.Equal(1000 * 784, ds.TestImages.Length);
        Assert.Equal(10, ds.ClassCount);
        Assert.Equal("Ankle boot", ds.ClassNames[9]);
        for (byte c = 0; c < 10; c++)
        {
            Assert.Equal(400, ds.TrainLabels.Count(l => l == c));
            Assert.Equal(100, ds.TestLabels.Count(l => l == c));
        }
        // Real images, not blanks: Fashion-MNIST averages roughly 73/255 per pixel.
        double mean = ds.TrainImages.Average(b => (double)b);
        Assert.InRange(mean, 50, 100);
    }

    [Fact]
    public void DefaultCacheDirectory_EndsWithDatasetName()
    {
        var dir = MnistFamily.DefaultCacheDirectory("fashion-mnist");
        Assert.EndsWith(Path.Combine("spikesharp", "fashion-mnist"), dir);
        Assert.True(Path.IsPathRooted(dir));
    }

    /// <summary>Serves files from a directory by URL file name; 404 otherwise.</summary>
    private sealed class FileServer(string dir) : HttpMessageHandler
    {
        public List<string> Requests { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var url = request.RequestUri!.ToString();
            lock (Requests) Requests.Add(url);
            var file = Path.Combine(dir, Path.GetFileName(request.RequestUri.AbsolutePath));
            if (!File.Exists(file)) return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound));
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(File.ReadAllBytes(file)) });
        }
    }
}
