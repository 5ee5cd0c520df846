"""vgg-convert on PyTorch files: .pth (torch.save zip format) and safetensors written by the real
torch, torchvision, timm and safetensors (Tests/fixtures/torch, made by tools/make_torch_reference.py),
compared with the frameworks' own outputs; and the files it must refuse without running anything.
Needs no torch: the damaged and hostile variants are made here with zipfile, json and pickle opcodes."""
from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import reference as ref
import vgg
from vgg import format as vf
from conftest import ROOT, run_convert
from fixture_files import VGG16_NAMES, assert_matches_framework, converted_from, f64, refused

TORCH_DIR = ROOT / "Tests" / "fixtures" / "torch"
MARKER = Path("/tmp/libvgg-torch-fixture-pwned")  # what malicious.pth's pickle would create


@pytest.fixture(scope="module")
def expected():
    return np.load(TORCH_DIR / "expected.npz")


converted = converted_from(TORCH_DIR)


@pytest.mark.parametrize("name,key,tolerance", [
    ("vgg16_tiny.pth", "vgg16", 1e-5),
    ("vgg16_tiny.safetensors", "vgg16", 1e-5),
    ("vgg16_bn_tiny.pth", "vgg16_bn", 3e-5),
    ("vgg16_bn_checkpoint.pth", "vgg16_bn", 3e-5),
    ("vgg16_bn_legacy.pth", "vgg16_bn", 3e-5),
    ("vgg16_legacy_v1.pth", "vgg16", 1e-5),
])
def test_torchvision_files_match_torchvision_outputs(tmp_path, expected, name, key, tolerance):
    """Logits at 224 (where AdaptiveAvgPool2d((7,7)) is the identity) and pool5 at 250×230 (floor pooling)."""
    assert_matches_framework(converted(tmp_path, name), expected, key, tolerance)


def test_float16_state_dict(tmp_path, expected):
    out = converted(tmp_path, "vgg16_tiny_f16.pth")
    with vgg.Model(out) as m:
        scores = m.forward(expected["input_224"])
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected["vgg16_f16_logits_224"])) <= 1e-5


def test_names_aliases_and_preprocessing(tmp_path, expected):
    out = converted(tmp_path, "vgg16_tiny.pth")
    f = vf.read(str(out))
    assert [l.name for l in f.layers] == VGG16_NAMES
    aliases = {l.name: l.alias for l in f.layers}
    assert (aliases["conv1_1"], aliases["conv1_2"], aliases["pool1"], aliases["conv5_3"], aliases["pool5"]) == \
        ("features.0", "features.2", "features.4", "features.28", "features.30")
    assert [aliases[n] for n in ("fc6", "fc7", "fc8")] == ["classifier.0", "classifier.3", "classifier.6"]
    assert {l.rounding for l in f.layers if l.kind == "max_pool"} == {"floor"}
    with vgg.Model(out) as m:
        assert m.info["channel_order"] == "rgb"
        assert m.info["mean"] == pytest.approx([0.485 * 255, 0.456 * 255, 0.406 * 255], rel=1e-6)
        assert m.info["scale"] == pytest.approx([1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)], rel=1e-6)
        # The source name reaches the layer; libvgg's conv outputs include their ReLU.
        got = m.features(expected["input_250x230"], ["features.28"])["features.28"]
    assert ref.relative_l2(f64(got), f64(expected["vgg16_features28_250x230"])) <= 1e-5


def test_bn_aliases_skip_the_batchnorm_positions(tmp_path):
    f = vf.read(str(converted(tmp_path, "vgg16_bn_tiny.pth")))
    aliases = [l.alias for l in f.layers]
    assert aliases[:3] == ["features.0", "features.3", "features.6"]
    assert [l.name for l in f.layers] == VGG16_NAMES


def test_timm_logits_are_the_mean_of_the_score_map(tmp_path, expected):
    out = converted(tmp_path, "timm_vgg11_tiny.safetensors")
    f = vf.read(str(out))
    assert [l.alias for l in f.layers][-3:] == ["pre_logits.fc1", "pre_logits.fc2", "head.fc"]
    assert [l.name for l in f.layers][-3:] == ["fc6", "fc7", "fc8"]
    with vgg.Model(out) as m:
        wide = m.forward(expected["input_timm"])
        square = m.forward(expected["input_224"])
    assert wide.shape[2:] == (2, 4)  # 256×320 → pool5 8×10 → 7×7 window
    assert ref.relative_l2(f64(wide.mean(axis=(2, 3))), f64(expected["timm_logits_256x320"])) <= 1e-5
    assert ref.relative_l2(f64(square[:, :, 0, 0]), f64(expected["timm_logits_224"])) <= 1e-5


def test_pth_safetensors_and_checkpoint_give_identical_files(tmp_path):
    def tensors(name):
        return {n: t.stored for n, t in vf.read(str(converted(tmp_path, name))).tensors.items()}
    a, b = tensors("vgg16_tiny.pth"), tensors("vgg16_tiny.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a)
    for other in ("vgg16_legacy_v1.pth",):
        e = tensors(other)
        assert a.keys() == e.keys() and all(np.array_equal(a[n], e[n]) for n in a), other
    c = tensors("vgg16_bn_tiny.pth")
    for other in ("vgg16_bn_checkpoint.pth", "vgg16_bn_legacy.pth"):
        d = tensors(other)
        assert c.keys() == d.keys() and all(np.array_equal(c[n], d[n]) for n in c), other


def test_dtype_and_labels(tmp_path, expected):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    out = converted(tmp_path, "vgg16_tiny.pth", "--dtype", "bf16", "--labels", labels)
    with vgg.Model(out) as m:
        assert m.info["dtype"] == "bf16" and m.labels[3] == "class 3"
        scores = m.forward(expected["input_224"])
    assert ref.relative_l2(f64(scores[:, :, 0, 0]), f64(expected["vgg16_logits_224"])) <= 3e-2
    r = run_convert(TORCH_DIR / "vgg16_tiny.pth", "-o", tmp_path / "x.vgg", "--labels", ROOT / "README.md", check=False)
    assert r.returncode == 1 and "10 classes" in r.stderr


# ---- refusals ---------------------------------------------------------------------------------

def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    MARKER.unlink(missing_ok=True)
    err = refused(TORCH_DIR / "malicious.pth", tmp_path / "m.vgg")
    assert "'posix system'" in err and "nothing in it was run" in err
    assert not MARKER.exists()


def pickle_global(module: str, name: str, arg: str) -> bytes:
    """A protocol-2 pickle calling module.name(arg): PROTO, GLOBAL, BINUNICODE, TUPLE1, REDUCE, STOP."""
    s = arg.encode()
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(s)) + s + b"\x85R."


def with_pickle(src: Path, dst: Path, data: bytes, compression=zipfile.ZIP_STORED):
    """A copy of a torch.save archive with its data.pkl replaced (and entries re-written)."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", compression) as out:
        for info in z.infolist():
            body = data if info.filename.endswith("/data.pkl") and data is not None else z.read(info.filename)
            out.writestr(info.filename, body)
    return dst


@pytest.mark.parametrize("module,name", [("posix", "system"), ("nt", "system"), ("builtins", "eval"),
                                         ("subprocess", "Popen"), ("__builtin__", "exec"), ("torch", "load")])
def test_any_global_outside_the_allowlist_is_refused_by_name(tmp_path, module, name):
    MARKER.unlink(missing_ok=True)
    src = with_pickle(TORCH_DIR / "vgg16_tiny.pth", tmp_path / "evil.pth", pickle_global(module, name, f"touch {MARKER}"))
    err = refused(src, tmp_path / "evil.vgg")
    assert f"'{module} {name}'" in err
    # The same pickle as the object of a legacy-format file.
    legacy = (TORCH_DIR / "vgg16_bn_legacy.pth").read_bytes()
    header = len(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.") + len(b"\x80\x02M\xe9\x03.")
    info_end = legacy.index(b".", legacy.index(b"type_sizes")) + 1
    assert info_end > header
    (tmp_path / "evil_legacy.pth").write_bytes(legacy[:info_end] + pickle_global(module, name, f"touch {MARKER}"))
    assert f"'{module} {name}'" in refused(tmp_path / "evil_legacy.pth", tmp_path / "evil2.vgg")
    assert not MARKER.exists()


def test_whole_module_is_refused_with_advice(tmp_path):
    err = refused(TORCH_DIR / "vgg16_whole_model.pth", tmp_path / "w.vgg")
    assert "torchvision.models.vgg.VGG" in err and "model.state_dict()" in err


def test_strided_tensor_is_refused(tmp_path):
    err = refused(TORCH_DIR / "vgg16_strided.pth", tmp_path / "s.vgg")
    assert "classifier.0.weight" in err and "not contiguous" in err


def test_deflated_archive_is_refused(tmp_path):
    src = with_pickle(TORCH_DIR / "vgg16_tiny.pth", tmp_path / "d.pth", None, zipfile.ZIP_DEFLATED)
    assert "deflated" in refused(src, tmp_path / "d.vgg")


def test_damaged_tensor_bytes_fail_the_crc(tmp_path):
    data = bytearray((TORCH_DIR / "vgg16_tiny.pth").read_bytes())
    with zipfile.ZipFile(TORCH_DIR / "vgg16_tiny.pth") as z:
        info = z.getinfo(next(n for n in z.namelist() if n.endswith("/data/0")))
    start = info.header_offset + 30 + len(info.filename.encode()) + struct.unpack_from("<H", data, info.header_offset + 28)[0]
    data[start + 5] ^= 0x40
    (tmp_path / "c.pth").write_bytes(bytes(data))
    assert "CRC-32" in refused(tmp_path / "c.pth", tmp_path / "c.vgg")


@pytest.mark.parametrize("name", ["vgg16_tiny.pth", "vgg16_tiny.safetensors", "vgg16_bn_legacy.pth"])
def test_truncated_files_are_refused(tmp_path, name):
    data = (TORCH_DIR / name).read_bytes()
    for cut in [1, 9, 100, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 1]:
        src = tmp_path / f"cut{cut}{Path(name).suffix}"
        src.write_bytes(data[:cut])
        err = refused(src, tmp_path / "t.vgg")
        assert "vgg-convert:" in err


def test_bare_pickles_and_other_zips_are_refused(tmp_path):
    bare = tmp_path / "weights.pkl"
    bare.write_bytes(b"\x80\x02}q\x00.")
    assert "not a torch.save file" in refused(bare, tmp_path / "b.vgg")
    magic_only = tmp_path / "old.pth"
    magic_only.write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
    assert "without STOP" in refused(magic_only, tmp_path / "o.vgg")
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.zeros(3))
    assert "not a torch.save file" in refused(npz, tmp_path / "n.vgg")


# ---- safetensors written here, to break one rule at a time -------------------------------------

def safetensors_bytes(tensors, header_edit=None, pad=b""):
    header, blobs, at = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    if header_edit:
        header_edit(header)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs) + pad


def tiny_state():
    rng = np.random.default_rng(0)
    return {"features.0.weight": ("F32", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
            "features.0.bias": ("F32", rng.standard_normal(4).astype(np.float32))}


def test_handwritten_safetensors_converts(tmp_path):
    src = tmp_path / "ok.safetensors"
    src.write_bytes(safetensors_bytes(tiny_state()))
    r = run_convert(src, "-o", tmp_path / "ok.vgg", "--input-size", 32)
    assert "features-only" in r.stdout
    assert [l.name for l in vf.read(str(tmp_path / "ok.vgg")).layers] == ["conv1_1", "pool1"]


@pytest.mark.parametrize("case,message", [
    ("int weights", "I32"),
    ("unknown dtype", "unknown dtype"),
    ("overlap", "overlaps"),
    ("hole", "hole"),
    ("trailing bytes", "cover"),
    ("size mismatch", "span"),
    ("out of bounds", "truncated"),
    ("negative shape", "non-negative"),
    ("huge header", "exceeds"),
    ("not json", "not a JSON object"),
])
def test_safetensors_rules(tmp_path, case, message):
    state = tiny_state()
    edit, pad = None, b""
    if case == "int weights":
        state["features.0.weight"] = ("I32", state["features.0.weight"][1].astype(np.int32))
    elif case == "unknown dtype":
        edit = lambda h: h["features.0.bias"].update(dtype="F128")
    elif case == "overlap":
        edit = lambda h: h["features.0.bias"].update(data_offsets=[0, 16])
    elif case == "hole":
        pad = b"\0" * 8
        edit = lambda h: h["features.0.bias"].update(data_offsets=[432 + 8, 432 + 24])
    elif case == "trailing bytes":
        pad = b"\0" * 4
    elif case == "size mismatch":
        edit = lambda h: h["features.0.bias"].update(shape=[5])
    elif case == "out of bounds":
        edit = lambda h: h["features.0.bias"].update(data_offsets=[432, 432 + 16 + 4096], shape=[1028])
    elif case == "negative shape":
        edit = lambda h: h["features.0.bias"].update(shape=[-4])
    data = safetensors_bytes(state, edit, pad)
    if case == "huge header":
        data = struct.pack("<Q", 200_000_000) + data[8:]
    elif case == "not json":
        data = data[:9] + b"!" + data[10:]
    src = tmp_path / "bad.safetensors"
    src.write_bytes(data)
    err = refused(src, tmp_path / "bad.vgg")
    assert message in err, err


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F64"])
def test_safetensors_dtypes_convert_exactly(tmp_path, dtype):
    state = tiny_state()
    w = state["features.0.weight"][1]
    if dtype == "F16":
        w = w.astype(np.float16).astype(np.float32)
        stored = w.astype(np.float16)
    elif dtype == "BF16":
        w = (w.view(np.uint32) & 0xFFFF0000).view(np.float32)  # exactly representable in bf16
        stored = (w.view(np.uint32) >> 16).astype(np.uint16)
    else:
        stored = w.astype(np.float64)
    state["features.0.weight"] = (dtype, stored)
    src = tmp_path / f"{dtype}.safetensors"
    src.write_bytes(safetensors_bytes(state))
    run_convert(src, "-o", tmp_path / "d.vgg", "--input-size", 32)
    got, _ = vf.read(str(tmp_path / "d.vgg")).weights("conv1_1")
    assert np.array_equal(got, w)
