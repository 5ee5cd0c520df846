"""Helpers shared by the tests of committed framework files (Tests/fixtures/torch, …/onnx):
convert one, expect a refusal, compare in float64."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import run_convert

VGG16_NAMES = ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "conv3_3", "pool3",
               "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5", "fc6", "fc7", "fc8"]


def converted_from(directory: Path):
    """converted(tmp_path, name, *options): `directory/name` converted to tmp_path/name.vgg."""
    def converted(tmp_path, name, *args):
        out = tmp_path / (name + ".vgg")
        run_convert(directory / name, "-o", out, *args)
        return out
    return converted


def refused(src, out):
    """vgg-convert refuses `src` with exit 1, one line on stderr and no output file; the line."""
    r = run_convert(src, "-o", out, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert not Path(out).exists()
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def f64(a):
    return np.asarray(a, dtype=np.float64)
