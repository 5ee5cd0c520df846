"""The numbers of include/vgg.h are the contract: the Python binding's constants and the
library's accepted option values must agree with the header, read from the header itself."""
from __future__ import annotations

import ctypes
import re

import pytest

import vgg
from vgg import _lib
from conftest import ROOT

HEADER = (ROOT / "include" / "vgg.h").read_text()
DEFINES = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define VGG_([A-Z0-9_]+) (\d+)u?\b", HEADER)}
STATUSES = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(VGG_(?:OK|ERROR_[A-Z_]+)) = (\d+)", HEADER)}


def test_status_codes_match():
    assert STATUSES and {v: k for k, v in STATUSES.items()} == _lib.STATUS_NAMES


def test_every_option_info_key_and_flag_is_in_the_binding():
    options = {k[len("OPTION_"):]: v for k, v in DEFINES.items() if k.startswith("OPTION_")}
    assert options and all(getattr(_lib, f"OPTION_{name}") == v for name, v in options.items())
    infos = {k[len("INFO_"):].lower(): v for k, v in DEFINES.items() if k.startswith("INFO_")}
    assert infos == _lib.INFO
    assert _lib.PIXELS_RGB == DEFINES["PIXELS_RGB"] and _lib.PIXELS_BGR == DEFINES["PIXELS_BGR"]
    assert _lib.OPEN_VERIFY_CHECKSUMS == DEFINES["OPEN_VERIFY_CHECKSUMS"]


def test_the_library_takes_exactly_the_header_options(factory):
    path = factory.model("tiny")[0]
    model, session = ctypes.c_void_p(), ctypes.c_void_p()
    assert _lib.lib.vgg_model_open(str(path).encode(), 0, ctypes.byref(model)) == 0
    assert _lib.lib.vgg_session_create(model, ctypes.byref(session)) == 0
    try:
        value = ctypes.c_int64()
        options = sorted(v for k, v in DEFINES.items() if k.startswith("OPTION_"))
        for option in options:
            assert _lib.lib.vgg_session_get_option(session, option, ctypes.byref(value)) == 0, option
        for option in (0, options[-1] + 1):
            assert _lib.lib.vgg_session_get_option(session, option, ctypes.byref(value)) == STATUSES["VGG_ERROR_INVALID_ARGUMENT"]
        # VGG_OPTION_THREADS: "threads per run, 1..256" in the header; C and Python agree.
        assert re.search(r"VGG_OPTION_THREADS \d+\s+/\* threads per run, 1\.\.256", HEADER)
        set_option = _lib.lib.vgg_session_set_option
        assert set_option(session, DEFINES["OPTION_THREADS"], 256) == 0
        assert set_option(session, DEFINES["OPTION_THREADS"], 257) == STATUSES["VGG_ERROR_INVALID_ARGUMENT"]
        assert set_option(session, DEFINES["OPTION_THREADS"], 0) == STATUSES["VGG_ERROR_INVALID_ARGUMENT"]
    finally:
        _lib.lib.vgg_session_free(session)
        _lib.lib.vgg_model_close(model)
    with vgg.Model(path, threads=256) as m:
        assert m.threads == 256
    for bad in (0, 257):
        with pytest.raises(ValueError, match=r"1…256"):
            vgg.Model(path, threads=bad)
