using System.IO.Compression;
using SpikeSharp.Data;

namespace SpikeSharp.Tests.Data;

public class IdxTests
{
    private static IdxArray Sample(params int[] shape)
    {
        var data = new byte[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 7 + 3);
        return new IdxArray(shape, data);
    }

    [Theory]
    [InlineData(false, "plain.gz")]   // names must not matter: plain file called .gz
    [InlineData(true, "zipped.bin")]  // and gzip file without .gz
    public void Roundtrip_DetectsCompressionByMagicBytes(bool gzip, string fileName)
    {
        using var dir = new TempDirectory();
        var path = dir.Combine(fileName);
        var original = Sample(3, 4, 5);
        Idx.Write(path, original, gzip);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(gzip, bytes[0] == 0x1f && bytes[1] == 0x8b);
        var read = Idx.Read(path, expectedRank: 3);
        Assert.Equal(new[] { 3, 4, 5 }, read.Shape);
        Assert.Equal(original.Data, read.Data);
    }

    [Fact]
    public void Write_ProducesSpecHeader()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("labels");
        Idx.Write(path, new IdxArray(new[] { 3 }, new byte[] { 9, 0, 5 }));
        Assert.Equal(new byte[] { 0, 0, 0x08, 1, 0, 0, 0, 3, 9, 0, 5 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Read_FromNonSeekableGzipStream()
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(new byte[] { 0, 0, 8, 1, 0, 0, 0, 2, 42, 43 });
        var read = Idx.Read(new NonSeekable(ms.ToArray()), "mem");
        Assert.Equal(new byte[] { 42, 43 }, read.Data);
    }

    [Fact]
    public void TruncatedData_ReportsExpectedAndActualBytes()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("cut");
        Idx.Write(path, Sample(2, 10));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);

        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("needs 20 data bytes, got 15", e.Message);
    }

    [Fact]
    public void TruncatedGzip_IsInvalidData()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("cut.gz");
        var big = new IdxArray(new[] { 4000 }, Enumerable.Range(0, 4000).Select(i => (byte)(i * 31 % 251)).ToArray());
        Idx.Write(path, big, gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrailingBytes_AreRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("long");
        File.WriteAllBytes(path, new byte[] { 0, 0, 8, 1, 0, 0, 0, 1, 5, 6 });
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains("trailing", e.Message);
    }

    [Fact]
    public void BadMagic_IsRejectedWithFileName()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("junk");
        File.WriteAllText(path, "<html>not found</html>");
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("bad magic", e.Message);
    }

    [Fact]
    public void NonUInt8ElementType_IsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("floats");
        File.WriteAllBytes(path, new byte[] { 0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f });
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains("float32", e.Message);
        Assert.Contains("only uint8", e.Message);
    }

    [Fact]
    public void WrongRank_IsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("r2");
        Idx.Write(path, Sample(2, 2));
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path, expectedRank: 3));
        Assert.Contains("rank 2", e.Message);
        Assert.Contains("expected rank 3", e.Message);
    }

    [Fact]
    public void MissingFile_NamesThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), "does-not-exist-" + Guid.NewGuid() + ".gz");
        var e = Assert.Throws<FileNotFoundException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
    }

    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }
}
