#!/usr/bin/env python3
"""The main job of `make demo`, with the defaults built in:

1. a full-size VGG16 caffemodel in the Oxford V1 layout with seeded random weights (the real
   ones cannot be downloaded on the build machine; the README says where to get them);
2. `vgg-convert` to a .vgg file (progress bar on a terminal), then `vgg info`;
3. a sample image the project owns (a generated test card, written as PNG);
4. `vgg classify` with dense evaluation at two scales plus the horizontal flip;
5. `vgg heatmap` of the top class, and a short `vgg bench`.

Random weights give arbitrary classes: the point is the pipeline and its speed.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import caffe_fixtures  # noqa: E402

BIN = ROOT / ".build" / "release"


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


def write_png(path: Path, rgb: np.ndarray) -> None:
    """A minimal PNG writer (8-bit RGB, no filtering), so the demo needs no imaging package."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def run(title: str, args) -> None:
    shown = [Path(a).name if i == 0 else str(a) for i, a in enumerate(args)]
    print(f"\n$ {' '.join(shown).replace('vgg-cli', 'vgg')}    # {title}", flush=True)
    t = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True)
    print(f"  ({time.perf_counter() - t:.2f} s)", flush=True)


def main() -> int:
    out = ROOT / "build" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    caffemodel = out / "VGG_ILSVRC_16_layers.caffemodel"
    model = out / "vgg16.vgg"
    image = out / "test-card.png"
    heatmap = out / "test-card-heatmap.png"

    if not caffemodel.exists() or caffemodel.stat().st_size != 553432081:
        print(f"generating {caffemodel.name}: Oxford V1 layout, seeded random weights ...", flush=True)
        t = time.perf_counter()
        caffe_fixtures.write_caffemodel(str(caffemodel), "vgg16", seed=2014)
        print(f"  {caffemodel.stat().st_size:,} bytes, the size of the real file ({time.perf_counter() - t:.1f} s)")
    write_png(image, sample_image())

    vgg = BIN / "vgg-cli"
    run("convert the caffemodel", [BIN / "vgg-convert", caffemodel, "-o", model])
    run("what the file holds", [vgg, "info", model])
    run("dense evaluation: two scales + flip", [vgg, "classify", "-m", model, image, "--scales", "256,384", "--flip"])
    run("where the top class is seen", [vgg, "heatmap", "-m", model, image, "-o", heatmap])
    run("speed on this machine", [vgg, "bench", "-m", model, "--runs", "5"])
    print(f"\nEverything is in {out}/: {caffemodel.name}, {model.name}, {image.name}, {heatmap.name}")
    print("Random weights give arbitrary classes. With the real model: vgg-convert VGG_ILSVRC_16_layers.caffemodel "
          "--labels synset_words.txt (see README).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
