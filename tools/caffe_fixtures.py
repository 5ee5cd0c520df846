#!/usr/bin/env python3
"""Writes seeded random VGG-family caffemodels through the protobuf wire format.

The files reproduce the structure of the real Oxford files (docs/SOURCE_FORMATS.md ("Caffe .caffemodel")): V1
`layers` (NetParameter field 2, enum types, blobs field 6) or V2 `layer` (field 100, string
types, blobs field 7); blob dims as legacy num/channels/height/width or as BlobShape; data
packed, unpacked (fixed32 records), packed in several chunks, or as double_data; `input:
"data"` without dims. With --npz the source arrays (Caffe layout: conv OIHW, fc (N, K),
biases (N,)) are saved for comparison.

The full VGG16 in the Oxford layout (V1, legacy dims, packed, all 38 layers with their
params) is exactly 553,432,081 bytes, the size of the real VGG_ILSVRC_16_layers.caffemodel.
"""
from __future__ import annotations

import argparse
import struct
import sys

import numpy as np

# Layer specs: ("conv", name, out, kernel, stride, pad) | ("relu", name) | ("pool", name, kernel, stride, "MAX"|"AVE")
# | ("lrn", name, size, alpha, beta, k) | ("fc", name, out) | ("drop", name) | ("softmax", name)


def vgg_config(blocks, classes=1000, fc=4096):
    layers = []
    for b, convs in enumerate(blocks, start=1):
        for i, out in enumerate(convs, start=1):
            layers += [("conv", f"conv{b}_{i}", out, 3, 1, 1), ("relu", f"relu{b}_{i}")]
        layers.append(("pool", f"pool{b}", 2, 2, "MAX"))
    layers += [("fc", "fc6", fc), ("relu", "relu6"), ("drop", "drop6"),
               ("fc", "fc7", fc), ("relu", "relu7"), ("drop", "drop7"),
               ("fc", "fc8", classes), ("softmax", "prob")]
    return layers


ARCHS = {
    "vgg11": ("VGG_ILSVRC_11_layers", vgg_config([[64], [128], [256] * 2, [512] * 2, [512] * 2]), 224),
    "vgg13": ("VGG_ILSVRC_13_layers", vgg_config([[64] * 2, [128] * 2, [256] * 2, [512] * 2, [512] * 2]), 224),
    "vgg16": ("VGG_ILSVRC_16_layers", vgg_config([[64] * 2, [128] * 2, [256] * 3, [512] * 3, [512] * 3]), 224),
    "vgg19": ("VGG_ILSVRC_19_layers", vgg_config([[64] * 2, [128] * 2, [256] * 4, [512] * 4, [512] * 4]), 224),
    "vgg_face": ("VGG_FACE_16_layers", vgg_config([[64] * 2, [128] * 2, [256] * 3, [512] * 3, [512] * 3], classes=2622), 224),
    # VGG_CNN_M (Chatfield et al. 2014): 7x7/2 conv, LRN, 3/2 pools; fc6 sees 6x6x512 at 224.
    "vgg_cnn_m": ("VGG_CNN_M", [
        ("conv", "conv1", 96, 7, 2, 0), ("relu", "relu1"), ("lrn", "norm1", 5, 0.0005, 0.75, 2.0),
        ("pool", "pool1", 3, 2, "MAX"),
        ("conv", "conv2", 256, 5, 2, 1), ("relu", "relu2"), ("lrn", "norm2", 5, 0.0005, 0.75, 2.0),
        ("pool", "pool2", 3, 2, "MAX"),
        ("conv", "conv3", 512, 3, 1, 1), ("relu", "relu3"),
        ("conv", "conv4", 512, 3, 1, 1), ("relu", "relu4"),
        ("conv", "conv5", 512, 3, 1, 1), ("relu", "relu5"), ("pool", "pool5", 3, 2, "MAX"),
        ("fc", "fc6", 4096), ("relu", "relu6"), ("drop", "drop6"),
        ("fc", "fc7", 4096), ("relu", "relu7"), ("drop", "drop7"),
        ("fc", "fc8", 1000), ("softmax", "prob")], 224),
    # Small VGG-shaped nets for unit tests (training input 32).
    "tiny": ("tiny_vgg", vgg_config([[8], [16, 16], [16]], classes=10, fc=32), 32),
    # The same with 32 input channels to conv2_2 and conv3_1 (AMX tile rows) and 512 fc6 taps.
    "tiny32": ("tiny_vgg_32", vgg_config([[8], [32, 32], [32]], classes=10, fc=32), 32),
    # The same with ImageNet's 1000 classes (for the bundled label list).
    "tiny1000": ("tiny_vgg_1000", vgg_config([[8], [16, 16], [16]], classes=1000, fc=32), 32),
    # The smallest VGG-shaped net, for fuzzing seeds (a few KB).
    "micro": ("micro_vgg", [("conv", "conv1_1", 4, 3, 1, 1), ("relu", "relu1_1"), ("pool", "pool1", 2, 2, "MAX"),
                            ("fc", "fc6", 6), ("relu", "relu6"), ("fc", "fc7", 3), ("softmax", "prob")], 8),
    "tiny_lrn": ("tiny_vgg_lrn", [
        ("conv", "conv1", 8, 5, 2, 1), ("relu", "relu1"), ("lrn", "norm1", 5, 0.0005, 0.75, 2.0),
        ("pool", "pool1", 3, 2, "MAX"),
        ("conv", "conv2", 16, 3, 1, 1), ("relu", "relu2"), ("pool", "pool2", 2, 2, "AVE"),
        ("fc", "fc6", 24), ("relu", "relu6"), ("drop", "drop6"),
        ("fc", "fc7", 7), ("softmax", "prob")], 35),
}

V1_TYPES = {"conv": 4, "relu": 18, "pool": 17, "fc": 14, "drop": 6, "softmax": 20, "lrn": 15}
V2_TYPES = {"conv": "Convolution", "relu": "ReLU", "pool": "Pooling", "fc": "InnerProduct",
            "drop": "Dropout", "softmax": "Softmax", "lrn": "LRN"}


# ---- protobuf wire format -------------------------------------------------------------

def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def f_varint(field: int, n: int) -> bytes:
    return key(field, 0) + varint(n)


def f_bytes(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def f_float(field: int, x: float) -> bytes:
    return key(field, 5) + struct.pack("<f", x)


def blob_bytes(arr: np.ndarray, legacy_dims, dims: str, encoding: str) -> bytes:
    out = b""
    if dims == "legacy":
        for field, d in zip((1, 2, 3, 4), legacy_dims):
            out += f_varint(field, d)
    data = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
    if encoding == "packed":
        out += f_bytes(5, data.astype("<f4").tobytes())
    elif encoding == "chunked":
        half = len(data) // 2
        out += f_bytes(5, data[:half].astype("<f4").tobytes()) + f_bytes(5, data[half:].astype("<f4").tobytes())
    elif encoding == "unpacked":
        rec = np.empty(len(data), dtype=np.dtype([("t", "u1"), ("v", "<f4")]))
        rec["t"] = 0x2D
        rec["v"] = data
        out += rec.tobytes()
    elif encoding == "double":
        out += f_bytes(8, data.astype("<f8").tobytes())
    else:
        raise ValueError(encoding)
    if dims == "shape":
        out += f_bytes(7, f_bytes(1, b"".join(varint(d) for d in arr.shape)))
    return out


def conv_param(out, k, s, p) -> bytes:
    b = f_varint(1, out)
    if p:
        b += f_varint(3, p)
    b += f_varint(4, k)
    if s != 1:
        b += f_varint(6, s)
    return b


def layer_bytes(spec, bottom, top, blobs, layout: str) -> bytes:
    kind, name = spec[0], spec[1]
    v1 = layout == "v1"
    out = b""
    if v1:
        out += f_bytes(2, bottom.encode()) + f_bytes(3, top.encode()) + f_bytes(4, name.encode())
        out += f_varint(5, V1_TYPES[kind])
        for b in blobs:
            out += f_bytes(6, b)
    else:
        out += f_bytes(1, name.encode()) + f_bytes(2, V2_TYPES[kind].encode())
        out += f_bytes(3, bottom.encode()) + f_bytes(4, top.encode())
        for b in blobs:
            out += f_bytes(7, b)
    if kind == "conv":
        out += f_bytes(10 if v1 else 106, conv_param(*spec[2:]))
    elif kind == "pool":
        k, s, method = spec[2], spec[3], spec[4]
        out += f_bytes(19 if v1 else 121, f_varint(1, 0 if method == "MAX" else 1) + f_varint(2, k) + f_varint(3, s))
    elif kind == "fc":
        out += f_bytes(17 if v1 else 117, f_varint(1, spec[2]))
    elif kind == "drop":
        out += f_bytes(12 if v1 else 108, f_float(1, 0.5))
    elif kind == "lrn":
        size, alpha, beta, k = spec[2:]
        out += f_bytes(18 if v1 else 118, f_varint(1, size) + f_float(2, alpha) + f_float(3, beta) + f_float(5, k))
    return out


def pooled(size, k, s):
    return -(-(size - k) // s) + 1  # Caffe's ceil rounding, pad 0


def make_weights(arch: str, seed: int):
    """Seeded He-scaled weights in Caffe layout, keyed by layer name."""
    _, specs, input_size = ARCHS[arch]
    rng = np.random.default_rng(seed)
    weights = {}
    channels, size = 3, input_size
    for spec in specs:
        kind = spec[0]
        if kind == "conv":
            out, k, s, p = spec[2:]
            fan_in = channels * k * k
            w = rng.standard_normal((out, channels, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
            b = rng.standard_normal(out, dtype=np.float32) * np.float32(0.01)
            weights[spec[1]] = (w, b)
            channels, size = out, (size + 2 * p - k) // s + 1
        elif kind == "pool":
            size = pooled(size, spec[2], spec[3])
        elif kind == "fc":
            fan_in = channels * size * size
            w = rng.standard_normal((spec[2], fan_in), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
            b = rng.standard_normal(spec[2], dtype=np.float32) * np.float32(0.01)
            weights[spec[1]] = (w, b)
            channels, size = spec[2], 1
    return weights


def write_caffemodel(path, arch="vgg16", seed=0, layout="v1", dims="legacy", encoding="packed",
                     weights_only=False, weights=None):
    name, specs, _ = ARCHS[arch]
    weights = weights if weights is not None else make_weights(arch, seed)
    with open(path, "wb") as f:
        f.write(f_bytes(1, name.encode()))
        f.write(f_bytes(3, b"data"))  # input: "data", no input_dim (stripped from weights files)
        bottom = "data"
        for spec in specs:
            kind, lname = spec[0], spec[1]
            if weights_only and kind not in ("conv", "fc"):
                continue
            blobs = []
            if kind in ("conv", "fc"):
                w, b = weights[lname]
                wdims = w.shape if kind == "conv" else (1, 1) + w.shape
                blobs = [blob_bytes(w, wdims, dims, encoding), blob_bytes(b, (1, 1, 1, len(b)), dims, encoding)]
            top = bottom if kind in ("relu", "drop") else lname  # ReLU and dropout run in place
            f.write(f_bytes(2 if layout == "v1" else 100, layer_bytes(spec, bottom, top, blobs, layout)))
            bottom = top
    return weights


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="vgg16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=["v1", "v2"], default="v1")
    ap.add_argument("--dims", choices=["legacy", "shape"], default="legacy")
    ap.add_argument("--encoding", choices=["packed", "unpacked", "chunked", "double"], default="packed")
    ap.add_argument("--weights-only", action="store_true", help="store only the conv and fc layers")
    ap.add_argument("--npz", help="also save the source arrays here")
    a = ap.parse_args(argv)
    weights = write_caffemodel(a.output, a.arch, a.seed, a.layout, a.dims, a.encoding, a.weights_only)
    if a.npz:
        arrays = {}
        for lname, (w, b) in weights.items():
            arrays[lname + ".weight"], arrays[lname + ".bias"] = w, b
        np.savez(a.npz, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
