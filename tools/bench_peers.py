#!/usr/bin/env python3
"""libvgg side by side with ncnn, ONNX Runtime, OpenVINO and OpenCV dnn on one random VGG16.

The same seeded weights go to every engine (ONNX for ONNX Runtime, OpenVINO and OpenCV;
ncnn's own .param/.bin; a caffemodel converted by vgg-convert for libvgg). Every engine's
class score map is first checked against libvgg's, then all are timed interleaved (round
robin, so machine noise hits all alike) at 224 and 384, 1 and 2 threads, f32 and reduced
precision. Prints one table with each median and its ratio to libvgg's, then libvgg's own
2-thread and batch-8 speed-ups, each pair timed in the same rounds.

Run: python3 tools/bench_peers.py [--rounds N] [--sizes 224,384] [--threads 1,2] [--no-scaling]
With several sizes (e.g. --sizes 224,384,512,768) it also prints each engine's cost per input
megapixel at each size and against its cost at the smallest.
The peers are installed into build/peers-venv by the script itself (pip).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "peers-venv"
PACKAGES = ["numpy", "onnx", "onnxruntime", "openvino", "opencv-python-headless", "ncnn"]


def ensure_venv():
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    os.execv(str(py), [str(py), *sys.argv])


ensure_venv()

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("VGG_LIBRARY", str(ROOT / ".build" / "release" / "libvgg.so"))
import caffe_fixtures as cf  # noqa: E402


def vgg16_layers(weights):
    """(kind, name, params) in order, fc layers as convolutions (fully convolutional)."""
    out = []
    for spec in cf.ARCHS["vgg16"][1]:
        kind, name = spec[0], spec[1]
        if kind == "conv":
            out.append(("conv", name, weights[name][0], weights[name][1], 1, True))
        elif kind == "pool":
            out.append(("pool", name))
        elif kind == "fc":
            w, b = weights[name]
            k = 7 if name == "fc6" else 1
            c = w.shape[1] // (k * k)
            out.append(("conv", name, w.reshape(w.shape[0], c, k, k), b, 0, name != "fc8"))
    return out


def build_onnx(layers, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    x = "data"
    for layer in layers:
        if layer[0] == "conv":
            _, name, w, b, pad, relu = layer
            inits += [numpy_helper.from_array(w.astype(np.float32), name + "_w"),
                      numpy_helper.from_array(b.astype(np.float32), name + "_b")]
            nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], name=name,
                                          kernel_shape=list(w.shape[2:]), pads=[pad] * 4))
            x = name
            if relu:
                nodes.append(helper.make_node("Relu", [x], [name + "_relu"]))
                x = name + "_relu"
        else:
            nodes.append(helper.make_node("MaxPool", [x], [layer[1]], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
            x = layer[1]
    graph = helper.make_graph(nodes, "vgg16", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 1000, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    return x


def build_ncnn(layers, param_path, bin_path):
    """ncnn's text .param and raw .bin (each weight blob preceded by a zero flag word)."""
    lines, blobs = [], []
    top = "data"
    lines.append(f"Input data 0 1 data 0=224 1=224 2=3")
    for layer in layers:
        if layer[0] == "conv":
            _, name, w, b, pad, relu = layer
            lines.append(f"Convolution {name} 1 1 {top} {name} 0={w.shape[0]} 1={w.shape[3]} 11={w.shape[2]} "
                         f"4={pad} 5=1 6={w.size}" + (" 9=1" if relu else ""))
            blobs += [np.zeros(1, np.uint32).tobytes(), w.astype(np.float32).tobytes(), b.astype(np.float32).tobytes()]
        else:
            name = layer[1]
            lines.append(f"Pooling {name} 1 1 {top} {name} 0=0 1=2 2=2")
        top = name
    Path(param_path).write_text(f"7767517\n{len(lines)} {len(lines)}\n" + "\n".join(lines) + "\n")
    Path(bin_path).write_bytes(b"".join(blobs))
    return top


class Engine:
    def __init__(self, name, precision, run):
        self.name, self.precision, self.run = name, precision, run


def engines(tmp, threads, out_name):
    import cv2
    import ncnn
    import onnxruntime as ort
    import openvino as ov
    import vgg
    made = []
    m = vgg.Model(f"{tmp}/vgg16.vgg", threads=threads)
    made.append(Engine("libvgg", "f32", lambda x: m.forward(x)))
    mb = vgg.Model(f"{tmp}/vgg16-bf16.vgg", threads=threads)
    made.append(Engine("libvgg", "bf16 weights", lambda x: mb.forward(x)))
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(f"{tmp}/vgg16.onnx", so, providers=["CPUExecutionProvider"])
    made.append(Engine("ONNX Runtime", "f32", lambda x: s.run(None, {"data": x})[0]))
    core = ov.Core()
    for hint in ("f32", "bf16"):
        cm = core.compile_model(f"{tmp}/vgg16.onnx", "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                           "INFERENCE_PRECISION_HINT": hint,
                                                           "PERFORMANCE_HINT": "LATENCY"})
        req = cm.create_infer_request()
        made.append(Engine("OpenVINO", hint, lambda x, req=req: req.infer({0: x})[0]))
    net = cv2.dnn.readNetFromONNX(f"{tmp}/vgg16.onnx")

    def opencv(x):
        cv2.setNumThreads(threads)
        net.setInput(x)
        return net.forward()
    made.append(Engine("OpenCV dnn", "f32", opencv))
    for fp16 in (False, True):
        n = ncnn.Net()
        n.opt.num_threads = threads
        n.opt.use_winograd_convolution = True
        n.opt.use_fp16_storage = fp16
        n.opt.use_fp16_packed = fp16
        n.opt.use_fp16_arithmetic = False
        n.opt.use_bf16_storage = False
        n.load_param(f"{tmp}/vgg16.param")
        n.load_model(f"{tmp}/vgg16.bin")

        def run_ncnn(x, n=n):
            ex = n.create_extractor()
            ex.input("data", ncnn.Mat(x[0]))
            _, out = ex.extract(out_name)
            return np.array(out)[None]
        made.append(Engine("ncnn", "fp16 storage" if fp16 else "f32", run_ncnn))
    return made


def timed(run, x):
    """One untimed run (wakes the engine's threads), then one timed: seconds."""
    run(x)
    t = time.perf_counter()
    run(x)
    return time.perf_counter() - t


def scaling(tmp, rounds):
    """libvgg's own ratios for issue targets 5a and 5b, each side measured in the same rounds:
    384×384 on 2 threads against 1, and batch 8 against batch 1 at 224×224 (2 threads, per image)."""
    import vgg
    one, two = vgg.Model(f"{tmp}/vgg16.vgg", threads=1), vgg.Model(f"{tmp}/vgg16.vgg", threads=2)
    x384 = (np.random.default_rng(384).standard_normal((1, 3, 384, 384)) * 50).astype(np.float32)
    x224 = (np.random.default_rng(224).standard_normal((8, 3, 224, 224)) * 50).astype(np.float32)
    t1, t2, b1, b8 = [], [], [], []
    for _ in range(rounds):
        t1.append(timed(one.forward, x384))
        t2.append(timed(two.forward, x384))
        b1.append(timed(two.forward, x224[:1]))
        b8.append(timed(two.forward, x224) / 8)
    med = lambda v: float(np.median(v)) * 1000  # noqa: E731
    rows = [("384×384, 1 → 2 threads", med(t1), med(t2)), ("224×224, 2 threads, batch 1 → 8 (per image)", med(b1), med(b8))]
    print("\n| libvgg f32 | before ms | after ms | speed-up |")
    print("|---|---:|---:|---:|")
    for name, before, after in rows:
        print(f"| {name} | {before:.1f} | {after:.1f} | {before / after:.2f} |")


def rel_l2(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def print_per_pixel(rows):
    """Cost per input megapixel at each size, against the same engine's at the smallest size:
    does a larger input cost more per pixel (issue: 384 and 512 no worse than 224)?"""
    sizes = sorted({r[0] for r in rows})
    if len(sizes) < 2:
        return
    print("\n| threads | engine | precision | " + " | ".join(f"ms/MP {s}" for s in sizes) + " | " +
          " | ".join(f"{s} vs {sizes[0]}" for s in sizes[1:]) + " |")
    print("|---:|---|---|" + "---:|" * (2 * len(sizes) - 1))
    keys = sorted({(r[1], r[2], r[3]) for r in rows}, key=lambda k: (-k[0], k[1], k[2]))
    for key in keys:
        per = {r[0]: r[4] / (r[0] * r[0] / 1e6) for r in rows if (r[1], r[2], r[3]) == key}
        if sizes[0] not in per:
            continue
        cells = [f"{per[s]:.0f}" if s in per else "" for s in sizes]
        ratios = [f"{per[s] / per[sizes[0]]:.2f}" if s in per else "" for s in sizes[1:]]
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="224,384")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--no-scaling", action="store_true", help="skip libvgg's 1→2 thread and batch 1→8 ratios")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = cf.write_caffemodel(f"{tmp}/vgg16.caffemodel", "vgg16", seed=1)
        convert = ROOT / ".build" / "release" / "vgg-convert"
        subprocess.run([str(convert), f"{tmp}/vgg16.caffemodel", "-o", f"{tmp}/vgg16.vgg", "-q"], check=True)
        subprocess.run([str(convert), f"{tmp}/vgg16.caffemodel", "-o", f"{tmp}/vgg16-bf16.vgg", "--dtype", "bf16", "-q"], check=True)
        os.remove(f"{tmp}/vgg16.caffemodel")
        layers = vgg16_layers(weights)
        build_onnx(layers, f"{tmp}/vgg16.onnx")
        out_name = build_ncnn(layers, f"{tmp}/vgg16.param", f"{tmp}/vgg16.bin")
        del weights, layers
        rows = []
        for threads in [int(t) for t in a.threads.split(",")]:
            es = engines(tmp, threads, out_name)
            for size in [int(s) for s in a.sizes.split(",")]:
                x = (np.random.default_rng(size).standard_normal((1, 3, size, size)) * 50).astype(np.float32)
                want = es[0].run(x)
                for e in es:  # agreement first
                    got = e.run(x)
                    err = rel_l2(got, want)
                    top5 = set(np.argsort(-got.reshape(got.shape[1], -1).mean(1))[:5]) == \
                        set(np.argsort(-want.reshape(want.shape[1], -1).mean(1))[:5])
                    e.check = (err, top5)
                times = {id(e): [] for e in es}
                for _ in range(a.rounds):
                    for e in es:
                        # Let the previous engine's worker threads go idle (OpenMP and TBB pools spin
                        # for a while after a run and would steal the cores), then one untimed run
                        # wakes this engine's own threads: the timed run is warm, back to back.
                        time.sleep(0.3)
                        times[id(e)].append(timed(e.run, x))
                base = float(np.median(times[id(es[0])]))
                for e in es:
                    med = float(np.median(times[id(e)]))
                    rows.append((size, threads, e.name, e.precision, med * 1000, med / base, e.check[0], e.check[1]))
                    print(f"{size}x{size} {threads}T {e.name:13s} {e.precision:13s} {med * 1000:8.1f} ms  "
                          f"x{med / base:5.2f} of libvgg f32   rel.L2 {e.check[0]:.1e} top5 {'=' if e.check[1] else '≠'}",
                          flush=True)
            del es
        print("\n| input | threads | engine | precision | median ms | ms per MP | vs libvgg f32 | rel. L2 vs libvgg | top-5 |")
        print("|---|---:|---|---|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r[0]}×{r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[4] / (r[0] * r[0] / 1e6):.0f} | {r[5]:.2f} "
                  f"| {r[6]:.1e} | {'same' if r[7] else 'differs'} |")
        print_per_pixel(rows)
        if not a.no_scaling:
            scaling(tmp, a.rounds)


if __name__ == "__main__":
    main()
