"""`vgg features|classify --cluster`: the CLI hands the job to `python3 -m vgg.batch`
(Sources/vgg/BatchFront.swift); a missing optional package is one line saying how to install it."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BUILD, VGG_CLI


@pytest.fixture
def one_image(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    path = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 44, 3), dtype=np.uint8)).save(path)
    return path


def test_cluster_without_dask_says_how_to_install_it(factory, one_image, tmp_path):
    model, _ = factory.model("tiny")
    hidden = tmp_path / "no-dask"
    (hidden / "dask").mkdir(parents=True)
    (hidden / "dask" / "__init__.py").write_text("")  # an empty dask package: dask.distributed is missing
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")])))
    out = tmp_path / "out"
    for mode, extra in [("features", ["--layer", "pool1"]), ("classify", [])]:
        r = subprocess.run([VGG_CLI, mode, "-m", model, one_image, "-o", out, "--cluster", "local", *extra],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 1, (r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert lines[0].startswith("vgg: --cluster needs dask") and "pip install './python[batch]'" in lines[0]
        assert not out.exists()  # refused before any work


def test_cluster_finds_the_package_of_a_source_checkout(factory, one_image, tmp_path):
    """No PYTHONPATH: the CLI built in .build/<triple>/release finds python/vgg itself."""
    pytest.importorskip("dask.distributed")
    if Path(VGG_CLI).resolve().parent != BUILD.resolve():
        pytest.skip("the CLI under test is not this source tree's build")
    model, _ = factory.model("tiny")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if subprocess.run(["python3", "-c", "import vgg"], env=env, capture_output=True, cwd=tmp_path).returncode == 0:
        pytest.skip("a vgg package is installed: it would be found without the checkout's")
    out = tmp_path / "out"
    r = subprocess.run([VGG_CLI, "features", "-m", model, one_image, "-o", out, "--layer", "pool1",
                        "--cluster", "local", "--workers", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "index.tsv").read_text().splitlines()[1].startswith(str(one_image))
