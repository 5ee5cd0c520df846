"""Helpers shared by the tests of committed framework files (Tests/fixtures/torch, …/onnx):
convert one, expect a refusal, compare in float64."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import reference as ref
import vgg
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


def assert_matches_framework(model_path, expected, key, tolerance):
    """Logits at 224 and pool5 at 250×230 (floor pooling) within `tolerance` relative L2 of the
    framework's own outputs in `expected` (an expected.npz written by the fixture script)."""
    with vgg.Model(model_path) as m:
        scores = m.forward(expected["input_224"])
        assert scores.shape[2:] == (1, 1)
        pool5 = m.features(expected["input_250x230"], "pool5")["pool5"]
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected[key + "_logits_224"])) <= tolerance
    assert pool5.shape == expected[key + "_pool5_250x230"].shape == (1, 16, 7, 7)
    assert ref.relative_l2(f64(pool5), f64(expected[key + "_pool5_250x230"])) <= tolerance
