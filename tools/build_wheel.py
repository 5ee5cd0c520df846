#!/usr/bin/env python3
"""build_wheel.py BUILD_DIR DIST_DIR: the libvgg binary wheel.

Stages python/vgg with BUILD_DIR's libvgg.so and the vgg / vgg-convert executables (built with
--static-swift-stdlib, so they need no Swift runtime), builds a py3-none wheel with setuptools,
then lets auditwheel vendor the C libraries the executables load (libhdf5 and its dependencies,
libprotobuf-c, libjpeg, libpng) and tag the wheel with the glibc it needs (manylinux_2_36 when
built on Debian 12).
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = "manylinux_2_36_x86_64"


def main() -> int:
    build, dist = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    stage = ROOT / "build" / "wheel" / "stage"
    raw = ROOT / "build" / "wheel" / "raw"
    shutil.rmtree(stage.parent, ignore_errors=True)
    package = stage / "vgg"
    (package / "bin").mkdir(parents=True)
    for f in (ROOT / "python" / "vgg").iterdir():
        if f.suffix == ".py" or f.name == "py.typed":
            shutil.copy2(f, package / f.name)
    shutil.copy2(ROOT / "python" / "README.md", stage / "README.md")
    shutil.copy2(build / "libvgg.so", package / "libvgg.so")
    for source, name in [("vgg-cli", "vgg"), ("vgg-convert", "vgg-convert")]:
        shutil.copy2(build / source, package / "bin" / name)
        subprocess.run(["strip", "--strip-unneeded", str(package / "bin" / name)], check=True)
    subprocess.run(["strip", "--strip-unneeded", str(package / "libvgg.so")], check=True)

    project = (ROOT / "python" / "pyproject.toml").read_text()
    project = project.replace('[tool.setuptools.package-data]\nvgg = ["py.typed"]',
                              '[tool.setuptools.package-data]\nvgg = ["py.typed", "libvgg.so", "bin/*"]')
    project += '\n[project.scripts]\nvgg = "vgg._tools:vgg"\nvgg-convert = "vgg._tools:vgg_convert"\n'
    (stage / "pyproject.toml").write_text(project)
    # A py3-none wheel for Linux x86-64: the Python code is version-independent, the binaries are not.
    (stage / "setup.cfg").write_text("[bdist_wheel]\npython_tag = py3\nplat_name = linux_x86_64\n")

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(raw), str(stage)], check=True)
    wheels = list(raw.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {raw}, found {wheels}")
    dist.mkdir(parents=True, exist_ok=True)
    for old in dist.glob("libvgg-*.whl"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "auditwheel", "repair", "--plat", PLATFORM, "-w", str(dist), str(wheels[0])],
                   check=True)
    built = list(dist.glob(f"libvgg-*-py3-none-*{PLATFORM}*.whl"))
    if len(built) != 1:
        raise SystemExit(f"expected one repaired wheel in {dist}, found {built}")
    print(f"{built[0]}: {built[0].stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
