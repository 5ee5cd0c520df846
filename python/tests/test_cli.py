"""The `vgg` tool end to end on generated JPEG and PNG files, checked against the Python API
on the same pixels."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

import vgg
from conftest import VGG_CLI


def cli(*args, check=True):
    r = subprocess.run([VGG_CLI, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"vgg {args} failed ({r.returncode}): {r.stderr}")
    return r


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    base = (rng.random((45, 61, 3)) * 255).astype(np.uint8)
    Image.fromarray(base).save(d / "rgb.png")
    Image.fromarray(base).save(d / "photo.jpg", quality=90)
    Image.fromarray(base[:, :, 1]).save(d / "gray.png")
    Image.fromarray(np.dstack([base, np.full(base.shape[:2], 100, np.uint8)])).save(d / "alpha.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 50)
    (d / "notes.txt").write_text("not an image")
    return d


def pixels(path):
    """The RGB pixels libvgg's decoders produce: PNG exact; alpha over white."""
    im = Image.open(path)
    if im.mode == "RGBA":
        a = np.asarray(im).astype(np.uint32)
        rgb = (a[:, :, :3] * a[:, :, 3:] + 255 * (255 - a[:, :, 3:]) + 127) // 255
        return rgb.astype(np.uint8)
    return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "alpha.png", "photo.jpg"])
def test_classify_matches_the_python_api(factory, images, name):
    model, _ = factory.model("tiny")
    r = cli("classify", "-m", model, images / name, "--top", 3, "--scales", "32,40", "--flip", "--json")
    got = json.loads(r.stdout.strip().splitlines()[0])
    with vgg.Model(model) as m:
        want = m.classify(pixels(images / name), top=3, scales=[32, 40], flip=True)
    if name.endswith(".jpg"):  # Pillow and libvgg may decode JPEG with different IDCTs
        assert got["top"][0]["class"] == want[0][0]
        assert abs(got["top"][0]["probability"] - want[0][1]) < 0.05
    else:
        assert [c["class"] for c in got["top"]] == [c for c, _, _ in want]
        assert np.allclose([c["probability"] for c in got["top"]], [p for _, p, _ in want], rtol=1e-5, atol=1e-7)


def test_directory_with_bad_files_continues_and_fails_at_the_end(factory, images):
    model, _ = factory.model("tiny")
    r = cli("classify", "-m", model, images, check=False)
    assert r.returncode == 1
    for good in ("rgb.png", "gray.png", "alpha.png", "photo.jpg"):
        assert str(images / good) in r.stdout
    errors = [l for l in r.stderr.splitlines() if l.startswith("vgg:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "not a readable JPEG" in errors[0]
    assert "classified 4 of 5 images, 1 failed" in r.stderr  # notes.txt is not an image file


def test_center_crop(factory, images):
    model, _ = factory.model("tiny")
    r = cli("classify", "-m", model, images / "rgb.png", "--center-crop", 32, "--scales", 40, "--json")
    got = json.loads(r.stdout)
    img = pixels(images / "rgb.png")
    side = round(32 * 45 / 40)  # the 32x32 centre of the image resized to 40
    y0, x0 = (45 - side) // 2, (61 - side) // 2
    with vgg.Model(model) as m:
        want = m.classify(np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side]), top=5, scales=[32])
    assert [c["class"] for c in got["top"]] == [c for c, _, _ in want]


def test_features_npz(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    out = tmp_path / "f.npz"
    cli("features", "-m", model, images / "rgb.png", "--layer", "pool2", "--layer", "fc2", "--size", 40, "-o", out)
    d = np.load(out)
    with vgg.Model(model) as m:
        img = pixels(images / "rgb.png")
        # The same preprocessing as classify: resize to smaller side 40, BGR minus the means.
        h, w = 40, round(61 * 40 / 45)
        import reference as ref
        x = ref.resize_bilinear(img, h, w).astype(np.float32)[:, :, ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
        want = m.features(np.ascontiguousarray(x.transpose(2, 0, 1))[None], ["pool2", "fc2"])
    assert d["pool2"].shape == want["pool2"].shape[1:]
    assert np.allclose(d["pool2"], want["pool2"][0], rtol=1e-4, atol=1e-4)
    assert np.allclose(d["fc2"], want["fc2"][0], rtol=1e-4, atol=1e-4)


def test_pooled_descriptors_for_several_images(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    out = tmp_path / "d.npz"
    cli("features", "-m", model, images / "rgb.png", images / "gray.png", "--layer", "conv3_1", "--pool", "max",
        "--l2-normalize", "-o", out)
    d = np.load(out)
    assert d["conv3_1"].shape == (2, 16)
    assert np.allclose(np.linalg.norm(d["conv3_1"], axis=1), 1, atol=1e-5)
    assert list(d["images"]) == [str(images / "rgb.png"), str(images / "gray.png")]
    r = cli("features", "-m", model, images / "rgb.png", images / "gray.png", "--layer", "conv3_1", "-o", out, check=False)
    assert r.returncode == 64 and "--pool" in r.stderr


def test_heatmap_png_has_the_input_size(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    out = tmp_path / "h.png"
    r = cli("heatmap", "-m", model, images / "photo.jpg", "--size", 64, "-o", out)
    assert "score map" in r.stdout
    im = Image.open(out)
    assert im.size == (61, 45) and im.mode == "RGB"
    r = cli("heatmap", "-m", model, images / "photo.jpg", "--class", 99, "-o", out, check=False)
    assert r.returncode == 64 and "0…9" in r.stderr


def test_bench_json(factory):
    model, _ = factory.model("tiny")
    r = cli("bench", "-m", model, "--size", 48, "--runs", 3, "--threads", 1, "--layers", "--json")
    j = json.loads(r.stdout)
    assert j["runs"] == 3 and j["median_ms"] > 0 and j["min_ms"] <= j["median_ms"]
    assert j["gflop"] > 0 and len(j["layers"]) == 10 and j["threads"] == 1


def test_bench_layers_share_limit_and_efficiency(factory):
    """--layers: each layer's algorithm, share of the run and limit (the longer of its products
    at the given FMA peak and its weights at the given bandwidth); efficiency = limit / time."""
    model, _ = factory.model("vgg16")
    r = cli("bench", "-m", model, "--size", 224, "--runs", 1, "--warmup", 0, "--threads", 1, "--layers", "--json",
            "--peak-gflops", 100, "--bandwidth", 20)
    j = json.loads(r.stdout)
    layers = {x["name"]: x for x in j["layers"]}
    assert [layers[n]["algorithm"] for n in ("conv1_1", "conv1_2", "conv3_3", "conv4_1", "pool5", "fc6")] == \
        ["direct", "F(6×6,3×3)", "F(6×6,3×3)", "F(4×4,3×3)", "pooling", "fc"]
    # conv1_2 at 224: 38×38 tiles of 6×6, 64 points, 64×64 channel pairs; 2 FLOP per product.
    assert layers["conv1_2"]["limit_ms"] == pytest.approx(2 * 38 * 38 * 64 * 64 * 64 / 100e9 * 1e3, rel=1e-9)
    # conv1_1 direct: 224×224 pixels × 3·9 taps × 64 outputs.
    assert layers["conv1_1"]["limit_ms"] == pytest.approx(2 * 224 * 224 * 27 * 64 / 100e9 * 1e3, rel=1e-9)
    # fc6 alone on one pixel: its 25088×4096 f32 weights at 20 GB/s outlast its products.
    assert layers["fc6"]["limit_ms"] == pytest.approx(25088 * 4096 * 4 / 20e9 * 1e3, rel=1e-6)
    assert sum(x["share"] for x in j["layers"]) == pytest.approx(1, rel=1e-9)
    for x in j["layers"]:
        if x["median_ms"] > 0:
            assert x["efficiency"] == pytest.approx(x["limit_ms"] / x["median_ms"], rel=1e-9)
    assert j["limit_ms"] == pytest.approx(sum(x["limit_ms"] for x in j["layers"]), rel=1e-9)
    assert j["peak_gflops_per_thread"] == 100 and j["bandwidth_gbs"] == 20
    assert not j["peaks_measured"] and not j["bandwidth_measured"]
    r = cli("bench", "-m", model, "--runs", 1, "--peak-gflops", 0, check=False)
    assert r.returncode == 64 and "--peak-gflops" in r.stderr
    r = cli("bench", "-m", model, "--runs", 1, "--bandwidth", "nan", check=False)
    assert r.returncode == 64 and "--bandwidth" in r.stderr


def test_bench_layers_measure_the_machine_unless_told(factory):
    """Without --peak-gflops and --bandwidth, --layers measures this machine's FMA rate (per
    thread) and memory bandwidth and computes every limit from them; the peak RSS is the run's,
    not the probe's 512 MiB buffer."""
    model, _ = factory.model("vgg16")
    r = cli("bench", "-m", model, "--size", 224, "--runs", 1, "--warmup", 0, "--threads", 2, "--layers", "--json")
    j = json.loads(r.stdout)
    assert j["peaks_measured"] and j["bandwidth_measured"]
    peak, bandwidth = j["peak_gflops_per_thread"], j["bandwidth_gbs"]
    assert peak > 0 and bandwidth > 0
    layers = {x["name"]: x for x in j["layers"]}
    assert layers["conv1_2"]["limit_ms"] == pytest.approx(2 * 38 * 38 * 64 * 64 * 64 / (2 * peak * 1e9) * 1e3, rel=1e-9)
    assert layers["fc6"]["limit_ms"] == pytest.approx(25088 * 4096 * 4 / (bandwidth * 1e9) * 1e3, rel=1e-6)
    assert j["peak_rss_mb"] < 512 + 400  # the model's mapping and the run, without the probe's buffer
    # Given, only the other one is measured.
    j = json.loads(cli("bench", "-m", model, "--size", 224, "--runs", 1, "--warmup", 0, "--layers", "--json",
                       "--bandwidth", 30).stdout)
    assert j["peaks_measured"] and not j["bandwidth_measured"] and j["bandwidth_gbs"] == 30
    # A bf16 file: its Winograd layers against the rate of the arithmetic they ran.
    model, _ = factory.model("vgg16", dtype="bf16")
    for arithmetic in ("--bf16-arithmetic", "--always-bf16-arithmetic"):  # AMX tiles where there are, dot products
        j = json.loads(cli("bench", "-m", model, "--size", 224, "--runs", 1, "--warmup", 0, "--threads", 1, "--layers",
                           "--json", arithmetic, "--bandwidth", 1000).stdout)
        rate = j["amx_gflops_per_thread"] if j["amx_tiles"] else \
            j["bf16_dot_gflops_per_thread"] if j["bf16_dot_products"] else j["peak_gflops_per_thread"]
        conv4_2 = {x["name"]: x for x in j["layers"]}["conv4_2"]  # F(4×4) (always with bf16): 7×7 tiles, 36 points
        assert conv4_2["limit_ms"] == pytest.approx(2 * 49 * 36 * 512 * 512 / (rate * 1e9) * 1e3, rel=1e-9)


def test_bench_peak_rss_is_its_own(factory):
    """The peak RSS is the bench process's own, not its parent's from before the exec (as
    getrusage's ru_maxrss reports it: the demo showed 1.7 GB, its Python's size)."""
    model, _ = factory.model("tiny")
    ballast = np.ones(100_000_000, dtype=np.float32)  # 400 MB resident in this (the parent) process
    r = cli("bench", "-m", model, "--size", 48, "--runs", 1, "--threads", 1, "--json")
    assert ballast[-1] == 1 and 0 < json.loads(r.stdout)["peak_rss_mb"] < 200


def test_errors_and_help(factory, tmp_path):
    model, _ = factory.model("tiny")
    r = cli("classify", "-m", tmp_path / "missing.vgg", "x.png", check=False)
    assert r.returncode == 1 and "missing.vgg" in r.stderr
    for sub in ("info", "classify", "features", "heatmap", "bench"):
        h = cli(sub, "--help")
        assert "Examples:" in h.stdout and "Exit status" in h.stdout
    r = cli("classify", "-m", model, "x.png", "--scales", "abc", check=False)
    assert r.returncode == 64
