"""vgg-convert on caffemodels in every layout, checked bit-exactly through both readers."""
from __future__ import annotations

import json
import os
import struct
import subprocess

import numpy as np
import pytest

import caffe_fixtures as cf
import vgg
from vgg import format as vf
from conftest import VGG_CLI, run_convert


def assert_tensors_match_source(model_path, weights, dtype="f32"):
    f = vf.read(str(model_path))
    for name, (w, b) in weights.items():
        got_w, got_b = f.weights(name)
        want = w.reshape(got_w.shape)
        if dtype == "f32":
            assert np.array_equal(got_w, want), name
        elif dtype == "f16":
            assert np.array_equal(got_w, want.astype(np.float16).astype(np.float32)), name
        else:
            assert np.array_equal(got_w, bf16_round(want)), name
        assert np.array_equal(got_b, b), name  # biases stay f32
    return f


def bf16_round(a):
    """Round-to-nearest-even to bfloat16, back as float32."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("layout", ["v1", "v2"])
@pytest.mark.parametrize("dims", ["legacy", "shape"])
@pytest.mark.parametrize("encoding", ["packed", "unpacked", "chunked", "double"])
def test_every_layout_gives_the_source_tensors(factory, layout, dims, encoding):
    path, weights = factory.model("tiny", layout=layout, dims=dims, encoding=encoding)
    f = assert_tensors_match_source(path, weights)
    assert f.source_format == ("caffemodel V1" if layout == "v1" else "caffemodel V2")
    assert [l.name for l in f.layers] == ["conv1_1", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "pool3",
                                          "fc6", "fc7", "fc8"]


def test_layouts_are_bit_identical(factory):
    reference = None
    for layout in ("v1", "v2"):
        for dims in ("legacy", "shape"):
            for encoding in ("packed", "unpacked", "chunked", "double"):
                path, _ = factory.model("tiny", layout=layout, dims=dims, encoding=encoding)
                data = path.read_bytes()
                # Everything but the header's source_format field and the metadata CRC.
                body = data[:124] + data[128:252] + data[256:]
                if reference is None:
                    reference = body
                assert body == reference, (layout, dims, encoding)


def test_lrn_and_average_pooling_model(factory):
    path, weights = factory.model("tiny_lrn")
    f = assert_tensors_match_source(path, weights)
    kinds = [(l.kind, l.name) for l in f.layers]
    assert ("lrn", "norm1") in kinds and ("average_pool", "pool2") in kinds
    norm = next(l for l in f.layers if l.name == "norm1")
    assert norm.lrn[0] == 5 and norm.lrn[3] == 2.0
    fc6 = next(l for l in f.layers if l.name == "fc6")
    assert fc6.from_inner_product and fc6.kernel == (4, 4)  # 35 → 17 → 8 → 4 (ceil pooling)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_precision_storage(factory, dtype):
    path, weights = factory.model("tiny", dtype=dtype)
    f = assert_tensors_match_source(path, weights, dtype)
    assert {t.dtype for t in f.tensors.values() if t.layout == "OBLOCK16"} == {dtype}


def test_weights_only_file_infers_the_vgg_structure(factory, tmp_path):
    src, weights = factory.caffemodel("tiny", weights_only=True)
    out = tmp_path / "w.vgg"
    r = run_convert(src, "-o", out, "--input-size", 32)
    assert "inferred the standard VGG structure" in r.stdout
    full, _ = factory.model("tiny")
    a, b = vf.read(str(out)), vf.read(str(full))
    assert [(l.kind, l.name, l.relu, l.kernel, l.stride) for l in a.layers] == \
           [(l.kind, l.name, l.relu, l.kernel, l.stride) for l in b.layers]
    assert_tensors_match_source(out, weights)


def test_both_readers_agree(factory):
    path, _ = factory.model("tiny_lrn")
    f = vf.read(str(path))
    with vgg.Model(path, verify_checksums=True) as m:
        info = m.info
        assert info["name"] == f.name == "tiny_vgg_lrn"
        assert info["parameters"] == sum(np.prod(t.dims if t.layout != "VECTOR16" else t.dims[:1])
                                         for t in f.tensors.values())
        assert tuple(info["input_size"]) == f.input_size == (35, 35)
        assert info["channel_order"] == f.channel_order == "bgr"
        assert np.allclose(info["mean"], f.mean) and np.allclose(info["scale"], f.scale)
        assert info["classes"] == f.class_count == 7
        assert len(info["layers"]) == len(f.layers)
        for a, b in zip(info["layers"], f.layers):
            assert a["name"] == b.name and a["alias"] == b.alias
            assert a["kind"] == b.kind and a["relu"] == b.relu
            assert (a["in_channels"], a["out_channels"]) == (b.in_channels, b.out_channels)
            assert tuple(a["kernel"]) == b.kernel and tuple(a["stride"]) == b.stride and tuple(a["pad"]) == b.pad
            assert a["rounding"] == b.rounding


def test_format_versions_and_fc_layouts(factory, tmp_path):
    """Version 2 (the default) stores f32 fc weights in OGROUP1024 and everything else in
    OBLOCK16; --format-version 1 and half-precision files keep OBLOCK16. Both readers give the
    source tensors either way."""
    src, weights = factory.caffemodel("tiny_lrn")
    for version, dtype in ((2, "f32"), (1, "f32"), (2, "f16")):
        path = tmp_path / f"v{version}-{dtype}.vgg"
        run_convert(src, "-o", path, "--dtype", dtype, "--input-size", 35, "--format-version", version)
        assert struct.unpack_from("<I", path.read_bytes(), 8)[0] == version
        with vgg.Model(path) as m:
            assert m.info["format_version"] == version
        f = assert_tensors_match_source(path, weights, dtype)
        grouped = {n for n, t in f.tensors.items() if t.layout == "OGROUP1024"}
        assert grouped == ({"fc6.weight", "fc7.weight"} if (version, dtype) == (2, "f32") else set())
    r = run_convert(src, "-o", tmp_path / "v3.vgg", "--format-version", 3, check=False)
    assert r.returncode == 64 and "--format-version must be 1 or 2, found 3" in r.stderr


def patched(path, out, edits):
    """A copy of `path` with `edits` (offset → u32) applied and the metadata CRC made valid again."""
    import zlib
    data = bytearray(path.read_bytes())
    for at, value in edits.items():
        struct.pack_into("<I", data, at, value)
    string_off, string_size = struct.unpack_from("<QQ", data, 56)
    struct.pack_into("<I", data, 252, 0)
    struct.pack_into("<I", data, 252, zlib.crc32(bytes(data[:string_off + string_size])) & 0xFFFFFFFF)
    out.write_bytes(bytes(data))
    return out


def test_grouped_fc_weights_only_where_the_rules_allow(factory, tmp_path):
    path, _ = factory.model("tiny")
    f = vf.read(str(path))
    tensor_off = struct.unpack_from("<Q", path.read_bytes(), 40)[0]
    index = {name: i for i, name in enumerate(f.tensors)}
    layout_at = lambda name: tensor_off + index[name] * 64 + 12  # noqa: E731
    cases = [
        ({8: 1}, "OGROUP1024 holds f32 weights in format version 2 or later"),  # a version-1 file with them
        ({layout_at("conv2_1.weight"): 3}, "OGROUP1024 is for the fc layers past the last pooling"),
        ({layout_at("fc6.weight"): 4}, "expected 1 (OBLOCK16), 2 (VECTOR16) or 3 (OGROUP1024), found 4"),
        ({8: 3}, "format_version: expected 1…2, found 3"),
    ]
    for i, (edits, message) in enumerate(cases):
        bad = patched(path, tmp_path / f"bad{i}.vgg", edits)
        with pytest.raises(vgg.Error) as e:
            vgg.Model(bad)
        assert e.value.status_name == "VGG_ERROR_FORMAT" and message in str(e.value), (edits, str(e.value))
        with pytest.raises(vf.FormatError):
            vf.read(str(bad))


def test_overrides_labels_mean_order_name(factory, tmp_path):
    src, _ = factory.caffemodel("tiny")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"n{i:08d} class {i}\n" for i in range(10)))
    out = tmp_path / "o.vgg"
    run_convert(src, "-o", out, "--input-size", 32, "--labels", labels, "--mean", "1,2,3", "--scale", "0.5,0.25,2",
                "--channel-order", "rgb", "--name", "renamed")
    f = vf.read(str(out))
    assert f.labels == [f"n{i:08d} class {i}" for i in range(10)]
    assert f.mean == (1.0, 2.0, 3.0) and f.scale == (0.5, 0.25, 2.0) and f.channel_order == "rgb"
    with vgg.Model(out) as m:
        assert m.labels == f.labels and m.name == "renamed"
        assert m.info["channel_order"] == "rgb" and m.info["mean"] == [1.0, 2.0, 3.0]


def test_default_output_path_and_info_command(factory, tmp_path):
    src, _ = factory.caffemodel("tiny")
    copy = tmp_path / "copy.caffemodel"
    copy.write_bytes(src.read_bytes())
    run_convert(copy, "--input-size", 32)
    out = tmp_path / "copy.vgg"
    assert out.exists()
    r = subprocess.run([VGG_CLI, "info", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "conv1_1" in r.stdout and "fc→conv" in r.stdout and "15,642" in r.stdout
    assert "format version 2" in r.stdout
    j = json.loads(subprocess.run([VGG_CLI, "info", str(out), "--json"], capture_output=True, text=True).stdout)
    assert j["parameters"] == 15642 and j["classes"] == 10 and j["format_version"] == 2


# ---- error paths: one line, non-zero exit, nothing written ------------------------------

def expect_failure(tmp_path, src, *args, message):
    out = tmp_path / "out.vgg"
    out.write_bytes(b"previous contents")
    r = run_convert(src, "-o", out, *args, check=False)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert out.read_bytes() == b"previous contents"  # an existing output is never damaged
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out.vgg")] == ["out.vgg"]  # no temporaries


def test_not_a_caffemodel(tmp_path):
    src = tmp_path / "random.caffemodel"
    src.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    expect_failure(tmp_path, src, message="random.caffemodel")


def test_text_file_is_refused(tmp_path):
    src = tmp_path / "deploy.prototxt"
    src.write_text('name: "VGG_ILSVRC_16_layers"\ninput: "data"\n')
    expect_failure(tmp_path, src, message="deploy.prototxt")


@pytest.mark.parametrize("cut", [7, 1000, -1])
def test_truncated_caffemodel(factory, tmp_path, cut):
    src, _ = factory.caffemodel("tiny")
    data = src.read_bytes()
    bad = tmp_path / "cut.caffemodel"
    bad.write_bytes(data[:cut])
    expect_failure(tmp_path, bad, "--input-size", 32, message="cut.caffemodel")


def test_unsupported_layer_is_named(tmp_path):
    specs = [("conv", "conv1", 4, 3, 1, 1), ("relu", "relu1")]
    body = cf.f_bytes(1, b"net") + cf.f_bytes(3, b"data")
    w = {"conv1": (np.ones((4, 3, 3, 3), np.float32), np.zeros(4, np.float32))}
    blobs = [cf.blob_bytes(w["conv1"][0], (4, 3, 3, 3), "legacy", "packed"),
             cf.blob_bytes(w["conv1"][1], (1, 1, 1, 4), "legacy", "packed")]
    body += cf.f_bytes(100, cf.layer_bytes(specs[0], "data", "conv1", blobs, "v2"))
    body += cf.f_bytes(100, cf.f_bytes(1, b"sig1") + cf.f_bytes(2, b"Sigmoid") + cf.f_bytes(3, b"conv1") + cf.f_bytes(4, b"conv1"))
    src = tmp_path / "sigmoid.caffemodel"
    src.write_bytes(body)
    expect_failure(tmp_path, src, message="layer 'sig1' has unsupported type 'Sigmoid'")


def test_shape_mismatch_names_layer_expected_and_found(tmp_path):
    w = np.ones((4, 3, 3, 3), np.float32)
    spec = ("conv", "conv1", 5, 3, 1, 1)  # says 5 outputs, blob holds 4
    blobs = [cf.blob_bytes(w, (4, 3, 3, 3), "legacy", "packed"), cf.blob_bytes(np.zeros(5, np.float32), (1, 1, 1, 5), "legacy", "packed")]
    src = tmp_path / "mismatch.caffemodel"
    src.write_bytes(cf.f_bytes(2, cf.layer_bytes(spec, "data", "conv1", blobs, "v1")))
    expect_failure(tmp_path, src, message="layer 'conv1' weights: expected 135 values for shape [5, 3, 3, 3], found 108")


def test_legacy_dims_disagreeing_with_data_are_refused(tmp_path):
    w = np.ones((4, 3, 3, 3), np.float32)
    spec = ("conv", "conv1", 4, 3, 1, 1)
    blobs = [cf.blob_bytes(w, (4, 3, 3, 2), "legacy", "packed"), cf.blob_bytes(np.zeros(4, np.float32), (1, 1, 1, 4), "legacy", "packed")]
    src = tmp_path / "dims.caffemodel"
    src.write_bytes(cf.f_bytes(2, cf.layer_bytes(spec, "data", "conv1", blobs, "v1")))
    expect_failure(tmp_path, src, message="blob dims [4, 3, 3, 2] hold 72 values but 108 are stored")


def test_non_finite_weights_are_refused(tmp_path):
    weights = cf.make_weights("tiny", 0)
    w, b = weights["conv2_2"]
    w = w.copy()
    w[3, 2, 1, 0] = np.nan
    weights["conv2_2"] = (w, b)
    src = tmp_path / "nan.caffemodel"
    cf.write_caffemodel(str(src), "tiny", weights=weights)
    expect_failure(tmp_path, src, "--input-size", 32, message="layer 'conv2_2' weights: non-finite value nan at (out 3, in 2, y 1, x 0)")


def test_wrong_input_size_explains_fc6(factory, tmp_path):
    src, _ = factory.caffemodel("tiny")
    expect_failure(tmp_path, src, message="pass --input-size")


def test_f16_overflow_is_refused(tmp_path):
    weights = cf.make_weights("tiny", 0)
    w, b = weights["conv1_1"]
    weights["conv1_1"] = (w * 0 + 1e6, b)
    src = tmp_path / "big.caffemodel"
    cf.write_caffemodel(str(src), "tiny", weights=weights)
    expect_failure(tmp_path, src, "--input-size", 32, "--dtype", "f16", message="does not fit f16")


def test_labels_count_must_match(factory, tmp_path):
    src, _ = factory.caffemodel("tiny")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    expect_failure(tmp_path, src, "--input-size", 32, "--labels", labels, message="has 2 labels, the model has 10 classes")


def test_mixed_v1_and_v2_refused(tmp_path):
    spec = ("relu", "r")
    body = cf.f_bytes(2, cf.layer_bytes(spec, "a", "a", [], "v1")) + cf.f_bytes(100, cf.layer_bytes(spec, "a", "a", [], "v2"))
    src = tmp_path / "mixed.caffemodel"
    src.write_bytes(body)
    expect_failure(tmp_path, src, message="mixes V1")


def test_usage_errors_exit_64(factory, tmp_path):
    src, _ = factory.caffemodel("tiny")
    r = run_convert(src, "--dtype", "f8", check=False)
    assert r.returncode == 64 and "--dtype" in r.stderr


# ---- checksums --------------------------------------------------------------------------

def test_checksums_detect_a_flipped_tensor_byte(factory, tmp_path):
    path, _ = factory.model("tiny")
    data = bytearray(path.read_bytes())
    f = vf.read(str(path))
    t = f.tensors["conv2_1.weight"]
    data[t.offset + 100] ^= 0x40
    bad = tmp_path / "flipped.vgg"
    bad.write_bytes(bytes(data))
    with vgg.Model(bad):  # opens: tensor CRCs are verified only on request
        pass
    with pytest.raises(vgg.Error) as e:
        vgg.Model(bad, verify_checksums=True)
    assert e.value.status_name == "VGG_ERROR_CHECKSUM" and "conv2_1.weight" in str(e.value)
    with pytest.raises(vf.FormatError):
        vf.read(str(bad))


def test_metadata_is_always_checked(factory, tmp_path):
    path, _ = factory.model("tiny")
    data = bytearray(path.read_bytes())
    data[300] ^= 1  # inside the layer table
    bad = tmp_path / "meta.vgg"
    bad.write_bytes(bytes(data))
    with pytest.raises(vgg.Error) as e:
        vgg.Model(bad)
    assert e.value.status_name == "VGG_ERROR_CHECKSUM"


# ---- the full Oxford shapes -------------------------------------------------------------

@pytest.mark.parametrize("arch,size", [("vgg16", 553432081), ("vgg19", 574671192)])
def test_full_size_oxford_files(factory, arch, size):
    src, weights = factory.caffemodel(arch)
    assert os.path.getsize(src) == size  # byte-for-byte the size of the real Oxford file
    path, _ = factory.model(arch)
    f = assert_tensors_match_source(path, weights)
    assert f.name == f"VGG_ILSVRC_{arch[3:]}_layers"
    fc6 = next(l for l in f.layers if l.name == "fc6")
    assert fc6.kernel == (7, 7) and fc6.in_channels == 512 and fc6.out_channels == 4096
    with vgg.Model(path) as m:
        assert m.info["parameters"] == {"vgg16": 138357544, "vgg19": 143667240}[arch]
        assert m.info["minimum_input_size"] == 193
        assert m.layer_names == [l.name for l in f.layers]
    if arch != "vgg16":  # the engine tests reuse VGG16
        factory.discard(arch)


@pytest.mark.parametrize("arch,classes,fc6_kernel", [("vgg11", 1000, 7), ("vgg13", 1000, 7), ("vgg_cnn_m", 1000, 6),
                                                     ("vgg_face", 2622, 7)])
def test_other_family_members(factory, arch, classes, fc6_kernel):
    src, weights = factory.caffemodel(arch, layout="v2", dims="shape")
    path, _ = factory.model(arch, layout="v2", dims="shape")
    f = vf.read(str(path), verify_checksums=False)
    assert f.class_count == classes
    assert next(l for l in f.layers if l.name == "fc6").kernel == (fc6_kernel, fc6_kernel)
    for name in ("conv1" if arch == "vgg_cnn_m" else "conv1_1", "fc8"):
        w, b = f.weights(name)
        assert np.array_equal(w, weights[name][0].reshape(w.shape)) and np.array_equal(b, weights[name][1])
    factory.discard(arch)
