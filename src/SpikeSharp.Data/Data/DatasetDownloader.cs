using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace SpikeSharp.Data;

/// <summary>A file a dataset is published as: its name on disk, its URL and the checksums its page gives.</summary>
/// <param name="FileName">The name to save it under.</param>
/// <param name="Url">Where it is served.</param>
/// <param name="Md5">The published MD5 (hex), if any.</param>
/// <param name="Sha256">The published SHA-256 (hex), if any.</param>
public sealed record DatasetFile(string FileName, string Url, string? Md5 = null, string? Sha256 = null);

/// <summary>
/// Downloads dataset files with resume and checksum: bytes land in <c>NAME.partial</c>, which a later call continues
/// with an HTTP Range request (a server that ignores the range sends the whole file, which then replaces the part);
/// the complete file is checked against the published MD5 and/or SHA-256 and only then renamed to NAME. A checksum
/// mismatch deletes the part (its bytes cannot be trusted) and fails naming both digests.
/// </summary>
public static class DatasetDownloader
{
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Downloads <paramref name="file"/> into <paramref name="directory"/> unless a file of that name is already
    /// there; returns its path.
    /// </summary>
    /// <param name="file">What to fetch.</param>
    /// <param name="directory">Where to put it (created if needed).</param>
    /// <param name="handler">The HTTP handler (tests pass one; null: a default with short connect timeouts).</param>
    /// <param name="log">Told about progress.</param>
    /// <param name="cancel">Stops the transfer; what arrived stays in the part file for a later resume.</param>
    /// <exception cref="HttpRequestException">The server refused the request.</exception>
    /// <exception cref="InvalidDataException">The checksum does not match.</exception>
    public static string Download(DatasetFile file, string directory, HttpMessageHandler? handler = null,
        Action<string>? log = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        log ??= _ => { };
        var target = Path.Combine(directory, file.FileName);
        if (File.Exists(target)) return target;
        Directory.CreateDirectory(directory);
        var part = target + ".partial";
        using var client = handler is null
            ? new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
            : new HttpClient(handler, disposeHandler: false);
        client.Timeout = Timeout.InfiniteTimeSpan; // the stall timer below bounds each read instead
        Fetch(client, file.Url, part, log, cancel).GetAwaiter().GetResult();
        Verify(file, part);
        File.Move(part, target, overwrite: true);
        log($"saved {target}");
        return target;
    }

    private static async Task Fetch(HttpClient client, string url, string part, Action<string> log,
        CancellationToken cancel)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel)
            .ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
        {
            log($"{url}: the part file already holds all {have} bytes");
            return; // the checksum decides whether it is right
        }
        response.EnsureSuccessStatusCode();
        bool append = response.StatusCode == HttpStatusCode.PartialContent;
        if (append && response.Content.Headers.ContentRange?.From is long from && from != have)
            throw new HttpRequestException(
                $"{url}: asked to resume at byte {have}, the server sent a range from byte {from}");
        if (!append) have = 0;
        long? total = response.Content.Headers.ContentLength + have;
        log(append ? $"resuming {url} at byte {have}" : $"downloading {url}");
        await using var body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        await using var output = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write,
            FileShare.None, 1 << 16);
        var buffer = new byte[1 << 16];
        long done = have;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        while (true)
        {
            stall.CancelAfter(StallTimeout);
            int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            if (n == 0) break;
            await output.WriteAsync(buffer.AsMemory(0, n), stall.Token).ConfigureAwait(false);
            done += n;
        }
        await output.FlushAsync(cancel).ConfigureAwait(false);
        if (total is long t && done != t)
            throw new IOException($"{url}: the transfer ended after {done} of {t} bytes; run again to resume");
    }

    /// <summary>Checks <paramref name="path"/> against the checksums of <paramref name="file"/>; on a mismatch
    /// deletes it and throws.</summary>
    public static void Verify(DatasetFile file, string path)
    {
        foreach (var (name, expected, hash) in new (string, string?, Func<Stream, byte[]>)[]
                 {
                     ("MD5", file.Md5, s => MD5.HashData(s)), ("SHA-256", file.Sha256, s => SHA256.HashData(s)),
                 })
        {
            if (expected is null) continue;
            string got;
            using (var s = File.OpenRead(path)) got = Convert.ToHexStringLower(hash(s));
            if (!string.Equals(got, expected, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(path);
                throw new InvalidDataException(
                    $"{file.FileName}: {name} mismatch: expected {expected.ToLowerInvariant()}, got {got} (from " +
                    $"{file.Url}); the download was deleted, run again to fetch it afresh");
            }
        }
    }
}
