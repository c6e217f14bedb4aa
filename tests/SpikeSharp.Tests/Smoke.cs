public class Smoke { [Fact] public void Works() => Assert.Equal("0.1.0", SpikeSharp.Version.Value); }
