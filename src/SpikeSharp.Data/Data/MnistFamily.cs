namespace SpikeSharp.Data;

/// <summary>Describes one MNIST-format dataset: names, locations and mirrors.</summary>
internal sealed record MnistFamilySpec(
    string Name,
    string[] ClassNames,
    string SystemDirectory,
    string[] Mirrors,
    string? EmbeddedResourcePrefix);

/// <summary>Knobs for data-root resolution; the defaults are what the public loaders use.</summary>
internal sealed class DataSourceOptions
{
    public string? EnvironmentRoot { get; init; } =
        Environment.GetEnvironmentVariable(MnistFamily.DataEnvironmentVariable);
    public string? SystemDirectory { get; init; }
    public string? CacheDirectory { get; init; }
    public bool AllowDownload { get; init; } =
        Environment.GetEnvironmentVariable(MnistFamily.OfflineEnvironmentVariable) is not ("1" or "true" or "yes");
    public bool AllowBundledSample { get; init; } = true;
    public HttpMessageHandler? HttpHandler { get; init; }
    public string[]? Mirrors { get; init; }
}

/// <summary>Shared loading logic for MNIST-format datasets (MNIST, Fashion-MNIST).</summary>
internal static class MnistFamily
{
    public const string DataEnvironmentVariable = "SPIKESHARP_DATA";
    public const string OfflineEnvironmentVariable = "SPIKESHARP_OFFLINE";
    public const int ImageRows = 28, ImageCols = 28;

    /// <summary>Base names of the four files, in load order.</summary>
    public static readonly string[] FileNames =
    {
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    };

    public static ImageDataset Load(MnistFamilySpec spec, string? dataRoot, Action<string>? log,
        DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        log ??= _ => { };
        var tried = new List<string>();

        if (dataRoot is not null)
        {
            // An explicit path is a promise from the caller: never substitute other data for it.
            var dir = FindDirectory(spec, dataRoot, out var missing)
                ?? throw new FileNotFoundException(
                    $"{spec.Name}: data root '{Path.GetFullPath(dataRoot)}' is unusable: missing " +
                    $"{string.Join(", ", missing)} " +
                    $"(looked in '{dataRoot}' and '{Path.Combine(dataRoot, spec.Name)}'; each file may be gzipped, " +
                    "with or without .gz).",
                    missing.FirstOrDefault());
            return LoadDirectory(spec, dir, log);
        }

        if (!string.IsNullOrWhiteSpace(options.EnvironmentRoot))
        {
            var dir = FindDirectory(spec, options.EnvironmentRoot, out var missing);
            if (dir is not null) return LoadDirectory(spec, dir, log);
            log($"{spec.Name}: {DataEnvironmentVariable}='{options.EnvironmentRoot}' lacks " +
                $"{string.Join(", ", missing)}; trying other locations.");
            tried.Add($"{DataEnvironmentVariable}={options.EnvironmentRoot}");
        }

        var system = options.SystemDirectory ?? spec.SystemDirectory;
        if (FindDirectory(spec, system, out _) is string systemDir) return LoadDirectory(spec, systemDir, log);
        tried.Add(system);

        var cache = options.CacheDirectory ?? DefaultCacheDirectory(spec.Name);
        if (FindDirectory(spec, cache, out _) is string cacheDir) return LoadDirectory(spec, cacheDir, log);
        tried.Add(cache);

        if (options.AllowDownload)
        {
            if (MnistDownloader.TryDownload(spec.Name, options.Mirrors ?? spec.Mirrors, FileNames, cache,
                    options.HttpHandler, log))
                return LoadDirectory(spec, cache, log);
            tried.Add("download from " + string.Join(" or ", options.Mirrors ?? spec.Mirrors));
        }

        if (options.AllowBundledSample && spec.EmbeddedResourcePrefix is string prefix)
        {
            log($"{spec.Name}: full dataset not found ({string.Join("; ", tried)}); " +
                "using the small sample bundled in SpikeSharp.dll.");
            return LoadEmbedded(spec, prefix);
        }

        throw new FileNotFoundException(
            $"{spec.Name}: dataset not found. Tried: {string.Join("; ", tried)}. " +
            $"Pass a directory containing {string.Join(", ", FileNames.Select(f => f + ".gz"))} " +
            $"or set {DataEnvironmentVariable}.");
    }

    /// <summary>The per-user download cache: $XDG_CACHE_HOME/spikesharp/NAME or ~/.cache/spikesharp/NAME.</summary>
    public static string DefaultCacheDirectory(string name)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root;
        if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)) root = xdg;
        else if (OperatingSystem.IsWindows())
            root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        else root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "spikesharp", name);
    }

    /// <summary>Returns root or root/NAME if it holds all four files; otherwise null and the files missing in
    /// root.</summary>
    private static string? FindDirectory(MnistFamilySpec spec, string root, out List<string> missing)
    {
        missing = MissingFiles(root);
        if (missing.Count == 0) return root;
        var sub = Path.Combine(root, spec.Name);
        if (MissingFiles(sub).Count == 0) return sub;
        return null;
    }

    private static List<string> MissingFiles(string dir) =>
        FileNames.Where(f => ResolveFile(dir, f) is null).Select(f => Path.Combine(dir, f + ".gz")).ToList();

    internal static string? ResolveFile(string dir, string baseName)
    {
        foreach (var candidate in new[] { baseName + ".gz", baseName })
        {
            var p = Path.Combine(dir, candidate);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    private static ImageDataset LoadDirectory(MnistFamilySpec spec, string dir, Action<string> log)
    {
        var paths = FileNames.Select(f => ResolveFile(dir, f)!).ToArray();
        var arrays = paths.Select((p, i) => Idx.Read(p, expectedRank: i % 2 == 0 ? 3 : 1)).ToArray();
        var ds = Build(spec, arrays, paths, Path.GetFullPath(dir), isSample: false);
        log($"{spec.Name}: loaded {ds.TrainCount} train / {ds.TestCount} test images from {ds.Source}.");
        return ds;
    }

    internal static ImageDataset LoadEmbedded(MnistFamilySpec spec, string prefix)
    {
        var asm = typeof(MnistFamily).Assembly;
        var names = FileNames.Select(f => prefix + f + ".gz").ToArray();
        var arrays = names.Select((n, i) =>
        {
            using var s = asm.GetManifestResourceStream(n)
                ?? throw new InvalidOperationException($"{spec.Name}: embedded resource '{n}' is missing from " +
                    $"{asm.GetName().Name}.dll (build problem).");
            return Idx.Read(s, "embedded:" + n, expectedRank: i % 2 == 0 ? 3 : 1);
        }).ToArray();
        return Build(spec, arrays, names, $"embedded {spec.Name} sample in {asm.GetName().Name}.dll", isSample: true);
    }

    private static ImageDataset Build(MnistFamilySpec spec, IdxArray[] a, string[] names, string source, bool isSample)
    {
        for (int split = 0; split < 2; split++)
        {
            IdxArray images = a[2 * split], labels = a[2 * split + 1];
            string imgName = names[2 * split], lblName = names[2 * split + 1];
            if (images.Shape[1] != ImageRows || images.Shape[2] != ImageCols)
                throw new InvalidDataException(
                    $"{spec.Name}: '{imgName}' holds {images.Shape[1]}x{images.Shape[2]} images; " +
                    $"expected {ImageRows}x{ImageCols}.");
            if (images.Shape[0] != labels.Shape[0])
                throw new InvalidDataException(
                    $"{spec.Name}: '{imgName}' has {images.Shape[0]} images but '{lblName}' has " +
                    $"{labels.Shape[0]} labels; expected equal counts.");
            var bad = Array.FindIndex(labels.Data, l => l >= spec.ClassNames.Length);
            if (bad >= 0)
                throw new InvalidDataException(
                    $"{spec.Name}: '{lblName}' label #{bad} is {labels.Data[bad]}; " +
                    $"expected 0..{spec.ClassNames.Length - 1}.");
        }
        return new ImageDataset(spec.Name, spec.ClassNames, ImageRows, ImageCols,
            a[0].Data, a[1].Data, a[2].Data, a[3].Data, source, isSample);
    }
}
