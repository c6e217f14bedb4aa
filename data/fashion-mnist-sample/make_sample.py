"""Builds the compact Fashion-MNIST sample bundled with SpikeSharp.

Takes the first 400 training and the first 100 test images of every class (in file order) from
the full dataset, keeps their original relative order, and writes gzipped IDX files with a fixed
gzip timestamp so the output is byte-for-byte reproducible.

Usage: python3 make_sample.py [/usr/share/datasets/fashion-mnist] [output dir]
"""
import gzip
import os
import struct
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
DST = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
PER_CLASS = {"train": 400, "t10k": 100}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim:]


def write_idx(path, dims, payload):
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(header + payload)


for split, per_class in PER_CLASS.items():
    (n, rows, cols), images = read_idx(os.path.join(SRC, f"{split}-images-idx3-ubyte.gz"))
    (n_labels,), labels = read_idx(os.path.join(SRC, f"{split}-labels-idx1-ubyte.gz"))
    assert n == n_labels
    taken = {c: 0 for c in range(10)}
    keep = []
    for i, label in enumerate(labels):
        if taken[label] < per_class:
            taken[label] += 1
            keep.append(i)
    assert all(v == per_class for v in taken.values()), taken
    size = rows * cols
    out_images = b"".join(images[i * size:(i + 1) * size] for i in keep)
    out_labels = bytes(labels[i] for i in keep)
    write_idx(os.path.join(DST, f"{split}-images-idx3-ubyte.gz"), (len(keep), rows, cols), out_images)
    write_idx(os.path.join(DST, f"{split}-labels-idx1-ubyte.gz"), (len(keep),), out_labels)
    print(split, len(keep), "images")
