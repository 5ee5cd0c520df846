"""The bundled ImageNet label list (--labels imagenet), `vgg info --labels`, and the versions
every part reports (`--version`, vgg.__version__, include/vgg.h, pyproject)."""
from __future__ import annotations

import re
import subprocess
import numpy as np
import pytest
from PIL import Image

import vgg
from conftest import ROOT, VGG_CLI, VGG_CONVERT, run_convert


def run(tool, *args):
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def imagenet_model(factory, tmp_path_factory):
    src = factory.caffemodel("tiny1000")[0]
    out = tmp_path_factory.mktemp("labels") / "tiny1000.vgg"
    run_convert(src, "-o", out, "--input-size", 32, "--labels", "imagenet", "-q")
    return out


def test_bundled_imagenet_labels_in_caffe_order(imagenet_model):
    with vgg.Model(imagenet_model) as m:
        assert len(m.labels) == 1000
        assert m.labels[0] == "n01440764 tench, Tinca tinca"
        assert m.labels[999] == "n15075141 toilet tissue, toilet paper, bathroom tissue"
        wnids = [l.split(" ", 1)[0] for l in m.labels]
        assert wnids == sorted(wnids) and len(set(wnids)) == 1000  # synset_words.txt is sorted by wnid
        assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)


def test_vgg_info_lists_labels(imagenet_model):
    r = run(VGG_CLI, "info", imagenet_model, "--labels")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 1000
    assert lines[0] == "0\tn01440764 tench, Tinca tinca" and lines[999].startswith("999\tn15075141 toilet tissue")


def test_classify_labels_for_a_model_without_them(factory, tmp_path):
    src = factory.caffemodel("tiny1000")[0]
    bare = tmp_path / "bare.vgg"
    run_convert(src, "-o", bare, "--input-size", 32, "-q")
    image = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(1).random((36, 40, 3)) * 255).astype(np.uint8)).save(image)
    plain = run(VGG_CLI, "classify", "-m", bare, image, "--top", 3)
    named = run(VGG_CLI, "classify", "-m", bare, image, "--top", 3, "--labels", "imagenet")
    assert plain.returncode == 0 and named.returncode == 0
    classes = [int(c) for c in re.findall(r"class (\d+)", plain.stdout)]
    names = [l.split("  ", 2)[-1].strip() for l in named.stdout.splitlines()[1:]]
    with vgg.Model(bare) as m:
        assert m.labels == []
    # The names printed are the bundled labels of the same class indices.
    labelled = tmp_path / "labelled.vgg"
    run_convert(src, "-o", labelled, "--input-size", 32, "--labels", "imagenet", "-q")
    with vgg.Model(labelled) as m:
        assert len(classes) == 3 and names == [m.labels[c] for c in classes]
    wrong = run(VGG_CLI, "classify", "-m", factory.model("tiny")[0], image, "--labels", "imagenet")
    assert wrong.returncode == 64 and "has 1000 labels, the model has 10 classes" in wrong.stderr


def test_versions_agree():
    header = (ROOT / "include" / "vgg.h").read_text()
    version = re.search(r'#define VGG_VERSION_STRING "([^"]+)"', header).group(1)
    assert vgg.__version__ == version == vgg.version()
    for tool in (VGG_CLI, VGG_CONVERT):
        r = run(tool, "--version")
        assert r.returncode == 0
        assert r.stdout.strip() == f"libvgg {version}, .vgg format version 2 (reads 1…2)"
    assert (ROOT / "python" / "vgg" / "py.typed").exists()


def test_model_repr(imagenet_model):
    m = vgg.Model(imagenet_model)
    assert repr(m) == (f"<vgg.Model 'tiny_vgg_1000' from {str(imagenet_model)!r}: "
                       f"{len(m.info['layers'])} layers, 1000 classes, {m.info['parameters']:,} parameters>")
    m.close()
    assert repr(m).endswith(", closed>")
