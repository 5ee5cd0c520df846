"""Shared fixtures: caffemodels written by tools/caffe_fixtures.py, converted by vgg-convert."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import caffe_fixtures  # noqa: E402

BUILD = ROOT / ".build" / "release"
VGG_CONVERT = os.environ.get("VGG_CONVERT", str(BUILD / "vgg-convert"))
VGG_CLI = os.environ.get("VGG_CLI", str(BUILD / "vgg-cli"))


def run_convert(*args, check=True):
    r = subprocess.run([VGG_CONVERT, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"vgg-convert {args} failed ({r.returncode}): {r.stderr}")
    return r


class ModelFactory:
    """Writes and converts fixture models once per test session."""

    def __init__(self, root: Path):
        self.root = root
        self.cache = {}

    def caffemodel(self, arch="tiny", seed=0, layout="v1", dims="legacy", encoding="packed", weights_only=False):
        key = ("caffe", arch, seed, layout, dims, encoding, weights_only)
        if key not in self.cache:
            path = self.root / f"{arch}-{seed}-{layout}-{dims}-{encoding}{'-w' if weights_only else ''}.caffemodel"
            weights = caffe_fixtures.write_caffemodel(str(path), arch, seed, layout, dims, encoding, weights_only)
            self.cache[key] = (path, weights)
        return self.cache[key]

    def model(self, arch="tiny", seed=0, dtype="f32", **kw):
        key = ("vgg", arch, seed, dtype, tuple(sorted(kw.items())))
        if key not in self.cache:
            src, weights = self.caffemodel(arch, seed, **kw)
            out = src.with_suffix(f".{dtype}.vgg")
            run_convert(src, "-o", out, "--dtype", dtype, "--input-size", caffe_fixtures.ARCHS[arch][2])
            self.cache[key] = (out, weights)
        return self.cache[key]


    def discard(self, arch, **kw):
        """Deletes the large files of `arch` (the full-size models take 0.5 GB each)."""
        for key in [k for k in self.cache if k[1] == arch]:
            path, _ = self.cache.pop(key)
            path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def factory(tmp_path_factory):
    return ModelFactory(tmp_path_factory.mktemp("models"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
