using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator compiles kernels into a dynamic assembly named ILGPURuntime; internal op
// structs declared in this test assembly (passed to Map on ilgpu-cpu) must be visible to it.
[assembly: InternalsVisibleTo("ILGPURuntime")]
