"""Console-script launchers of the binary wheel: `vgg` and `vgg-convert` run the executables
bundled in vgg/bin (built with the Swift runtime linked in; their C libraries are vendored
next to the package by auditwheel)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def _run(name: str) -> None:
    path = Path(__file__).resolve().parent / "bin" / name
    if not path.exists():
        sys.exit(f"{name}: not bundled with this installation of the vgg package ({path} is missing); "
                 "install the libvgg binary wheel, or build the tools with make in a libvgg checkout")
    os.execv(str(path), [name, *sys.argv[1:]])


def vgg() -> None:
    _run("vgg")


def vgg_convert() -> None:
    _run("vgg-convert")
