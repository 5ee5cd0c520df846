#!/usr/bin/env python3
"""Writes seeded random VGG weights as HDF5 files in every layout vgg-convert reads, with h5py,
replicating names, attributes, dtypes and nesting (docs/SOURCE_FORMATS.md (Keras HDF5, Caffe HDF5)):

  k1-tf      Keras 1 weights file like the released vgg16_weights_tf_dim_ordering_tf_kernels.h5:
             root attr layer_names only (fixed-length bytes), datasets `block1_conv1_W_1:0`
  k2-nested  tf.keras 2.x save_weights: `block1_conv1/kernel:0`, which h5py nests as groups;
             backend and keras_version attrs
  k3-legacy  Keras 3 legacy .h5 weights: `block1_conv1/kernel`, variable-length strings, empty
             weight_names stored as float64[0], a top_level_model_weights group
  full       a full-model file: model_weights group + model_config JSON + training attrs
  split      layer_names split into layer_names0, layer_names1 (as Keras does over 64 KB)
  th         Keras 1 Theano file: (out, in, kh, kw) kernels rotated 180°, fc1 rows (c, h, w)
  notop      the convolutional part only (`*_notop.h5`)
  keras3     Keras 3 .weights.h5: layers/conv2d_N/vars/i with the vars `name` attribute
  keras3-v30 Keras 3.0 .weights.h5: no name attribute, empty groups for weightless layers
  caffe-h5   Caffe HDF5 snapshot: /data/<layer>/<i> for every layer, N-D Caffe shapes

The weights are caffe_fixtures.make_weights (Caffe layout), converted to each layout, so every
file converts to the same .vgg tensors as the caffemodel of the same arch and seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import caffe_fixtures as cf  # noqa: E402

LAYOUTS = ["k1-tf", "k2-nested", "k3-legacy", "full", "split", "th", "notop", "keras3", "keras3-v30", "caffe-h5"]


def keras_name(caffe: str) -> str:
    return {"fc6": "fc1", "fc7": "fc2", "fc8": "predictions"}.get(caffe) or \
        (f"block{caffe[4:].split('_')[0]}_conv{caffe.split('_')[1]}" if caffe.startswith("conv") else
         f"block{caffe[4:]}_pool" if caffe.startswith("pool") else caffe)


def keras_layers(arch: str, notop=False):
    """[(keras name, kind, caffe name)] in model order, with Keras's weightless layers."""
    _, specs, _ = cf.ARCHS[arch]
    out = [("input_1", "input", None)]
    for spec in specs:
        kind, name = spec[0], spec[1]
        if kind == "conv":
            out.append((keras_name(name), "conv", name))
        elif kind == "pool":
            out.append((keras_name(name), "pool", name))
        elif kind == "fc":
            if notop:
                break
            if not any(k == "flatten" for _, k, _ in out):
                out.append(("flatten", "flatten", None))
            out.append((keras_name(name), "dense", name))
    return out


def keras_kernel(kind, w, layout, spatial):
    """Caffe-layout weight → the Keras kernel array."""
    if kind == "conv":
        if layout == "th":
            return w[:, :, ::-1, ::-1].copy()  # Theano kernels are rotated 180°
        return w.transpose(2, 3, 1, 0).copy()  # (O,I,kh,kw) → (kh,kw,I,O)
    n, k = w.shape
    if spatial and layout != "th":  # fc1 after flatten of an (h, w, c) tensor
        c = k // (spatial * spatial)
        return w.reshape(n, c, spatial, spatial).transpose(2, 3, 1, 0).reshape(k, n).copy()
    return w.T.copy()  # th files flatten (c, h, w) like Caffe


def fc1_spatial(arch):
    _, specs, size = cf.ARCHS[arch]
    for spec in specs:
        if spec[0] == "conv":
            _, _, _, k, s, p = spec
            size = (size + 2 * p - k) // s + 1
        elif spec[0] == "pool":
            size = size // spec[3]  # Keras floors
        elif spec[0] == "fc":
            return size


def model_config(arch, notop):
    layers = []
    for kname, kind, _ in keras_layers(arch, notop):
        if kind == "input":
            layers.append({"class_name": "InputLayer", "config": {"name": kname, "batch_input_shape": [None, None, None, 3]}})
        elif kind == "conv":
            layers.append({"class_name": "Conv2D", "config": {"name": kname, "padding": "same", "strides": [1, 1],
                                                              "activation": "relu", "kernel_size": [3, 3]}})
        elif kind == "pool":
            layers.append({"class_name": "MaxPooling2D", "config": {"name": kname, "pool_size": [2, 2], "strides": [2, 2],
                                                                    "padding": "valid"}})
        elif kind == "flatten":
            layers.append({"class_name": "Flatten", "config": {"name": kname}})
        else:
            last = kname == "predictions"
            layers.append({"class_name": "Dense", "config": {"name": kname, "activation": "softmax" if last else "relu"}})
    return json.dumps({"class_name": "Model", "config": {"name": "vgg16", "layers": layers}})


def write(path, arch="tiny", layout="k1-tf", seed=0, weights=None):
    weights = weights if weights is not None else cf.make_weights(arch, seed)
    notop = layout == "notop"
    layers = keras_layers(arch, notop)
    spatial = fc1_spatial(arch)
    with h5py.File(path, "w") as f:
        if layout == "caffe-h5":
            data = f.create_group("data")
            for spec in cf.ARCHS[arch][1]:
                g = data.create_group(spec[1])
                if spec[1] in weights:
                    w, b = weights[spec[1]]
                    g.create_dataset("0", data=w)
                    g.create_dataset("1", data=b)
            return weights
        if layout in ("keras3", "keras3-v30"):
            counters = {}
            lg = f.create_group("layers")
            for kname, kind, caffe in layers:
                cls = {"input": "input_layer", "conv": "conv2d", "pool": "max_pooling2d", "flatten": "flatten",
                       "dense": "dense"}[kind]
                n = counters.get(cls, 0)
                counters[cls] = n + 1
                gname = cls if n == 0 else f"{cls}_{n}"
                if layout == "keras3" or kind in ("conv", "dense") or layout == "keras3-v30":
                    g = lg.create_group(gname).create_group("vars")
                    if layout == "keras3":
                        g.attrs["name"] = kname
                    if caffe in weights:
                        w, b = weights[caffe]
                        g.create_dataset("0", data=keras_kernel(kind, w, "tf", spatial if kind == "dense" and caffe == "fc6" else None))
                        g.create_dataset("1", data=b)
            f.create_group("vars")
            return weights
        root = f
        if layout == "full":
            f.attrs["keras_version"] = "2.2.4"
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = model_config(arch, notop).encode()
            f.attrs["training_config"] = b'{"loss": "categorical_crossentropy"}'
            root = f.create_group("model_weights")
        names = [n for n, _, _ in layers]
        if layout == "k3-legacy":
            names.append("top_level_model_weights")
            root.attrs["backend"] = "jax"
            root.attrs["keras_version"] = "3.15.1"
            root.attrs.create("layer_names", names, dtype=h5py.string_dtype())
        elif layout == "split":
            half = len(names) // 2
            root.attrs["layer_names0"] = np.array([n.encode() for n in names[:half]])
            root.attrs["layer_names1"] = np.array([n.encode() for n in names[half:]])
        else:
            root.attrs["layer_names"] = np.array([n.encode() for n in names])
        if layout in ("k2-nested", "full"):
            root.attrs["backend"] = b"tensorflow"
            root.attrs["keras_version"] = b"2.2.4"
        if layout == "th":
            root.attrs["backend"] = b"theano"
        for kname, kind, caffe in layers + ([("top_level_model_weights", "none", None)] if layout == "k3-legacy" else []):
            g = root.create_group(kname)
            if caffe not in weights or kind not in ("conv", "dense"):
                if layout == "k3-legacy":
                    g.attrs["weight_names"] = np.array([], dtype=np.float64)
                else:
                    g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            w, b = weights[caffe]
            kernel = keras_kernel(kind, w, "th" if layout == "th" else "tf",
                                  spatial if kind == "dense" and caffe == "fc6" else None)
            if layout in ("k1-tf", "split"):
                wn = [f"{kname}_W_1:0", f"{kname}_b_1:0"]
            elif layout == "th":
                wn = [f"{kname}_W:0", f"{kname}_b:0"]
            elif layout in ("k2-nested", "full"):
                wn = [f"{kname}/kernel:0", f"{kname}/bias:0"]
            else:
                wn = [f"{kname}/kernel", f"{kname}/bias"]
            if layout == "k3-legacy":
                g.attrs.create("weight_names", wn, dtype=h5py.string_dtype())
            else:
                g.attrs["weight_names"] = np.array([n.encode() for n in wn])
            g.create_dataset(wn[0], data=kernel)
            g.create_dataset(wn[1], data=b)
    return weights


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output")
    ap.add_argument("--arch", choices=["tiny", "vgg11", "vgg13", "vgg16", "vgg19"], default="tiny")
    ap.add_argument("--layout", choices=LAYOUTS, default="k1-tf")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    write(a.output, a.arch, a.layout, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
