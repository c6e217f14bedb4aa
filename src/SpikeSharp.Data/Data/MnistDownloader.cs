using System.Net;

namespace SpikeSharp.Data;

/// <summary>Downloads the four gzipped IDX files of an MNIST-format dataset into a cache directory.</summary>
/// <remarks>
/// Connect and header timeouts are short so machines without internet fall through to the next
/// source within seconds. Each file lands in a temporary name, is validated as IDX and only then
/// renamed, so a cut connection never leaves a half file that later looks like a cached dataset.
/// </remarks>
internal static class MnistDownloader
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);

    public static bool TryDownload(string name, string[] mirrors, string[] baseNames, string cacheDir,
        HttpMessageHandler? handler, Action<string> log)
    {
        using var client = handler is null
            ? new HttpClient(new SocketsHttpHandler
            {
                ConnectTimeout = ConnectTimeout, AutomaticDecompression = DecompressionMethods.None,
            })
            : new HttpClient(handler, disposeHandler: false);
        client.Timeout = HeaderTimeout;

        foreach (var baseName in baseNames)
        {
            var target = Path.Combine(cacheDir, baseName + ".gz");
            if (File.Exists(target)) continue;
            bool ok = false;
            foreach (var mirror in mirrors)
            {
                var url = mirror.TrimEnd('/') + "/" + baseName + ".gz";
                try
                {
                    DownloadFile(client, url, target, log).GetAwaiter().GetResult();
                    ok = true;
                    break;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException
                                              or OperationCanceledException or InvalidDataException
                                              or UnauthorizedAccessException)
                {
                    log($"{name}: download of {url} failed: {e.Message}");
                }
            }
            if (!ok) return false;
        }
        return true;
    }

    private static async Task DownloadFile(HttpClient client, string url, string target, Action<string> log)
    {
        log($"downloading {url} ...");
        using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        long? total = response.Content.Headers.ContentLength;

        // Created only once a server answers, so offline machines are left without empty cache folders.
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temp = target + ".part-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await using (var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false))
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var buffer = new byte[1 << 16];
                long done = 0;
                int lastDecile = -1;
                using var stall = new CancellationTokenSource();
                while (true)
                {
                    // Restarting the timer on every chunk bounds a stalled transfer, not a slow one.
                    stall.CancelAfter(StallTimeout);
                    int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    await file.WriteAsync(buffer.AsMemory(0, n), stall.Token).ConfigureAwait(false);
                    done += n;
                    if (total is > 0)
                    {
                        int decile = (int)(done * 10 / total.Value);
                        if (decile != lastDecile)
                        {
                            lastDecile = decile;
                            log($"  {Path.GetFileName(target)}: {done * 100 / total.Value}% "
                                + $"({done / 1024} KiB of {total.Value / 1024} KiB)");
                        }
                    }
                }
                if (total is long t && done != t)
                    throw new IOException($"download of {url} ended after {done} of {t} bytes.");
                file.Flush(flushToDisk: true);
            }
            Idx.Read(temp); // throws InvalidDataException if the server sent something else
            File.Move(temp, target, overwrite: true);
            log($"  saved {target}");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
