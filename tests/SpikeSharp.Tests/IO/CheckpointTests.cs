using SpikeSharp.IO;
using SpikeSharp.Nn;
using SpikeSharp.Optim;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.IO;

public class CheckpointTests
{
    // A model and optimiser whose state after `epoch` Adam steps is distinct per epoch.
    private sealed class Run : IDisposable
    {
        public readonly Linear Model = new(3, 2, gen: new Generator(7), device: Device.Cpu);
        public readonly Adam Opt;
        public Run() => Opt = new Adam(Model.NamedParameters(), 0.1f);

        public void Step(int epoch)
        {
            foreach (var p in Model.Parameters())
            {
                p.Grad?.Dispose();
                var g = Enumerable.Repeat((float)epoch, p.Numel).ToArray();
                p.Grad = Tensor.FromArray(g, p.Shape, Device.Cpu).Persist();
            }
            Opt.Step();
        }

        public float[] Weight => Model.StateDict()["weight"].ToArray<float>();

        public CheckpointInfo Save(string dir, int epoch, int keep = Checkpoint.DefaultKeep) =>
            Checkpoint.Save(dir, $"epoch-{epoch}", Model, Opt,
                new Dictionary<string, string> { ["epoch"] = epoch.ToString() }, keep: keep);

        public void Dispose() { Opt.Dispose(); Model.Dispose(); }
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyTree(d, Path.Combine(to, Path.GetFileName(d)));
    }

    private static string[] Temporaries(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p).Contains(".tmp-")).ToArray();

    [Fact]
    public void AKillAtAnyStepOfASave_LeavesTheOldOrTheNewSaveCompleteAndLoadable()
    {
        using var tmp = new TempDirectory();
        string run = tmp.Combine("run");
        var weights = new Dictionary<int, float[]>();
        using (var r = new Run())
        {
            for (int e = 1; e <= 2; e++) { r.Step(e); weights[e] = r.Weight; r.Save(run, e); }
            r.Step(3); weights[3] = r.Weight;
            // The disk as a SIGKILL before each file-system step of the third save (which prunes epoch-1) leaves it.
            var steps = new List<string>();
            AtomicFile.StepHook = step =>
            {
                CopyTree(run, tmp.Combine("snap", steps.Count.ToString()));
                steps.Add(step);
            };
            try { r.Save(run, 3); }
            finally { AtomicFile.StepHook = null; }
            Assert.True(steps.Count >= 12, "steps seen: " + string.Join(" | ", steps));
            Assert.Contains(steps, s => s.StartsWith("rename") && s.EndsWith("epoch-3"));
            Assert.Contains(steps, s => s.StartsWith("delete old save epoch-1"));

            var seen = new HashSet<int>();
            for (int i = 0; i < steps.Count; i++)
            {
                string snap = tmp.Combine("snap", i.ToString());
                using var fresh = new Run();
                var info = Checkpoint.Load(snap, fresh.Model, fresh.Opt);
                int epoch = int.Parse(info.Metadata["epoch"]);
                Assert.True(epoch is 2 or 3, $"killed before '{steps[i]}': loaded epoch {epoch}");
                Assert.Equal(weights[epoch], fresh.Weight);
                Assert.Equal(epoch, fresh.Opt.StateDict().Scalars["step"]);
                seen.Add(epoch);
                // Tools that read the root's model file always find a whole file.
                Assert.NotEmpty(SafeTensors.Load(Path.Combine(snap, Checkpoint.ModelFile)).Tensors);

                // The resumed run saves again: leftovers are cleaned and the new save is the latest.
                fresh.Step(epoch + 1);
                fresh.Save(snap, epoch + 1);
                Assert.Empty(Temporaries(snap));
                Assert.Equal($"epoch-{epoch + 1}", Checkpoint.FindLatest(snap)!.Name);
                var saved = Path.Combine(snap, Checkpoint.SavesDirectory, $"epoch-{epoch + 1}", Checkpoint.ModelFile);
                Assert.Equal(File.ReadAllBytes(saved), File.ReadAllBytes(Path.Combine(snap, Checkpoint.ModelFile)));
            }
            Assert.Equal(new HashSet<int> { 2, 3 }, seen); // kills on both sides of the commit were tried
        }
    }

    [Fact]
    public void Save_KeepsTheNewestSaves_AndWritesTheRootCopiesAndPointer()
    {
        using var tmp = new TempDirectory();
        using var r = new Run();
        for (int e = 1; e <= 4; e++) { r.Step(e); r.Save(tmp.Path, e); }
        var saves = Path.Combine(tmp.Path, Checkpoint.SavesDirectory);
        string?[] Saves() => Directory.GetDirectories(saves).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "epoch-3", "epoch-4" }, Saves());
        Assert.Equal("epoch-4\n", File.ReadAllText(Path.Combine(saves, Checkpoint.LatestFile)));
        foreach (var f in new[] { Checkpoint.ModelFile, Checkpoint.TrainerFile })
            Assert.Equal(File.ReadAllBytes(Path.Combine(saves, "epoch-4", f)), File.ReadAllBytes(tmp.Combine(f)));

        r.Step(5);
        r.Save(tmp.Path, 5, keep: 1);
        Assert.Equal(new[] { "epoch-5" }, Saves());
        var bad = Assert.Throws<ArgumentException>(() =>
            Checkpoint.Save(tmp.Path, "final", r.Model, r.Opt, new Dictionary<string, string>()));
        Assert.Contains("'final'", bad.Message);
        Assert.Contains("epoch-3", bad.Message);
    }

    [Fact]
    public void AFailedSave_KeepsThePreviousOneLatest_AndLeavesNoTemporaries()
    {
        using var tmp = new TempDirectory();
        using var r = new Run();
        r.Step(1);
        r.Save(tmp.Path, 1);
        r.Step(2);
        var files = new Dictionary<string, Action<Stream>>
        {
            ["config.json"] = s => throw new IOException("No space left on device (simulated)."),
        };
        var e = Assert.Throws<IOException>(() => Checkpoint.Save(tmp.Path, "epoch-2", r.Model, r.Opt,
            new Dictionary<string, string> { ["epoch"] = "2" }, files));
        Assert.Contains("could not save 'epoch-2'", e.Message);
        Assert.Contains("No space left on device", e.Message);
        Assert.Contains("The latest save is still 'epoch-1'", e.Message);
        Assert.Empty(Temporaries(tmp.Path));
        Assert.Equal("epoch-1", Checkpoint.FindLatest(tmp.Path)!.Name);

        var bad = new Dictionary<string, Action<Stream>> { ["x.json"] = s => throw new InvalidOperationException("bug") };
        Assert.Throws<InvalidOperationException>(() =>
            Checkpoint.Save(tmp.Path, "epoch-2", r.Model, r.Opt, new Dictionary<string, string>(), bad));
        Assert.Empty(Temporaries(tmp.Path));
    }

    [Fact]
    public void StaleTemporariesOfAKilledSave_AreDeletedByTheNextSave()
    {
        using var tmp = new TempDirectory();
        using var r = new Run();
        r.Step(1);
        r.Save(tmp.Path, 1);
        var saves = Path.Combine(tmp.Path, Checkpoint.SavesDirectory);
        Directory.CreateDirectory(Path.Combine(saves, ".tmp-0123456789ab"));
        File.WriteAllText(Path.Combine(saves, ".tmp-0123456789ab", Checkpoint.ModelFile), "half");
        File.WriteAllText(Path.Combine(tmp.Path, ".model.safetensors.tmp-abcdef012345"), "half");
        File.WriteAllText(Path.Combine(saves, ".latest.tmp-abcdef012345"), "epoch-");
        File.WriteAllText(Path.Combine(tmp.Path, "notes.tmp-mine"), "a user's file"); // not ours: kept
        Assert.Equal(3, Temporaries(tmp.Path).Length - 1);

        r.Step(2);
        r.Save(tmp.Path, 2);
        Assert.Equal(new[] { Path.Combine(tmp.Path, "notes.tmp-mine") }, Temporaries(tmp.Path));
    }

    [Fact]
    public void ADamagedLatestSave_FallsBackToThePreviousOne_WithAWarning()
    {
        using var tmp = new TempDirectory();
        using var r = new Run();
        var w = new Dictionary<int, float[]>();
        for (int e = 1; e <= 2; e++) { r.Step(e); w[e] = r.Weight; r.Save(tmp.Path, e); }
        var model2 = Path.Combine(tmp.Path, Checkpoint.SavesDirectory, "epoch-2", Checkpoint.ModelFile);
        var bytes = File.ReadAllBytes(model2);
        File.WriteAllBytes(model2, bytes[..(bytes.Length - 4)]); // e.g. a disk error after the save

        var warnings = new List<string>();
        using var fresh = new Run();
        var info = Checkpoint.Load(tmp.Path, fresh.Model, fresh.Opt, warnings.Add);
        Assert.Equal("epoch-1", info.Name);
        Assert.Equal(w[1], fresh.Weight);
        var warning = Assert.Single(warnings);
        Assert.Contains("epoch-2", warning);
        Assert.Contains("truncated", warning);
    }

    [Fact]
    public void ARunOfTheEarlierLayout_Loads_AndATornPairThereIsRefusedWithAHint()
    {
        using var tmp = new TempDirectory();
        using var r = new Run();
        r.Step(1);
        // The layout before checkpoints/: the pair at the root, both files with one checkpoint_id.
        var meta = new Dictionary<string, string> { ["epoch"] = "1", ["checkpoint_id"] = "a1" };
        SafeTensors.Save(Path.Combine(tmp.Path, Checkpoint.TrainerFile), Array.Empty<SafeTensorEntry>(), meta);
        Checkpoint.SaveModel(Path.Combine(tmp.Path, Checkpoint.ModelFile), r.Model, meta);
        using (var fresh = new Run())
        {
            var info = Checkpoint.Load(tmp.Path, fresh.Model, null);
            Assert.Null(info.Name);
            Assert.Equal(r.Weight, fresh.Weight);
        }

        SafeTensors.Save(Path.Combine(tmp.Path, Checkpoint.TrainerFile), Array.Empty<SafeTensorEntry>(),
            new Dictionary<string, string> { ["epoch"] = "2", ["checkpoint_id"] = "b2" });
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.FindLatest(tmp.Path));
        Assert.Contains("different saves", e.Message);
        Assert.Contains("--overwrite", e.Message);
    }

    [Fact]
    public void NoSave_IsNullForFindLatest_AndAClearErrorForLoad()
    {
        using var tmp = new TempDirectory();
        Assert.Null(Checkpoint.FindLatest(tmp.Path));
        using var r = new Run();
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(tmp.Path, r.Model, r.Opt));
        Assert.Contains(tmp.Path, e.Message);
        Assert.Contains("no complete save", e.Message);
    }

    [Fact]
    public void ReadMetadata_ChecksTheFileLength_WithoutReadingTensors()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("m.safetensors");
        SafeTensors.Save(path, new[] { SafeTensorEntry.FromFloat("w", new float[100]) },
            new Dictionary<string, string> { ["k"] = "v" });
        Assert.Equal("v", SafeTensors.ReadMetadata(path)["k"]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.ReadMetadata(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }
}
