using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

/// <summary>The download code against a fake HTTP server on localhost: resume with Range, checksums, archives.
/// </summary>
public class DatasetDownloaderTests
{
    /// <summary>
    /// Serves one byte array at /file. Honours "Range: bytes=N-" with 206 unless <see cref="IgnoreRange"/>; cuts the
    /// first response after <see cref="CutAfter"/> bytes (the connection drops, as a flaky network does).
    /// </summary>
    private sealed class FakeServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly byte[] _content;
        private readonly Task _loop;

        public FakeServer(byte[] content)
        {
            _content = content;
            int port = FreePort();
            Url = $"http://127.0.0.1:{port}/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _loop = Task.Run(Serve);
        }

        public string Url { get; }
        public int? CutAfter { get; set; }
        public bool IgnoreRange { get; set; }
        public List<string?> Ranges { get; } = new();

        private static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                var range = ctx.Request.Headers["Range"];
                lock (Ranges) Ranges.Add(range);
                long from = 0;
                var res = ctx.Response;
                if (range is not null && !IgnoreRange && range.StartsWith("bytes=") && range.EndsWith("-"))
                {
                    from = long.Parse(range[6..^1]);
                    if (from >= _content.Length)
                    {
                        res.StatusCode = 416;
                        res.Close();
                        continue;
                    }
                    res.StatusCode = 206;
                    res.Headers["Content-Range"] = $"bytes {from}-{_content.Length - 1}/{_content.Length}";
                }
                int length = _content.Length - (int)from;
                res.ContentLength64 = length;
                try
                {
                    if (CutAfter is int cut)
                    {
                        CutAfter = null;
                        await res.OutputStream.WriteAsync(_content.AsMemory((int)from, Math.Min(cut, length)));
                        await res.OutputStream.FlushAsync();
                        res.Abort(); // drops the connection mid-body
                        continue;
                    }
                    await res.OutputStream.WriteAsync(_content.AsMemory((int)from, length));
                    res.Close();
                }
                catch (HttpListenerException) { }
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        }
    }

    private static byte[] Content(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 + 7)).ToArray();

    [Fact]
    public void ACutDownloadResumesWithARangeRequestAndPassesItsChecksums()
    {
        var content = Content(300_000);
        using var server = new FakeServer(content) { CutAfter = 100_000 };
        using var tmp = new TempDirectory();
        var file = new DatasetFile("data.bin", server.Url + "file",
            Md5: Convert.ToHexStringLower(MD5.HashData(content)), Sha256: Convert.ToHexString(SHA256.HashData(content)));
        Assert.ThrowsAny<Exception>(() => DatasetDownloader.Download(file, tmp.Path));
        long part = new FileInfo(tmp.Combine("data.bin.partial")).Length;
        Assert.InRange(part, 1, content.Length - 1);
        Assert.False(File.Exists(tmp.Combine("data.bin")));

        var logs = new List<string>();
        var path = DatasetDownloader.Download(file, tmp.Path, log: logs.Add);
        Assert.Equal(content, File.ReadAllBytes(path));
        Assert.Equal($"bytes={part}-", server.Ranges[^1]);
        Assert.Contains(logs, l => l.Contains($"resuming {file.Url} at byte {part}"));
        Assert.False(File.Exists(tmp.Combine("data.bin.partial")));
        // Present: no request at all.
        int requests = server.Ranges.Count;
        DatasetDownloader.Download(file, tmp.Path);
        Assert.Equal(requests, server.Ranges.Count);
    }

    [Fact]
    public void AServerThatIgnoresTheRangeRestartsTheFile()
    {
        var content = Content(50_000);
        using var server = new FakeServer(content) { IgnoreRange = true };
        using var tmp = new TempDirectory();
        File.WriteAllBytes(tmp.Combine("d.bin.partial"), content[..1000].Select(b => (byte)~b).ToArray());
        var file = new DatasetFile("d.bin", server.Url + "file", Md5: Convert.ToHexStringLower(MD5.HashData(content)));
        Assert.Equal(content, File.ReadAllBytes(DatasetDownloader.Download(file, tmp.Path)));
        Assert.Equal("bytes=1000-", server.Ranges[0]);
    }

    [Fact]
    public void AChecksumMismatchDeletesThePartAndNamesBothDigests()
    {
        var content = Content(10_000);
        using var server = new FakeServer(content);
        using var tmp = new TempDirectory();
        string wrong = new('0', 32), got = Convert.ToHexStringLower(MD5.HashData(content));
        var e = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download(new DatasetFile("x.zip", server.Url + "file", Md5: wrong), tmp.Path));
        Assert.Contains($"x.zip: MD5 mismatch: expected {wrong}, got {got}", e.Message);
        Assert.Empty(Directory.GetFiles(tmp.Path));
        // A complete part: the server answers 416 and the checksum decides.
        File.WriteAllBytes(tmp.Combine("x.zip.partial"), content);
        var ok = DatasetDownloader.Download(new DatasetFile("x.zip", server.Url + "file", Md5: got), tmp.Path);
        Assert.Equal(content, File.ReadAllBytes(ok));
    }

    [Fact]
    public void FetchDownloadsAndUnpacksAZipOnce()
    {
        using var tmp = new TempDirectory();
        var src = tmp.Combine("src");
        EventFixtures.WriteNMnist(src, perDigit: 1, digits: 2);
        var zip = tmp.Combine("Train.zip");
        ZipFile.CreateFromDirectory(src, zip);
        var bytes = File.ReadAllBytes(zip);
        using var server = new FakeServer(bytes);
        var root = tmp.Combine("data");
        Directory.CreateDirectory(root);
        var file = new DatasetFile("Train.zip", server.Url + "file", Md5: Convert.ToHexStringLower(MD5.HashData(bytes)));
        DatasetArchives.Fetch("nmnist", root, files: new[] { file });
        Assert.Equal(2, NMnist.ListFiles(root, train: true).Length);
        int requests = server.Ranges.Count;
        DatasetArchives.Fetch("nmnist", root, files: new[] { file });
        Assert.Equal(requests, server.Ranges.Count);
        Assert.Contains("expected nmnist, shd, cifar10, got 'mnist'",
            Assert.Throws<ArgumentException>(() => DatasetArchives.Files("mnist")).Message);
    }

    [Fact]
    public void ThePublishedFilesCarryTheirChecksums()
    {
        Assert.Equal("c32a1d4ab5d03f1284b67883e8d87530", Cifar10.Archive.Md5);
        Assert.StartsWith("https://www.cs.toronto.edu/~kriz/", Cifar10.Archive.Url);
        Assert.All(DatasetArchives.Names.SelectMany(DatasetArchives.Files),
            f => Assert.Matches("^[0-9a-f]{32}$", f.Md5!));
        Assert.StartsWith("https://zenkelab.org/datasets/", Shd.TrainArchive.Url);
    }
}
