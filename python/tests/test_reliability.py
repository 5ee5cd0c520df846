"""Faults and hostile input for the converter (a separate process): kills, file-size limits,
truncated and bit-flipped caffemodels and HDF5 files. The C library's own sweeps are in
Tests/CAPITests (corruption_sweep.c, test_capi.c under ASan/UBSan, leak_loop.c under valgrind)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import keras_fixtures as kf
from conftest import VGG_CONVERT, run_convert
from vgg import format as vf


def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_kill_9_never_leaves_a_partial_or_damaged_output(factory, tmp_path):
    src, _ = factory.caffemodel("vgg16")
    out = tmp_path / "vgg16.vgg"
    out.write_bytes(b"the previous model")
    rng = np.random.default_rng(9)
    outcomes = {"old": 0, "new": 0}
    for delay in sorted(rng.uniform(0.0, 1.2, 8)):
        p = subprocess.Popen([VGG_CONVERT, str(src), "-o", str(out), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        data = out.read_bytes()
        if data == b"the previous model":
            outcomes["old"] += 1
        else:  # it finished before the kill: then it must be the whole, valid file
            vf.read(str(out), verify_checksums=True)
            outcomes["new"] += 1
            out.write_bytes(b"the previous model")
        assert leftovers(tmp_path, {"vgg16.vgg"}) == []
    assert outcomes["old"] >= 1, outcomes


def test_file_size_limit_gives_a_clean_error(factory, tmp_path):
    src, _ = factory.caffemodel("vgg16")
    out = tmp_path / "limited.vgg"
    out.write_bytes(b"keep me")
    r = subprocess.run(["bash", "-c", f"ulimit -f 20000; exec {VGG_CONVERT} {src} -o {out}"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "File too large" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    assert leftovers(tmp_path, {"limited.vgg"}) == []


def mutations(data: bytes, count: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(count):
        if i % 2 == 0:
            yield "truncated", data[: int(rng.integers(0, len(data)))]
        else:
            b = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                at = int(rng.integers(0, len(b)))
                b[at] ^= 1 << int(rng.integers(0, 8))
            yield "flipped", bytes(b)


@pytest.mark.parametrize("kind", ["caffemodel-v1", "caffemodel-v2", "hdf5-k1", "hdf5-keras3", "hdf5-caffe"])
def test_damaged_inputs_never_crash_the_converter(factory, tmp_path, kind):
    if kind.startswith("caffemodel"):
        src, _ = factory.caffemodel("tiny", layout=kind[-2:])
        data = src.read_bytes()
    else:
        src = tmp_path / "src.h5"
        kf.write(str(src), "tiny", {"hdf5-k1": "k1-tf", "hdf5-keras3": "keras3", "hdf5-caffe": "caffe-h5"}[kind])
        data = src.read_bytes()
    bad = tmp_path / "bad.bin"
    out = tmp_path / "out.vgg"
    counts = {"converted": 0, "refused": 0}
    for how, blob in mutations(data, 150, seed=len(kind)):
        bad.write_bytes(blob)
        r = subprocess.run([VGG_CONVERT, str(bad), "-o", str(out), "--input-size", "32", "-q"], capture_output=True, text=True)
        assert r.returncode in (0, 1), f"{how} input: exit {r.returncode} (signal?) {r.stderr[-500:]}"
        if r.returncode == 0:
            counts["converted"] += 1
            vf.read(str(out), verify_checksums=True)  # whatever it wrote is a valid file
            out.unlink()
        else:
            counts["refused"] += 1
            assert r.stderr.startswith("vgg-convert: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert not out.exists()
    assert counts["refused"] > 0


FINDINGS = sorted((Path(__file__).resolve().parents[2] / "Tests" / "Fuzz" / "findings").glob("*"))


@pytest.mark.parametrize("finding", FINDINGS, ids=[f.name for f in FINDINGS])
def test_fuzz_findings_give_clean_errors(tmp_path, finding):
    """Inputs on which libhdf5 leaks, over-allocates or hangs: one line, exit 1, nothing written."""
    out = tmp_path / "out.vgg"
    r = subprocess.run([VGG_CONVERT, str(finding), "-o", str(out), "--input-size", "8", "--hdf5-timeout", "3"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("vgg-convert: ") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
