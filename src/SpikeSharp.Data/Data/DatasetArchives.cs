using System.Formats.Tar;
using System.IO.Compression;

namespace SpikeSharp.Data;

/// <summary>Fetches and unpacks the published archives of the event and CIFAR datasets into a data directory.</summary>
public static class DatasetArchives
{
    /// <summary>The datasets <see cref="Fetch"/> knows: nmnist, shd, cifar10.</summary>
    public static readonly string[] Names = { "nmnist", "shd", "cifar10" };

    /// <summary>The published files of <paramref name="dataset"/>.</summary>
    public static DatasetFile[] Files(string dataset) => dataset switch
    {
        "nmnist" => new[] { NMnist.TrainArchive, NMnist.TestArchive },
        "shd" => new[] { Shd.TrainArchive, Shd.TestArchive },
        "cifar10" => new[] { Cifar10.Archive },
        _ => throw new ArgumentException(
            $"dataset: expected {string.Join(", ", Names)}, got '{dataset}'", nameof(dataset)),
    };

    /// <summary>
    /// Downloads (with resume and checksum, <see cref="DatasetDownloader"/>) the archives of
    /// <paramref name="dataset"/> into <paramref name="root"/> and unpacks each there once; a marker file
    /// <c>NAME.unpacked</c> records a finished unpacking so that a later call skips it.
    /// </summary>
    /// <param name="dataset">nmnist, shd or cifar10.</param>
    /// <param name="root">The data directory.</param>
    /// <param name="handler">The HTTP handler (tests), or null.</param>
    /// <param name="log">Told about progress.</param>
    /// <param name="files">Other files to fetch (tests), or null for the published ones.</param>
    public static void Fetch(string dataset, string root, HttpMessageHandler? handler = null,
        Action<string>? log = null, DatasetFile[]? files = null)
    {
        foreach (var f in files ?? Files(dataset))
        {
            string marker = Path.Combine(root, f.FileName + ".unpacked");
            if (File.Exists(marker)) continue;
            var archive = DatasetDownloader.Download(f, root, handler, log);
            Extract(archive, root);
            File.WriteAllText(marker, f.Md5 ?? f.Sha256 ?? "");
            log?.Invoke($"unpacked {archive} into {root}");
        }
    }

    /// <summary>Unpacks a .zip, .tar.gz/.tgz or .gz (one file) archive into <paramref name="directory"/>; entries
    /// that would land outside it are refused (by .NET's extractors).</summary>
    public static void Extract(string archive, string directory)
    {
        Directory.CreateDirectory(directory);
        string name = archive.ToLowerInvariant();
        try
        {
            if (name.EndsWith(".zip", StringComparison.Ordinal))
                ZipFile.ExtractToDirectory(archive, directory, overwriteFiles: true);
            else if (name.EndsWith(".tar.gz", StringComparison.Ordinal)
                     || name.EndsWith(".tgz", StringComparison.Ordinal))
            {
                using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
                TarFile.ExtractToDirectory(gz, directory, overwriteFiles: true);
            }
            else if (name.EndsWith(".gz", StringComparison.Ordinal))
            {
                using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
                using var output = File.Create(Path.Combine(directory, Path.GetFileNameWithoutExtension(archive)));
                gz.CopyTo(output);
            }
            else throw new NotSupportedException($"'{archive}': expected a .zip, .tar.gz, .tgz or .gz archive");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{archive}' is not a valid archive ({e.Message})", e);
        }
    }
}
