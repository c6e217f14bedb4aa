using System.Buffers.Binary;
using System.Text;
using SpikeSharp.IO;
using SpikeSharp.Tests.Data;

namespace SpikeSharp.Tests.IO;

public class SafeTensorsTests
{
    [Fact]
    public void Roundtrip_AllDTypes_ShapesAndMetadata()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("sub", "model.safetensors");
        var tensors = new[]
        {
            SafeTensorEntry.FromFloat("w", new[] { 1.5f, -2f, float.NaN, 3e-8f, 7f, 8f }, 2, 3),
            SafeTensorEntry.FromDouble("d", new[] { Math.PI, -0.0 }),
            SafeTensorEntry.FromHalf("h", new[] { (Half)0.5f, (Half)(-65504f) }, 2, 1),
            SafeTensorEntry.FromInt32("i", new[] { int.MinValue, 0, int.MaxValue }),
            SafeTensorEntry.FromInt64("step", new[] { 1L << 40 }),
            SafeTensorEntry.FromBytes("mask", new byte[] { 0, 1, 255, 7 }, 2, 2),
            new SafeTensorEntry("scalar", SafeTensorDType.F32, Array.Empty<int>(), BitConverter.GetBytes(42f)),
            SafeTensorEntry.FromFloat("empty", Array.Empty<float>(), 0, 3),
        };
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "épochs: 3, \"quoted\"" };
        SafeTensors.Save(path, tensors, meta);

        var f = SafeTensors.Load(path);
        Assert.Equal(meta, f.Metadata);
        Assert.Equal(tensors.Length, f.Tensors.Count);
        Assert.Equal(new[] { 1.5f, -2f, float.NaN, 3e-8f, 7f, 8f }, f["w"].ToFloatArray());
        Assert.Equal(new[] { 2, 3 }, f["w"].Shape);
        Assert.Equal(new[] { Math.PI, -0.0 }, f["d"].ToDoubleArray());
        Assert.Equal(new[] { (Half)0.5f, (Half)(-65504f) }, f["h"].ToHalfArray());
        Assert.Equal(new[] { int.MinValue, 0, int.MaxValue }, f["i"].ToInt32Array());
        Assert.Equal(new[] { 1L << 40 }, f["step"].ToInt64Array());
        Assert.Equal(new byte[] { 0, 1, 255, 7 }, f["mask"].ToByteArray());
        Assert.Empty(f["scalar"].Shape);
        Assert.Equal(42f, f["scalar"].ToFloatArray().Single());
        Assert.Equal(new[] { 0, 3 }, f["empty"].Shape);
        Assert.Equal("F16", f["h"].DTypeName);

        // Larger elements first keeps every tensor aligned to its element size.
        var sizes = f.Tensors.Select(t => t.DType.SizeOf()).ToArray();
        Assert.Equal(sizes.OrderByDescending(s => s), sizes);
        Assert.Throws<InvalidOperationException>(() => f["w"].ToInt32Array());
        Assert.Throws<KeyNotFoundException>(() => f["nope"]);
    }

    [Fact]
    public void GoldenBytes_MatchTheSpecification()
    {
        var bytes = SafeTensors.Serialize(
            new[] { SafeTensorEntry.FromBytes("a", new byte[] { 1, 2, 3 }), SafeTensorEntry.FromFloat("b", new[] { 1f, -2f }) },
            new Dictionary<string, string> { ["format"] = "pt" });

        // 138 bytes of JSON + 6 spaces = 144 = 0x90; F32 "b" precedes U8 "a" (element size, then name).
        const string json = "{\"__metadata__\":{\"format\":\"pt\"}," +
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
                            "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}";
        var expected = new List<byte> { 0x90, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(json + "      "));
        expected.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0 }); // 1.0f, -2.0f little-endian
        expected.AddRange(new byte[] { 1, 2, 3 });
        Assert.Equal(138, json.Length);
        Assert.Equal(expected.ToArray(), bytes);
    }

    [Fact]
    public void Save_RejectsDuplicateNames()
    {
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(new[]
        {
            SafeTensorEntry.FromFloat("x", new[] { 1f }), SafeTensorEntry.FromInt32("x", new[] { 1 }),
        }));
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void Entry_RejectsWrongDataLengthAndReservedName()
    {
        var e = Assert.Throws<ArgumentException>(() => new SafeTensorEntry("t", "F32", new[] { 2, 2 }, new byte[12]));
        Assert.Contains("needs 16 bytes, got 12", e.Message);
        Assert.Throws<ArgumentException>(() => SafeTensorEntry.FromFloat("__metadata__", new[] { 1f }));
        Assert.Throws<ArgumentException>(() => SafeTensorEntry.FromFloat("t", new[] { 1f, 2f }, 3));
        Assert.Throws<ArgumentException>(() => new SafeTensorEntry("t", "F8", new[] { 1 }, new byte[1]));
    }

    /// <summary>Builds a file from a header string (padded like the writer) and data bytes.</summary>
    private static byte[] Raw(string header, byte[] data, ulong? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, declaredLength ?? (ulong)h.Length);
        h.CopyTo(result, 8);
        data.CopyTo(result, 8 + h.Length);
        return result;
    }

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[4], "past the 4 data bytes" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[12], "cover 8 data bytes but the file holds 12" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8], "needs 12 bytes" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8], "expected it to begin at 0" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2], "more than once" },
        { "{\"t\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1], "unsupported dtype 'Q4'" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", new byte[1], "shape entry 0" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", new byte[1], "data_offsets" },
        { "{\"__metadata__\":{\"k\":1}}", Array.Empty<byte>(), "metadata 'k' must be a string" },
        { "{\"t\": [1,2", Array.Empty<byte>(), "not valid JSON" },
        { "[1,2]", Array.Empty<byte>(), "must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Load_RejectsMalformedFiles_NamingFileAndTensor(string header, byte[] data, string expectedMessage)
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("bad.safetensors");
        File.WriteAllBytes(path, Raw(header, data));
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedMessage, e.Message);
        // Errors about one tensor name it; whole-file errors (JSON, trailing bytes) cannot.
        if (header.Contains("\"t\"") && !expectedMessage.Contains("JSON") && !expectedMessage.StartsWith("cover")) Assert.Contains("'t'", e.Message);
    }

    [Fact]
    public void Load_RejectsBadHeaderLengths()
    {
        var tooShort = Assert.Throws<InvalidDataException>(() => SafeTensors.Deserialize(new byte[5], "x.st"));
        Assert.Contains("too short", tooShort.Message);
        var huge = Assert.Throws<InvalidDataException>(() => SafeTensors.Deserialize(Raw("{}", Array.Empty<byte>(), 1UL << 40), "x.st"));
        Assert.Contains("limit", huge.Message);
        var past = Assert.Throws<InvalidDataException>(() => SafeTensors.Deserialize(Raw("{}", Array.Empty<byte>(), 100), "x.st"));
        Assert.Contains("truncated", past.Message);
        var notUtf8 = Assert.Throws<InvalidDataException>(() =>
            SafeTensors.Deserialize(new byte[] { 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe }, "x.st"));
        Assert.Contains("UTF-8", notUtf8.Message);
        Assert.Throws<FileNotFoundException>(() => SafeTensors.Load("/nonexistent/dir/x.safetensors"));
    }

    [Fact]
    public void FailedSave_KeepsPreviousFile_AndRemovesTempFile()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("ckpt.safetensors");
        SafeTensors.Save(path, new[] { SafeTensorEntry.FromFloat("w", new[] { 1f, 2f }) });
        var before = File.ReadAllBytes(path);

        var big = SafeTensorEntry.FromFloat("w", new float[10_000]);
        var e = Assert.Throws<IOException>(() =>
            SafeTensors.SaveWithStreamWrapper(path, new[] { big }, null, s => new FailingStream(s, failAfterBytes: 1000)));
        Assert.Contains(path, e.Message);
        Assert.Contains("disk full", e.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(tmp.Path));
        Assert.Equal(new[] { 1f, 2f }, SafeTensors.Load(path)["w"].ToFloatArray());
    }

    [Fact]
    public void AtomicWrite_NonIoFailurePropagatesAndCleansUp()
    {
        using var tmp = new TempDirectory();
        var path = tmp.Combine("f.bin");
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100]);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void Save_IntoUnwritableLocation_NamesThePath()
    {
        using var tmp = new TempDirectory();
        var blocker = tmp.Combine("file");
        File.WriteAllText(blocker, "x");
        var path = Path.Combine(blocker, "model.safetensors"); // parent is a file, so the directory cannot exist
        var e = Assert.Throws<IOException>(() => SafeTensors.Save(path, new[] { SafeTensorEntry.FromFloat("w", new[] { 1f }) }));
        Assert.Contains(path, e.Message);
    }

    /// <summary>Passes writes through until a byte budget is spent, then fails like a full disk.</summary>
    private sealed class FailingStream(Stream inner, int failAfterBytes) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > failAfterBytes)
            {
                int part = (int)(failAfterBytes - _written);
                inner.Write(buffer[..part]);
                _written += part;
                throw new IOException("No space left on device (simulated disk full).");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }
}
