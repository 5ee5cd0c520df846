"""The Model class: an opened .vgg file and a session to run it."""
from __future__ import annotations

import ctypes
import os
from typing import Optional, Union

from . import _lib
from ._lib import check, lib


class Model:
    """A .vgg model opened by libvgg (memory-mapped, validated).

    Use as a context manager or call close(). Not thread-safe: give each thread its own Model
    (the file's pages are shared, so this costs little memory).
    """

    def __init__(self, path: Union[str, os.PathLike], threads: Optional[int] = None,
                 verify_checksums: bool = False):
        self._model = ctypes.c_void_p()
        self._session = ctypes.c_void_p()
        flags = _lib.OPEN_VERIFY_CHECKSUMS if verify_checksums else 0
        check(lib.vgg_model_open(os.fsencode(path), flags, ctypes.byref(self._model)))
        try:
            check(lib.vgg_session_create(self._model, ctypes.byref(self._session)))
        except BaseException:
            self.close()
            raise
        self.path = os.fspath(path)
        self.threads = threads

    def close(self) -> None:
        """Releases the session and the model; further calls raise vgg.Error."""
        if getattr(self, "_session", None):
            lib.vgg_session_free(self._session)
            self._session = ctypes.c_void_p()
        if getattr(self, "_model", None):
            lib.vgg_model_close(self._model)
            self._model = ctypes.c_void_p()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
