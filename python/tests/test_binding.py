"""Tests of the ctypes binding that need no model file."""
import re

import pytest

import vgg
from vgg import _lib


def test_version_matches_header():
    header = open(_lib._HERE.parent.parent / "include" / "vgg.h").read()
    expected = re.search(r'#define VGG_VERSION_STRING "([^"]+)"', header).group(1)
    assert vgg.version() == expected
    major, minor, patch = (int(x) for x in expected.split("."))
    assert vgg.version_number() == major * 10000 + minor * 100 + patch


def test_every_status_has_a_string():
    for code in _lib.STATUS_NAMES:
        assert _lib.lib.vgg_status_string(code)
    assert _lib.lib.vgg_status_string(999) == b"unknown status code"


def test_missing_file_raises_with_library_message(tmp_path):
    missing = tmp_path / "missing.vgg"
    with pytest.raises(vgg.Error) as e:
        vgg.Model(missing)
    assert e.value.status_name == "VGG_ERROR_NOT_FOUND"
    assert str(missing) in str(e.value)


def test_not_a_model_raises_format_error(tmp_path):
    bad = tmp_path / "bad.vgg"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(vgg.Error) as e:
        vgg.Model(bad)
    assert e.value.status_name == "VGG_ERROR_FORMAT"
    assert "magic" in str(e.value)


def test_library_path_is_reported():
    assert vgg.library_path()


def test_pyproject_is_valid():
    """pyproject.toml passes setuptools' own validation (what `pip install ./python` runs first)."""
    from setuptools.config.pyprojecttoml import read_configuration
    config = read_configuration(str(_lib._HERE.parent / "pyproject.toml"))
    assert config["project"]["name"] == "libvgg"  # the distribution; the import package is vgg
    assert config["project"]["version"] == vgg.__version__  # read from vgg/_version.py
    assert "batch" in config["project"]["optional-dependencies"]
    assert config["project"]["readme"]


def test_library_messages_are_reworded_for_the_python_call():
    """The C function a libvgg message starts with is replaced by the Python call's name; the
    library's own wording stays available."""
    status = _lib.lib.vgg_session_set_option(None, _lib.OPTION_THREADS, 2)
    with pytest.raises(vgg.Error) as e:
        _lib.check_as(status, "Model.threads = 2")
    assert str(e.value) == "Model.threads = 2: session is NULL"
    assert e.value.library_message == "vgg_session_set_option: session is NULL"
    assert e.value.status_name == "VGG_ERROR_INVALID_ARGUMENT"
    _lib.check_as(_lib.OK, "not raised")
