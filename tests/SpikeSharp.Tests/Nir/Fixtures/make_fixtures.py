"""Writes the NIR import fixtures of NirFixtureTests with NIR's reference package, and their expected outputs.

Run from this directory with the `nir` package (the reference implementation, github.com/neuromorphs/NIR; these
files were made with its v1.0.7 source on Debian's python3-h5py 3.7 / HDF5 1.10.8) and numpy importable:

    PYTHONPATH=/path/to/NIR python3 make_fixtures.py

Each network is written by `nir.write` exactly as other libraries write theirs (gzip-compressed parameter arrays,
variable-length UTF-8 strings, an (N, 2) edge array). `<name>.expected.json` holds an input and the output that the
discrete-time reading of NIR's equations gives with a time step dt, simulated here in float64 numpy, independently of
SpikeSharp:

    LIF:     v <- (1 - dt/tau) v + (dt/tau) (R x + v_leak);  spike when v >= v_threshold, then v <- v_reset
    LI:      the same without spikes (the output is v)
    IF:      v <- v + R x (R per step, as Sinabs and snnTorch read IF)
    CubaLIF: i <- (1 - dt/tau_syn) i + (dt/tau_syn) w_in x;  v <- (1 - dt/tau_mem) v + (dt/tau_mem) (R i + v_leak)

Inputs are redrawn until every membrane stays at least MARGIN away from its threshold, so float32 rounding cannot
flip a spike. `conv_if_gzip.nir` is conv_if.nir with every array dataset chunked and gzip-compressed, as the
reference writer stores them since NIR's main branch after v1.0.7 (nir.write(..., compression="gzip")).
`legacy_if_0_2.nir` is written with h5py directly in the layout of NIR 0.2 files (as Sinabs wrote them:
no v_reset, no compression), which the reference reader still accepts.
"""
import json

import h5py
import nir
import numpy as np

MARGIN = 1e-3


def lif(v, x, dt, tau, r, v_leak, thr, v_reset):
    v = (1 - dt / tau) * v + (dt / tau) * (r * x + v_leak)
    s = (v >= thr).astype(np.float64)
    return np.where(s > 0, v_reset, v), s, np.min(np.abs(v - thr))


def conv2d(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w) + b
    return y


def sum_pool(x, k):
    n, c, h, w = x.shape
    return x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).sum(axis=(3, 5))


def save(name, graph, dt, x, y):
    nir.write(f"{name}.nir", graph)
    nir.read(f"{name}.nir")  # the reference reader type-checks every edge
    with open(f"{name}.expected.json", "w") as f:
        json.dump({"dt": dt, "input_shape": list(x.shape), "input": x.ravel().tolist(),
                   "output_shape": list(y.shape), "output": y.ravel().tolist()}, f)


def affine_lif(rng):
    """Affine + LIF in snnTorch's convention (dt = 1e-4, tau = dt/(1 - beta), r = tau/dt), per-neuron parameters."""
    dt = 1e-4
    w = rng.normal(0.6, 0.6, (4, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 4).astype(np.float32)
    beta = np.array([0.9, 0.8, 0.95, 0.7], dtype=np.float32)
    tau = (dt / (1 - beta)).astype(np.float32)
    r = (tau / dt).astype(np.float32)
    thr = np.array([1.0, 0.8, 1.2, 0.6], dtype=np.float32)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])), "0": nir.Affine(weight=w, bias=b),
               "1": nir.LIF(tau=tau, r=r, v_leak=np.zeros(4, np.float32), v_threshold=thr,
                            v_reset=np.zeros(4, np.float32)),
               "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "0"), ("0", "1"), ("1", "output")])
    for _ in range(1000):
        x = rng.uniform(0, 1.5, (12, 2, 3))
        v, out, margin = np.zeros((2, 4)), [], np.inf
        for t in range(12):
            v, s, m = lif(v, x[t] @ w.T.astype(np.float64) + b, dt, tau.astype(np.float64), r, 0.0, thr, 0.0)
            out.append(s)
            margin = min(margin, m)
        if margin > MARGIN and 0 < np.sum(out) < np.size(out):
            return graph, dt, x, np.array(out)
    raise RuntimeError('no input kept every membrane MARGIN away from its threshold')


def lif_leak_li(rng):
    """Linear + LIF with R != tau/dt and v_leak != 0 (Norse-like, dt = 1e-3) + Linear + LI: needs Scale layers."""
    dt = 1e-3
    w1 = rng.normal(0, 1.0, (3, 2)).astype(np.float32)
    w2 = rng.normal(0, 1.0, (2, 3)).astype(np.float32)
    lif_p = dict(tau=np.full(3, 5e-3, np.float32), r=np.array([2.0, 1.5, 3.0], np.float32),
                 v_leak=np.array([0.3, 0.0, -0.2], np.float32), v_threshold=np.full(3, 0.5, np.float32),
                 v_reset=np.zeros(3, np.float32))
    li_p = dict(tau=np.array([4e-3, 8e-3], np.float32), r=np.array([1.0, 2.0], np.float32),
                v_leak=np.zeros(2, np.float32))
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([2])), "fc1": nir.Linear(weight=w1), "lif": nir.LIF(**lif_p),
               "fc2": nir.Linear(weight=w2), "li": nir.LI(**li_p), "out": nir.Output(output_type=np.array([2]))},
        edges=[("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "li"), ("li", "out")])
    f = {k: v.astype(np.float64) for k, v in lif_p.items()}
    g = {k: v.astype(np.float64) for k, v in li_p.items()}
    for _ in range(1000):
        x = rng.uniform(-1, 2, (15, 3, 2))
        v, u, out, margin = np.zeros((3, 3)), np.zeros((3, 2)), [], np.inf
        for t in range(15):
            v, s, m = lif(v, x[t] @ w1.T.astype(np.float64), dt, f["tau"], f["r"], f["v_leak"], f["v_threshold"], 0.0)
            margin = min(margin, m)
            u = (1 - dt / g["tau"]) * u + (dt / g["tau"]) * (g["r"] * (s @ w2.T.astype(np.float64)) + g["v_leak"])
            out.append(u.copy())
        if margin > MARGIN:
            return graph, dt, x, np.array(out)
    raise RuntimeError('no input kept every membrane MARGIN away from its threshold')


def conv_if(rng):
    """Conv2d + IF + SumPool2d + Flatten + Affine + IF, the node types of Sinabs' CNN (r = 1, per-neuron arrays)."""
    w = rng.normal(0, 0.6, (3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 3).astype(np.float32)
    w2 = rng.normal(0, 0.5, (5, 27)).astype(np.float32)
    b2 = np.zeros(5, np.float32)
    shape1 = (3, 6, 6)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2, 6, 6])),
               "0": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=1, dilation=1, groups=1, bias=b),
               "1": nir.IF(r=np.ones(shape1, np.float32), v_threshold=np.full(shape1, 1.0, np.float32),
                           v_reset=np.zeros(shape1, np.float32)),
               "2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
               "3": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
               "4": nir.Affine(weight=w2, bias=b2),
               "5": nir.IF(r=np.ones(5, np.float32), v_threshold=np.full(5, 1.5, np.float32),
                           v_reset=np.zeros(5, np.float32)),
               "output": nir.Output(output_type=np.array([5]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "output")])
    for _ in range(1000):
        x = (rng.uniform(0, 1, (8, 2, 2, 6, 6)) < 0.4).astype(np.float64)
        v1, v2, out, margin = np.zeros((2,) + shape1), np.zeros((2, 5)), [], np.inf
        for t in range(8):
            h1 = v1 + conv2d(x[t], w.astype(np.float64), b.astype(np.float64), 1, 1)
            margin = min(margin, np.min(np.abs(h1 - 1.0)))
            s1 = (h1 >= 1.0).astype(np.float64)
            v1 = np.where(s1 > 0, 0.0, h1)
            z = sum_pool(s1, 2).reshape(2, 27) @ w2.T.astype(np.float64)
            h2 = v2 + z
            margin = min(margin, np.min(np.abs(h2 - 1.5)))
            s2 = (h2 >= 1.5).astype(np.float64)
            v2 = np.where(s2 > 0, 0.0, h2)
            out.append(s2)
        if margin > MARGIN and 0 < np.sum(out) < np.size(out):
            return graph, 1.0, x, np.array(out)
    raise RuntimeError('no input kept every membrane MARGIN away from its threshold')


def cuba_lif(rng):
    """Affine + CubaLIF in snnTorch's convention (r = tau_mem/dt, w_in = tau_syn/dt)."""
    dt = 1e-4
    w = rng.normal(0, 0.7, (3, 2)).astype(np.float32)
    b = np.zeros(3, np.float32)
    alpha, beta = np.float32(0.6), np.float32(0.85)
    tau_syn = np.full(3, dt / (1 - alpha), np.float32)
    tau_mem = np.full(3, dt / (1 - beta), np.float32)
    p = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=(tau_mem / dt).astype(np.float32), v_leak=np.zeros(3, np.float32),
             v_threshold=np.full(3, 1.0, np.float32), v_reset=np.zeros(3, np.float32),
             w_in=(tau_syn / dt).astype(np.float32))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])), "0": nir.Affine(weight=w, bias=b),
               "1": nir.CubaLIF(**p), "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "0"), ("0", "1"), ("1", "output")])
    q = {k: v.astype(np.float64) for k, v in p.items()}
    for _ in range(1000):
        x = rng.uniform(0, 1, (10, 2, 2))
        i, v, out, margin = np.zeros((2, 3)), np.zeros((2, 3)), [], np.inf
        for t in range(10):
            i = (1 - dt / q["tau_syn"]) * i + (dt / q["tau_syn"]) * q["w_in"] * (x[t] @ w.T.astype(np.float64))
            v = (1 - dt / q["tau_mem"]) * v + (dt / q["tau_mem"]) * (q["r"] * i + q["v_leak"])
            margin = min(margin, np.min(np.abs(v - 1.0)))
            s = (v >= 1.0).astype(np.float64)
            v = np.where(s > 0, 0.0, v)
            out.append(s)
        if margin > MARGIN and 0 < np.sum(out) < np.size(out):
            return graph, dt, x, np.array(out)
    raise RuntimeError('no input kept every membrane MARGIN away from its threshold')


def gzip_copy(name):
    def copy(src, dst):
        for k, v in src.items():
            if isinstance(v, h5py.Group):
                copy(v, dst.create_group(k))
            elif v.dtype.kind == "O" or v.shape == ():
                dst.create_dataset(k, data=v[()], dtype=v.dtype)
            else:
                dst.create_dataset(k, data=v[()], dtype=v.dtype, compression="gzip")

    with h5py.File(f"{name}.nir", "r") as src, h5py.File(f"{name}_gzip.nir", "w") as dst:
        copy(src, dst)
    nir.read(f"{name}_gzip.nir")


def legacy_if():
    """An Affine + IF graph in the NIR 0.2 layout (no v_reset, contiguous datasets), written with h5py directly."""
    s = h5py.string_dtype()
    with h5py.File("legacy_if_0_2.nir", "w") as f:
        f.create_dataset("version", data="0.2.0", dtype=s)
        g = f.create_group("node")
        g.create_dataset("type", data="NIRGraph", dtype=s)
        g.create_dataset("edges", data=[("input", "0"), ("0", "1"), ("1", "output")])
        n = g.create_group("nodes")
        for name, typ, fields in [
            ("input", "Input", {"shape": np.array([2])}),
            ("0", "Affine", {"weight": np.array([[1.0, 0.5], [-0.5, 1.0]], np.float32),
                             "bias": np.array([0.1, 0.0], np.float32)}),
            ("1", "IF", {"r": np.ones(2, np.float32), "v_threshold": np.full(2, 1.0, np.float32)}),
            ("output", "Output", {"shape": np.array([2])}),
        ]:
            node = n.create_group(name)
            node.create_dataset("type", data=typ, dtype=s)
            for k, v in fields.items():
                node.create_dataset(k, data=v)
    nir.read("legacy_if_0_2.nir")


if __name__ == "__main__":
    rng = np.random.default_rng(20240611)
    for make, name in [(affine_lif, "affine_lif"), (lif_leak_li, "lif_leak_li"), (conv_if, "conv_if"),
                       (cuba_lif, "cuba_lif")]:
        save(name, *make(rng))
    gzip_copy("conv_if")
    legacy_if()
    print("wrote fixtures with nir", nir.version, "and h5py", h5py.version.version)
