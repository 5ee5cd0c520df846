"""vgg-convert on HDF5 weights: files written by Keras itself (Tests/fixtures/keras, made by
tools/make_keras_reference.py) and every layout tools/keras_fixtures.py writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import caffe_fixtures as cf
import keras_fixtures as kf
import reference as ref
import vgg
from vgg import format as vf
from conftest import ROOT, run_convert

KERAS_DIR = ROOT / "Tests" / "fixtures" / "keras"
REAL_FILES = ["tiny_vgg.h5", "tiny_vgg.weights.h5", "tiny_vgg_legacy_weights.h5"]


@pytest.fixture(scope="module")
def expected():
    return np.load(KERAS_DIR / "tiny_vgg_expected.npz")


@pytest.mark.parametrize("name", REAL_FILES)
def test_files_written_by_keras_match_keras_outputs(tmp_path, expected, name):
    """Relative L2 ≤ 1e-5 against what Keras computed on the same input."""
    out = tmp_path / "m.vgg"
    run_convert(KERAS_DIR / name, "-o", out, "--input-size", 32)
    x = np.ascontiguousarray(expected["input"].transpose(0, 3, 1, 2))  # NHWC → NCHW
    with vgg.Model(out) as m:
        assert m.info["layers"][1]["rounding"] == "floor"  # Keras pools round down
        assert m.info["channel_order"] == "bgr" and m.info["mean"] == [103.939, 116.779, 123.68]
        p = m.probabilities(x)
        f = m.features(x, ["block3_pool", "fc2"])
    assert ref.relative_l2(p, expected["predictions"].astype(np.float64)) <= 1e-5
    assert ref.relative_l2(f["block3_pool"], expected["block3_pool"].transpose(0, 3, 1, 2).astype(np.float64)) <= 1e-5
    assert ref.relative_l2(f["fc2"][:, :, 0, 0], expected["fc2"].astype(np.float64)) <= 1e-5
    assert (p.argmax(1) == expected["predictions"].argmax(1)).all()


def test_keras_written_layouts_convert_identically(tmp_path):
    tensors = []
    for name in REAL_FILES:
        out = tmp_path / (name + ".vgg")
        run_convert(KERAS_DIR / name, "-o", out, "--input-size", 32)
        f = vf.read(str(out))
        assert [l.name for l in f.layers] == ["conv1_1", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "pool3",
                                              "fc6", "fc7", "fc8"]
        assert [l.alias for l in f.layers][:2] == ["block1_conv1", "block1_pool"]
        tensors.append({n: t.stored for n, t in f.tensors.items()})
    for other in tensors[1:]:
        assert other.keys() == tensors[0].keys()
        assert all(np.array_equal(other[n], tensors[0][n]) for n in other)


@pytest.mark.parametrize("layout", [l for l in kf.LAYOUTS if l != "keras3-v30"])
def test_every_layout_matches_the_caffemodel(factory, tmp_path, layout):
    caffe_path, _ = factory.model("tiny")
    src = tmp_path / f"{layout}.h5"
    kf.write(str(src), "tiny", layout)
    out = tmp_path / f"{layout}.vgg"
    r = run_convert(src, "-o", out, "--input-size", 32)
    got, want = vf.read(str(out)), vf.read(str(caffe_path))
    if layout == "notop":
        assert got.class_count == 0 and "features-only" in r.stdout
        assert [l.name for l in got.layers] == [l.name for l in want.layers][:7]
    else:
        assert [(l.name, l.kind, l.kernel, l.relu) for l in got.layers] == [(l.name, l.kind, l.kernel, l.relu) for l in want.layers]
    for name, t in got.tensors.items():
        assert np.array_equal(t.stored, want.tensors[name].stored), name
    assert got.source_format == ("Caffe HDF5" if layout == "caffe-h5" else "Keras 3" if layout == "keras3" else "Keras HDF5")
    rounding = {l.rounding for l in got.layers if l.kind == "max_pool"}
    assert rounding == ({"ceil"} if layout == "caffe-h5" else {"floor"})
    if layout == "th":
        assert "Theano" in r.stdout


def test_floor_pooling_at_odd_sizes(tmp_path, rng):
    """Keras models floor at odd sizes: 35 → 17 → 8 → 4 (Caffe would give 18 → 9 → 5)."""
    src = tmp_path / "k.h5"
    weights = kf.write(str(src), "tiny", "k2-nested")
    out = tmp_path / "k.vgg"
    run_convert(src, "-o", out, "--input-size", 32)
    x = (rng.standard_normal((1, 3, 35, 37)) * 40).astype(np.float32)
    want = ref.scores(cf.ARCHS["tiny"][1], weights, x[0], 32, rounding="floor")
    with vgg.Model(out) as m:
        got = m.forward(x)[0]
        assert m.output_shape(35, 37, "pool3") == (16, 4, 4)
        # pool2 follows a Winograd layer (16 → 16 channels, 17 columns): fused or not, the same.
        fused = m.features(x, ["pool2"])["pool2"]
        plain = m.features(x, ["pool2", "conv2_2"])["pool2"]
        assert fused.shape == (1, 16, 8, 9) and np.array_equal(fused, plain)
    assert got.shape == want.shape and ref.relative_l2(got, want) <= 1e-5


def test_theano_override_and_detection(tmp_path):
    src = tmp_path / "th.h5"
    kf.write(str(src), "tiny", "th")
    # Forcing the wrong orientation must fail on shapes, not produce a silently wrong model.
    r = run_convert(src, "-o", tmp_path / "x.vgg", "--input-size", 32, "--kernel-layout", "tf", check=False)
    assert r.returncode == 1 and "block1_conv1" in r.stderr
    assert not (tmp_path / "x.vgg").exists()


def test_notop_model_refuses_classification(tmp_path, rng):
    src = tmp_path / "notop.h5"
    kf.write(str(src), "tiny", "notop")
    out = tmp_path / "notop.vgg"
    run_convert(src, "-o", out, "--input-size", 32)
    with vgg.Model(out) as m:
        assert m.features(np.zeros((1, 3, 32, 32), np.float32), "block3_pool")["block3_pool"].shape == (1, 16, 4, 4)
        with pytest.raises(vgg.Error) as e:
            m.forward(np.zeros((1, 3, 32, 32), np.float32))
        assert e.value.status_name == "VGG_ERROR_UNSUPPORTED" and "features" in str(e.value)


def test_type_is_detected_from_content(tmp_path):
    src = tmp_path / "actually_hdf5.caffemodel"
    kf.write(str(src), "tiny", "k1-tf")
    run_convert(src, "--input-size", 32)
    assert (tmp_path / "actually_hdf5.vgg").exists()


def test_hdf5_errors(tmp_path):
    import h5py
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("something")
    r = run_convert(empty, "-o", tmp_path / "o.vgg", check=False)
    assert r.returncode == 1 and "without a known weights layout" in r.stderr
    good = tmp_path / "good.h5"
    kf.write(str(good), "tiny", "k1-tf")
    r = run_convert(good, "-o", tmp_path / "o.vgg", check=False)  # trained at 32, converted at 224
    assert r.returncode == 1 and "pass --input-size" in r.stderr
    data = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    r = run_convert(cut, "-o", tmp_path / "o.vgg", "--input-size", 32, check=False)
    assert r.returncode == 1 and "cut.h5" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.vgg").exists()
    r = run_convert(good, "--kernel-layout", "xy", check=False)
    assert r.returncode == 64


@pytest.mark.parametrize("arch,layout", [("vgg16", "k1-tf"), ("vgg16", "th"), ("vgg16", "keras3-v30"),
                                         ("vgg16", "caffe-h5"), ("vgg19", "k2-nested")])
def test_full_size_hdf5(factory, tmp_path, arch, layout):
    caffe_path, weights = factory.model(arch) if arch == "vgg16" else (None, cf.make_weights(arch, 0))
    src = tmp_path / f"{arch}-{layout}.h5"
    kf.write(str(src), arch, layout, weights=weights)
    out = tmp_path / f"{arch}-{layout}.vgg"
    run_convert(src, "-o", out)
    src.unlink()
    f = vf.read(str(out), verify_checksums=False)
    fc6 = next(l for l in f.layers if l.name == "fc6")
    assert fc6.kernel == (7, 7) and fc6.alias == ("fc1" if layout != "caffe-h5" else "fc1")
    for name in ("conv1_1", "conv5_3", "fc6", "fc8"):
        w, b = f.weights(name)
        assert np.array_equal(w, weights[name][0].reshape(w.shape)), name
        assert np.array_equal(b, weights[name][1]), name
    if arch == "vgg16":
        with vgg.Model(out) as m:
            assert m.info["parameters"] == 138357544
