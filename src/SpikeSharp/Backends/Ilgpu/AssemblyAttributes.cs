using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits a dynamic assembly named ILGPURuntime that must see the internal
// kernel parameter types (op structs, argument records).
[assembly: InternalsVisibleTo("ILGPURuntime")]
