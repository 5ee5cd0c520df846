#!/usr/bin/env python3
"""The main job of `make demo`: a full-size VGG16 in the Oxford caffemodel layout (seeded
random weights: the real ones cannot be downloaded here) converted with vgg-convert, then a
generated image classified with the paper's dense evaluation (two scales + flip) through the
Python binding, with times.

Random weights give arbitrary classes: the point is the pipeline and its speed. With the real
file, run the same commands on VGG_ILSVRC_16_layers.caffemodel (see README).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "python"))

import caffe_fixtures  # noqa: E402


def sample_image(h=360, w=480) -> np.ndarray:
    """A deterministic RGB test card: colour gradients, a disc and stripes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 255 * x / w
    g = 255 * y / h
    b = 128 + 127 * np.sin(x / 23.0) * np.cos(y / 17.0)
    disc = (x - w * 0.6) ** 2 + (y - h * 0.45) ** 2 < (min(h, w) * 0.25) ** 2
    img = np.stack([r, g, b], axis=-1)
    img[disc] = [230, 40, 30]
    img[(x.astype(int) // 12) % 2 == 0] *= 0.85
    return np.clip(img, 0, 255).astype(np.uint8)


def main() -> int:
    out = ROOT / "build" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    caffemodel = out / "VGG_ILSVRC_16_layers.caffemodel"
    model = out / "vgg16.vgg"
    bin_dir = ROOT / ".build" / "release"

    if not caffemodel.exists() or caffemodel.stat().st_size != 553432081:
        print(f"generating {caffemodel.name} (Oxford V1 layout, seeded random weights) ...", flush=True)
        t = time.perf_counter()
        caffe_fixtures.write_caffemodel(str(caffemodel), "vgg16", seed=2014)
        print(f"  {caffemodel.stat().st_size:,} bytes in {time.perf_counter() - t:.1f} s")

    print(f"\n$ vgg-convert {caffemodel.name} -o {model.name}", flush=True)
    t = time.perf_counter()
    subprocess.run([str(bin_dir / "vgg-convert"), str(caffemodel), "-o", str(model)], check=True)
    print(f"  converted in {time.perf_counter() - t:.2f} s")

    print(f"\n$ vgg info {model.name}", flush=True)
    subprocess.run([str(bin_dir / "vgg-cli"), "info", str(model)], check=True)

    import vgg
    image = sample_image()
    np.save(out / "sample_image.npy", image)
    threads = os.cpu_count() or 1
    t = time.perf_counter()
    m = vgg.Model(model, threads=threads)
    opened = time.perf_counter() - t
    print(f"\nopened {model.name} in {opened * 1000:.1f} ms; kernels {m.kernel_path}, {threads} threads")

    x = np.zeros((1, 3, 224, 224), np.float32)
    m.forward(x)  # warm-up: pages in the weights, sizes the workspace
    times = []
    for _ in range(3):
        t = time.perf_counter()
        m.forward(x)
        times.append(time.perf_counter() - t)
    print(f"forward 224×224: {min(times) * 1000:.0f} ms (best of 3)")

    scales = [256, 384]
    t = time.perf_counter()
    top = m.classify(image, top=5, scales=scales, flip=True)
    dense = time.perf_counter() - t
    print(f"\ndense evaluation of a {image.shape[1]}×{image.shape[0]} image at scales {scales} + flip "
          f"({2 * len(scales)} fully convolutional runs): {dense * 1000:.0f} ms")
    print("top-5 (random weights: the classes are arbitrary):")
    for rank, (c, p, label) in enumerate(top, 1):
        print(f"  {rank}. class {c:4d}  p = {p:.4f}" + (f"  {label}" if label else ""))
    m.close()
    print(f"\noutputs in {out}/: {caffemodel.name}, {model.name}, sample_image.npy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
