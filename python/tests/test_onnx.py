"""vgg-convert on ONNX files: VGGs exported by the real torch.onnx (the TorchScript and the dynamo
exporter, with and without BatchNorm, with external data) and files built with onnx.helper
(Tests/fixtures/onnx, made by tools/make_onnx_reference.py), compared with torch's outputs (and onnx's
reference evaluator's); and the files it must refuse. Needs neither torch nor onnx: damaged variants
are made here by editing bytes."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import reference as ref
import vgg
from vgg import format as vf
from conftest import ROOT, run_convert
from fixture_files import VGG16_NAMES, assert_matches_framework, converted_from, f64, refused

ONNX_DIR = ROOT / "Tests" / "fixtures" / "onnx"


@pytest.fixture(scope="module")
def expected():
    return np.load(ONNX_DIR / "expected.npz")


converted = converted_from(ONNX_DIR)


@pytest.mark.parametrize("name,key,tolerance", [
    ("vgg16_tiny.onnx", "vgg16", 1e-5),
    ("vgg16_tiny_dynamo.onnx", "vgg16", 1e-5),
    ("vgg16_tiny_external.onnx", "vgg16", 1e-5),
    ("vgg16_bn_tiny.onnx", "vgg16_bn", 3e-5),
])
def test_exports_match_torch_outputs(tmp_path, expected, name, key, tolerance):
    """Logits at 224 (the export size, where the 1×1 AveragePool is the identity) and pool5 at 250×230 (floor pooling)."""
    assert_matches_framework(converted(tmp_path, name), expected, key, tolerance)


def test_batchnorm_nodes_are_folded(tmp_path):
    r = run_convert(ONNX_DIR / "vgg16_bn_tiny.onnx", "-o", tmp_path / "bn.vgg")
    assert "folded 13 BatchNormalization nodes" in r.stderr + r.stdout
    assert [l.name for l in vf.read(str(tmp_path / "bn.vgg")).layers] == VGG16_NAMES


def test_names_aliases_and_torchvision_preprocessing(tmp_path, expected):
    out = converted(tmp_path, "vgg16_tiny.onnx")
    f = vf.read(str(out))
    assert [l.name for l in f.layers] == VGG16_NAMES
    aliases = {l.name: l.alias for l in f.layers}
    assert (aliases["conv1_1"], aliases["conv1_2"], aliases["pool1"], aliases["conv5_3"], aliases["pool5"]) == \
        ("features.0", "features.2", "features.4", "features.28", "features.30")
    # classifier.3.bias is Identity(classifier.0.bias) in the file: the alias still names the Gemm's weight.
    assert [aliases[n] for n in ("fc6", "fc7", "fc8")] == ["classifier.0", "classifier.3", "classifier.6"]
    with vgg.Model(out) as m:
        assert m.info["channel_order"] == "rgb"
        assert m.info["mean"] == pytest.approx([0.485 * 255, 0.456 * 255, 0.406 * 255], rel=1e-6)
        assert m.info["scale"] == pytest.approx([1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)], rel=1e-6)
        by_alias = m.features(expected["input_250x230"], ["features.28"])["features.28"]
        by_name = m.features(expected["input_250x230"], ["conv5_3"])["conv5_3"]
    np.testing.assert_array_equal(by_alias, by_name)


def test_dynamo_export_names_convolutions_by_their_weights(tmp_path):
    """The dynamo exporter names nodes node_Conv_4 …: conv aliases come from the initializers, pools get none."""
    f = vf.read(str(converted(tmp_path, "vgg16_tiny_dynamo.onnx")))
    assert [l.name for l in f.layers] == VGG16_NAMES
    aliases = {l.name: l.alias for l in f.layers}
    assert (aliases["conv1_1"], aliases["conv5_3"], aliases["fc6"], aliases["pool1"]) == ("features.0", "features.28", "classifier.0", "")


def test_preprocessing_overrides(tmp_path):
    out = converted(tmp_path, "vgg16_tiny.onnx", "--channel-order", "bgr", "--mean", "1,2,3", "--scale", "0.5,0.5,0.5")
    with vgg.Model(out) as m:
        assert m.info["channel_order"] == "bgr"
        assert m.info["mean"] == pytest.approx([1, 2, 3])
        assert m.info["scale"] == pytest.approx([0.5, 0.5, 0.5])


def test_hand_built_matmul_add_ceil_pool(tmp_path, expected):
    """float_data initializers, a 2×2 conv, MaxPool with ceil_mode 1 (11×11 → 6×6), Flatten, MatMul (in, out) + Add,
    Softmax; no torchvision names, so the default preprocessing is kept and the user is told."""
    r = run_convert(ONNX_DIR / "matmul_add.onnx", "-o", tmp_path / "mm.vgg")
    assert "--mean" in r.stderr + r.stdout
    f = vf.read(str(tmp_path / "mm.vgg"))
    assert [(l.name, l.alias) for l in f.layers] == [("conv1_1", "conv"), ("pool1", "pool"), ("fc6", "matmul")]
    with vgg.Model(tmp_path / "mm.vgg") as m:
        assert m.info["channel_order"] == "bgr"
        scores = m.forward(expected["input_12"])
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected["matmul_add_logits_12"])) <= 1e-5


@pytest.mark.parametrize("name,words", [
    ("unsupported_op.onnx", ["'leaky'", "LeakyRelu"]),
    ("gemm_alpha.onnx", ["'gemm'", "alpha 0.5"]),
    ("external_escape.onnx", ["'../escape.bin'", "inside the model's directory"]),
])
def test_refusals_name_the_node_or_tensor(tmp_path, name, words):
    err = refused(ONNX_DIR / name, tmp_path / "x.vgg")
    for w in words:
        assert w in err, err


def test_unknown_op_in_an_export_is_refused_by_name(tmp_path):
    data = (ONNX_DIR / "vgg16_tiny.onnx").read_bytes()
    at = data.index(b"/features/features.1/Relu")
    op = data.index(b"\x22\x04Relu", at) + 2  # op_type (field 4) follows the node's name (field 3)
    src = tmp_path / "odd.onnx"
    src.write_bytes(data[:op] + b"Relx" + data[op + 4:])
    err = refused(src, tmp_path / "odd.vgg")
    assert "'/features/features.1/Relu' (Relx)" in err and "not supported" in err, err


def test_missing_external_data_is_refused(tmp_path):
    shutil.copy(ONNX_DIR / "vgg16_tiny_external.onnx", tmp_path / "m.onnx")
    err = refused(tmp_path / "m.onnx", tmp_path / "m.vgg")
    assert "vgg16_tiny_external.onnx.data" in err, err


def test_external_data_through_a_symlink_out_of_the_directory_is_refused(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    shutil.copy(ONNX_DIR / "vgg16_tiny_external.onnx", inner / "m.onnx")
    shutil.copy(ONNX_DIR / "vgg16_tiny_external.onnx.data", tmp_path / "elsewhere.data")
    os.symlink(tmp_path / "elsewhere.data", inner / "vgg16_tiny_external.onnx.data")
    err = refused(inner / "m.onnx", tmp_path / "m.vgg")
    assert "outside the model's directory" in err, err


def test_short_external_data_is_refused(tmp_path):
    shutil.copy(ONNX_DIR / "vgg16_tiny_external.onnx", tmp_path / "m.onnx")
    data = (ONNX_DIR / "vgg16_tiny_external.onnx.data").read_bytes()
    (tmp_path / "vgg16_tiny_external.onnx.data").write_bytes(data[: len(data) // 2])
    err = refused(tmp_path / "m.onnx", tmp_path / "m.vgg")
    assert "outside 'vgg16_tiny_external.onnx.data'" in err, err


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_files_are_refused(tmp_path, fraction):
    data = (ONNX_DIR / "vgg16_tiny.onnx").read_bytes()
    src = tmp_path / "cut.onnx"
    src.write_bytes(data[: int(len(data) * fraction)])
    refused(src, tmp_path / "cut.vgg")


def test_dtype_and_labels(tmp_path, expected):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    out = converted(tmp_path, "vgg16_tiny.onnx", "--dtype", "f16", "--labels", labels)
    with vgg.Model(out) as m:
        assert m.info["dtype"] == "f16" and m.labels[3] == "class 3"
        scores = m.forward(expected["input_224"])
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected["vgg16_logits_224"])) <= 3e-3


@pytest.mark.parametrize("name", ["timm_vgg11_tiny.onnx", "timm_vgg11_tiny_dynamo.onnx"])
def test_timm_exports_classifier_runs_convolutionally(tmp_path, expected, name):
    """timm's pre_logits convs become fc6/fc7 and the global pool (GlobalAveragePool, or the dynamo exporter's
    ReduceMean) is the identity at 224; at 224×288 timm's logits are the mean of libvgg's score map."""
    out = converted(tmp_path, name)
    f = vf.read(str(out))
    assert [(l.name, l.alias) for l in f.layers][-3:] == [("fc6", "pre_logits.fc1"), ("fc7", "pre_logits.fc2"), ("fc8", "head.fc")]
    with vgg.Model(out) as m:
        scores = m.forward(expected["input_224"])
        wide = m.forward(expected["input_timm"])
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected["timm_logits_224"])) <= 1e-5
    assert wide.shape[2:] == (1, 3)
    assert ref.relative_l2(f64(wide.mean(axis=(2, 3))), f64(expected["timm_logits_224x288"])) <= 1e-5
