"""Reads .nir files with NIR's reference reader (type checking every edge) and writes them back with its writer.

Not run by the test suite (PyPI's `nir` is not installed on CI); run it by hand on files written by
`spikesharp export` or NirExport.Save, with the reference package and h5py importable:

    PYTHONPATH=/path/to/NIR python3 check_with_reference.py model.nir [more.nir ...]
"""
import sys

import nir

for path in sys.argv[1:]:
    graph = nir.read(path)  # type_check=True: infers and checks the shapes along every edge
    print(f"{path}: {len(graph.nodes)} nodes, edges {graph.edges}")
    for name, node in graph.nodes.items():
        meta = sorted(node.metadata) if getattr(node, "metadata", None) else []
        print(f"  {name}: {type(node).__name__} in {node.input_type} out {node.output_type}"
              + (f" metadata {meta}" if meta else ""))
    nir.write(path + ".rewritten", graph)
    nir.read(path + ".rewritten")
    print("  written back and read again by the reference package")
