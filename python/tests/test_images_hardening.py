"""The `vgg` tool on hostile and damaged images and failing writes: sizes are refused before
anything of that size is allocated (each run under a tight address-space limit, so an
attempted large allocation fails the test), corrupt data is an error, and a failed write
leaves the previous output file intact."""
from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import VGG_CLI

# Address space each run gets: a tiny-model run needs well under 100 MB, and every refusal
# below must come before any allocation of the refused size.
ADDRESS_SPACE = 512 << 20


def cli(*args, address_space=ADDRESS_SPACE, file_size=None):
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return subprocess.run([VGG_CLI, *map(str, args), "--threads", "1"], capture_output=True, text=True,
                          preexec_fn=limits, env={**os.environ, "SWIFT_BACKTRACE": "enable=no"})


def refused(r, *words):
    """Exit status 1 (never a signal) with one 'vgg:' line containing `words`."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vgg: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(width, height, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_declaring(width, height, progressive) -> bytes:
    """A small JPEG whose frame header (SOF0/SOF2) declares width x height."""
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buf, "JPEG", quality=50, progressive=progressive)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    assert sof > 0
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(7)
    base = (rng.random((45, 61, 3)) * 255).astype(np.uint8)
    Image.fromarray(base).save(d / "ok.png")
    Image.fromarray(base).save(d / "ok.jpg", quality=90)
    # 1 x 65535 and 10 x 65535: a few hundred bytes each; resized to a smaller side of 32
    # they are 32 x 2097120 and 32 x 209712.
    Image.fromarray(np.zeros((65535, 1, 3), np.uint8)).save(d / "tall1.png")
    Image.fromarray(np.zeros((65535, 10, 3), np.uint8)).save(d / "tall10.png")
    # Truncated JPEGs (baseline and progressive) and PNG.
    big = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    for name, progressive in (("cut.jpg", False), ("cut-progressive.jpg", True)):
        buf = io.BytesIO()
        Image.fromarray(big).save(buf, "JPEG", quality=90, progressive=progressive)
        (d / name).write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "PNG")
    (d / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    # A PNG whose image data stream carries bytes past its end (libpng: "Extra compressed data").
    rows = b"".join(b"\0" + big[y].tobytes() for y in range(big.shape[0]))
    (d / "extra-data.png").write_bytes(png_file(160, 120, zlib.compress(rows) + b"\x13" * 64))
    # Headers declaring huge images over a few hundred bytes of data.
    (d / "huge-progressive.jpg").write_bytes(jpeg_declaring(65500, 65500, progressive=True))
    (d / "huge-baseline.jpg").write_bytes(jpeg_declaring(16384, 16384, progressive=False))
    (d / "huge.png").write_bytes(png_file(65535, 65535, zlib.compress(b"\0" * 1000)))
    return d


def test_features_and_heatmap_refuse_an_oversized_input_before_allocating_it(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    out_npz, out_png = tmp_path / "f.npz", tmp_path / "h.png"
    refused(cli("features", "-m", model, images / "tall1.png", "--layer", "conv1_1", "-o", out_npz), "32×2097120", "--max-pixels")
    refused(cli("heatmap", "-m", model, images / "tall1.png", "-o", out_png), "resized", "--max-pixels")
    refused(cli("features", "-m", model, images / "ok.png", "--layer", "conv1_1", "--size", 65536, "-o", out_npz), "65536")
    refused(cli("heatmap", "-m", model, images / "ok.png", "--size", 65536, "-o", out_png), "65536")
    assert not out_npz.exists() and not out_png.exists()


def test_an_allocation_that_fails_is_an_error_not_an_abort(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    # Within --max-pixels, but the 10844 x 8000 input (1 GB of floats) does not fit the limit.
    for args in (["features", "--layer", "conv1_1", "-o", tmp_path / "f.npz"], ["heatmap", "-o", tmp_path / "h.png"]):
        r = cli(*args[:1], "-m", model, images / "ok.png", *args[1:], "--size", 8000, "--max-pixels", 10**8)
        refused(r, "cannot allocate")


def test_classify_checks_the_resized_size_before_resizing(factory, images):
    model, _ = factory.model("tiny")
    line = refused(cli("classify", "-m", model, images / "tall10.png"), "32×209712")
    assert "allocate" not in line


def test_max_pixels_is_the_documented_default_and_can_be_changed(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    assert cli("classify", "-m", model, images / "ok.png").returncode == 0
    refused(cli("classify", "-m", model, images / "ok.png", "--max-pixels", 2000), "2745", "at most 2000")
    refused(cli("features", "-m", model, images / "ok.png", "--layer", "conv1_1", "--max-pixels", 2000,
                "-o", tmp_path / "f.npz"), "at most 2000")
    refused(cli("heatmap", "-m", model, images / "ok.png", "--max-pixels", 2000, "-o", tmp_path / "h.png"), "at most 2000")
    # The smaller side 32 input of ok.png is 43 x 32 = 1376 pixels: the resized size is checked too.
    refused(cli("classify", "-m", model, images / "ok.png", "--scales", 64, "--max-pixels", 3000), "at most 3000")


@pytest.mark.parametrize("name, width, height", [
    ("huge-progressive.jpg", 65500, 65500), ("huge-baseline.jpg", 16384, 16384), ("huge.png", 65535, 65535)])
def test_declared_size_is_refused_from_the_header(factory, images, name, width, height):
    model, _ = factory.model("tiny")
    assert (images / name).stat().st_size < 2000
    refused(cli("classify", "-m", model, images / name), f"{width} x {height}", "at most 67108864", "--max-pixels")


@pytest.mark.parametrize("name, message", [
    ("cut.jpg", "Premature end of JPEG file"), ("cut-progressive.jpg", "Premature end of JPEG file"),
    ("cut.png", "not a readable PNG"), ("extra-data.png", "Extra compressed data")])
def test_truncated_or_corrupt_image_data_is_an_error(factory, images, name, message):
    model, _ = factory.model("tiny")
    refused(cli("classify", "-m", model, images / name), name, message)
    if name.startswith("cut"):  # the Python batch path (Pillow) refuses the same files
        with pytest.raises(OSError):
            Image.open(images / name).load()


def test_good_files_still_decode(factory, images, tmp_path):
    model, _ = factory.model("tiny")
    for name in ("ok.png", "ok.jpg"):
        assert cli("classify", "-m", model, images / name).returncode == 0


@pytest.mark.parametrize("command", ["features", "heatmap"])
def test_a_failed_write_leaves_the_previous_output_intact(factory, images, tmp_path, command):
    model, _ = factory.model("tiny")
    out = tmp_path / ("old.npz" if command == "features" else "old.png")
    extra = ["--layer", "conv1_1"] if command == "features" else []
    assert cli(command, "-m", model, images / "ok.png", *extra, "-o", out).returncode == 0
    previous = out.read_bytes()
    assert len(previous) > 2048
    # A file-size limit (as a full disk would) makes the write of the new file fail.
    r = cli(command, "-m", model, images / "ok.jpg", *extra, "-o", out, file_size=1024)
    refused(r, "File too large")
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    # And without the limit the new output replaces it.
    assert cli(command, "-m", model, images / "ok.jpg", *extra, "-o", out).returncode == 0
    assert out.read_bytes() != previous
