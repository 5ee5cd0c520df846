#!/usr/bin/env python3
"""extract_features.py MODEL.vgg FOLDER OUT.npz [--layer pool5]: one L2-normalised descriptor per
JPEG/PNG image of FOLDER (the layer's map max-pooled over space), saved with the file names.

Needs numpy, Pillow and the vgg package (pip install the libvgg wheel, or ./python).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import vgg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("folder", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--layer", default="pool5")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        print(f"no .jpg/.jpeg/.png files in {args.folder}", file=sys.stderr)
        return 1
    names, descriptors = [], []
    with vgg.Model(args.model, threads=args.threads) as model:
        for path in paths:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"))
            x = model.preprocess(pixels)                       # (1, 3, h, w), the model's preprocessing
            fmap = model.features(x, [args.layer])[args.layer][0]  # (C, h, w)
            d = fmap.reshape(fmap.shape[0], -1).max(axis=1)
            descriptors.append(d / max(np.linalg.norm(d), 1e-12))
            names.append(path.name)
    np.savez(args.output, descriptors=np.stack(descriptors).astype(np.float32), names=np.array(names))
    print(f"{args.output}: {len(names)} images, {descriptors[0].shape[0]} values each ({args.layer})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
