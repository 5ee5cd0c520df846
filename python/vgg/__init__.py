"""libvgg from Python: run VGG networks stored in .vgg files, without a deep-learning framework.

The compute happens in libvgg.so (loaded with ctypes; `VGG_LIBRARY` overrides its location).
`vgg.format` is an independent pure-Python reader of the .vgg format.
"""
from __future__ import annotations

from ._lib import Error, library_path, lib as _clib
from ._version import __version__
from .model import Model

__all__ = ["Error", "Model", "version", "version_number", "library_path", "__version__"]


def version() -> str:
    """The loaded library's version string, e.g. "0.1.0"."""
    return _clib.vgg_version().decode()


def version_number() -> int:
    """The loaded library's version as major*10000 + minor*100 + patch."""
    return int(_clib.vgg_version_number())
