"""What users do with files and options that the tools must refuse clearly or survive: FIFOs
as models, converting onto the input, replacing a model file that is open, labels files from
Windows or Keras, options out of range, help texts that must not split their examples."""
from __future__ import annotations

import json
import mmap
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import vgg
from conftest import VGG_CLI, VGG_CONVERT, run_convert


def run(tool, *args, timeout=30, env=None):
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def tiny(factory):
    return factory.caffemodel("tiny")[0]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "a.png"
    Image.fromarray((np.random.default_rng(3).random((40, 48, 3)) * 255).astype(np.uint8)).save(path)
    return path


# ---- non-regular files ---------------------------------------------------------------------

@pytest.mark.parametrize("tool,args", [
    (VGG_CONVERT, []),
    (VGG_CLI, ["info"]),
])
def test_a_fifo_is_refused_at_once(tmp_path, tool, args):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    r = run(tool, *args, fifo, timeout=20)  # a plain open() on a FIFO blocks forever
    assert r.returncode == 1
    assert "is a FIFO (named pipe), not a regular file" in r.stderr


def test_library_refuses_a_fifo_and_a_directory(tmp_path):
    fifo = tmp_path / "m.vgg"
    os.mkfifo(fifo)
    code = f"import vgg, sys\ntry:\n  vgg.Model({str(fifo)!r})\nexcept vgg.Error as e:\n  print(e)\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert "FIFO (named pipe), not a regular file" in r.stdout, r.stdout + r.stderr
    with pytest.raises(vgg.Error, match="is a directory, not a regular file"):
        vgg.Model(tmp_path)


def test_a_fifo_as_labels_file_is_refused(tmp_path, tiny):
    fifo = tmp_path / "labels.txt"
    os.mkfifo(fifo)
    r = run(VGG_CONVERT, tiny, "-o", tmp_path / "x.vgg", "--input-size", 32, "--labels", fifo, timeout=20)
    assert r.returncode == 1 and "FIFO" in r.stderr
    assert not (tmp_path / "x.vgg").exists()


# ---- output paths --------------------------------------------------------------------------

def test_output_onto_the_input_is_refused_through_links(tmp_path, tiny):
    src = tmp_path / "w.caffemodel"
    src.write_bytes(tiny.read_bytes())
    before = src.read_bytes()
    (tmp_path / "sym.vgg").symlink_to(src)
    os.link(src, tmp_path / "hard.vgg")
    for out in [src, tmp_path / "sym.vgg", tmp_path / "hard.vgg", tmp_path / "." / "w.caffemodel"]:
        r = run(VGG_CONVERT, src, "-o", out, "--input-size", 32)
        assert r.returncode == 1, out
        assert "is the input file itself" in r.stderr
    assert src.read_bytes() == before


def test_output_to_a_directory_uses_the_input_name(tmp_path, tiny):
    out = tmp_path / "out"
    out.mkdir()
    run_convert(tiny, "-o", f"{out}/", "--input-size", 32, "-q")
    run_convert(tiny, "-o", out, "--input-size", 32, "-q")
    assert sorted(p.name for p in out.iterdir()) == [tiny.with_suffix(".vgg").name]
    r = run(VGG_CONVERT, tiny, "-o", tmp_path / "missing" / "x.vgg", "--input-size", 32)
    assert r.returncode == 1 and "directory" in r.stderr and "does not exist" in r.stderr


def test_a_prototxt_is_named_as_such(tmp_path):
    p = tmp_path / "VGG_ILSVRC_16_layers_deploy.prototxt"
    p.write_text('name: "VGG_ILSVRC_16_layers"\ninput: "data"\nlayers {\n  name: "conv1_1"\n}\n')
    r = run(VGG_CONVERT, p)
    assert r.returncode == 1
    assert "text" in r.stderr and "pass the binary .caffemodel" in r.stderr


# ---- replacing a model file ----------------------------------------------------------------

def test_reconversion_replaces_by_rename_and_never_truncates(tmp_path, tiny):
    out = tmp_path / "m.vgg"
    run_convert(tiny, "-o", out, "--input-size", 32, "-q")
    old_inode, old_bytes = out.stat().st_ino, out.read_bytes()
    with open(out, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    with vgg.Model(out) as m:
        x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
        before = m.forward(x)
        run_convert(tiny, "-o", out, "--input-size", 32, "-q", "--dtype", "f16")
        assert out.stat().st_ino != old_inode  # a new file took the name
        assert mapped[:] == old_bytes           # the old inode was not truncated or rewritten
        assert np.array_equal(m.forward(x), before)  # the open model still reads the old file
    mapped.close()


# ---- labels files --------------------------------------------------------------------------

def test_crlf_labels_lose_the_carriage_return(tmp_path, tiny):
    labels = tmp_path / "synset_words.txt"
    labels.write_bytes(b"".join(b"n%08d class %d, thing\r\n" % (i, i) for i in range(10)))
    out = tmp_path / "m.vgg"
    run_convert(tiny, "-o", out, "--input-size", 32, "--labels", labels, "-q")
    with vgg.Model(out) as m:
        assert m.labels[3] == "n00000003 class 3, thing"
        assert not any("\r" in l or "\n" in l for l in m.labels)


def test_keras_class_index_json_is_a_labels_file(tmp_path, tiny):
    index = {str(i): [f"n{i:08d}", f"name_{i}"] for i in range(10)}
    labels = tmp_path / "imagenet_class_index.json"
    labels.write_text(json.dumps(index))
    out = tmp_path / "m.vgg"
    run_convert(tiny, "-o", out, "--input-size", 32, "--labels", labels, "-q")
    with vgg.Model(out) as m:
        assert m.labels[0] == "n00000000 name_0" and m.labels[9] == "n00000009 name_9"
    del index["4"]
    index["10"] = ["n1", "x"]
    labels.write_text(json.dumps(index))
    r = run(VGG_CONVERT, tiny, "-o", out, "--input-size", 32, "--labels", labels)
    assert r.returncode == 1 and 'no key "4"' in r.stderr


# ---- the vgg tool's options and messages ---------------------------------------------------

def test_a_model_that_is_not_converted_says_to_convert_it(tiny, image):
    r = run(VGG_CLI, "classify", "-m", tiny, image)
    assert r.returncode == 1
    assert str(tiny) in r.stderr and "Caffe" in r.stderr and "convert it with vgg-convert first" in r.stderr


@pytest.mark.parametrize("command", [["classify"], ["features", "--layer", "conv1_1", "-o", "f.npz"],
                                     ["heatmap", "-o", "h.png"]])
@pytest.mark.parametrize("threads", [0, 257, -1])
def test_threads_out_of_range_is_a_usage_error(factory, image, tmp_path, command, threads):
    model = factory.model("tiny")[0]
    args = command[:1] + ["-m", model, image] + [str(tmp_path / a) if a.endswith((".npz", ".png")) else a
                                                   for a in command[1:]]
    r = run(VGG_CLI, *args, f"--threads={threads}")
    assert r.returncode == 64, r.stderr
    assert f"--threads must be in 1…256, found {threads}" in r.stderr
    assert "VGG_OPTION" not in r.stderr and "vgg_" not in r.stderr


def test_bench_threads_out_of_range(factory):
    r = run(VGG_CLI, "bench", "-m", factory.model("tiny")[0], "--threads", 0, "--runs", 1)
    assert r.returncode == 64 and "--threads must be in 1…256, found 0" in r.stderr


def help_texts():
    yield [VGG_CONVERT, "--help"]
    yield [VGG_CLI, "--help"]
    for sub in ["info", "classify", "features", "heatmap", "bench"]:
        yield [VGG_CLI, sub, "--help"]


@pytest.mark.parametrize("argv", list(help_texts()), ids=lambda a: " ".join(os.path.basename(x) for x in a))
def test_help_examples_are_never_split(argv):
    r = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    # The usage synopsis is one line by design; everything else is wrapped to the terminal.
    long = [l for l in lines if len(l) > 80 and not l.startswith("USAGE:")]
    assert not long
    if "Examples:" not in lines and "Examples" not in lines:
        return
    start = lines.index("Examples:") if "Examples:" in lines else lines.index("Examples")
    examples = []
    for l in lines[start + 1:]:
        if not l.strip():
            break
        examples.append(l)
    assert examples
    for l in examples:  # every line of the block is one whole command
        assert re.match(r"^  (vgg|vgg-convert|python3) ", l), f"a split example line: {l!r}"
