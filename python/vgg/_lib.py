"""Loading libvgg.so and declaring the C functions of vgg.h for ctypes."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from pathlib import Path
from typing import List, Optional

_HERE = Path(__file__).resolve().parent

# Status codes of vgg.h (pinned values).
OK = 0
STATUS_NAMES = {
    0: "VGG_OK", 1: "VGG_ERROR_INVALID_ARGUMENT", 2: "VGG_ERROR_IO", 3: "VGG_ERROR_FORMAT",
    4: "VGG_ERROR_UNSUPPORTED", 5: "VGG_ERROR_OUT_OF_MEMORY", 6: "VGG_ERROR_BUFFER_TOO_SMALL",
    7: "VGG_ERROR_INPUT_TOO_SMALL", 8: "VGG_ERROR_CHECKSUM", 9: "VGG_ERROR_NOT_FOUND",
    10: "VGG_ERROR_NOT_IMPLEMENTED", 11: "VGG_ERROR_INTERNAL",
}
OPEN_VERIFY_CHECKSUMS = 1


class Error(Exception):
    """A libvgg call failed; `status` is the vgg_status code, `str(e)` the message (naming the
    Python call), `library_message` libvgg's own wording."""

    def __init__(self, status: int, message: str, library_message: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.status_name = STATUS_NAMES.get(status, str(status))
        self.library_message = message if library_message is None else library_message  # as libvgg worded it


def _candidates() -> List[str]:
    names = ["libvgg.so.0", "libvgg.so"]
    bundled = [str(_HERE / n) for n in names if (_HERE / n).exists()]
    if bundled:
        return bundled[:1]  # the binary wheel's own library, built with this package
    env = os.environ.get("VGG_LIBRARY")
    if env:
        return [env]  # an explicit choice is never silently replaced
    paths = [str(_HERE.parent.parent.parent / n) for n in names]  # PREFIX/lib from PREFIX/lib/python3/site-packages/vgg
    paths += [str(_HERE.parent.parent / ".build" / "release" / "libvgg.so")]  # a source checkout
    found = ctypes.util.find_library("vgg")
    paths += [found] if found else []
    paths += names  # let the dynamic loader search its standard paths
    return paths


def _load() -> ctypes.CDLL:
    # The Swift runtime inside libvgg installs crash handlers unless told not to; Python has
    # its own (faulthandler), so keep the host's behaviour unless the user chose otherwise.
    os.environ.setdefault("SWIFT_BACKTRACE", "enable=no")
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("cannot load libvgg: set VGG_LIBRARY to the path of libvgg.so; tried:\n  "
                      + "\n  ".join(errors))


lib = _load()

c_model_p = ctypes.c_void_p
c_session_p = ctypes.c_void_p


def _declare(name: str, restype, argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes


_declare("vgg_version", ctypes.c_char_p, [])
_declare("vgg_version_number", ctypes.c_uint32, [])
_declare("vgg_status_string", ctypes.c_char_p, [ctypes.c_int32])
_declare("vgg_last_error", ctypes.c_char_p, [])
_declare("vgg_model_open", ctypes.c_int32, [ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(c_model_p)])
_declare("vgg_model_open_memory", ctypes.c_int32,
         [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.POINTER(c_model_p)])
_declare("vgg_model_close", None, [c_model_p])
_declare("vgg_session_create", ctypes.c_int32, [c_model_p, ctypes.POINTER(c_session_p)])
_declare("vgg_session_free", None, [c_session_p])


def check(status: int) -> None:
    """Raises Error with the library's message unless `status` is VGG_OK."""
    if status != OK:
        message = lib.vgg_last_error().decode("utf-8", "replace")
        raise Error(status, message or lib.vgg_status_string(status).decode())


# The C function (and option macro) a libvgg message starts with: names a Python caller never used.
_C_NAMES = re.compile(r"^(vgg_[a-z0-9_]+(\(.*?\))?: )?(VGG_OPTION_[A-Z0-9_]+: )?")


def check_as(status: int, where: str) -> None:
    """Like check, with the message in the Python caller's terms: `where` (the Python call,
    e.g. "Model.forward(x)") in place of the C function's name."""
    if status != OK:
        message = lib.vgg_last_error().decode("utf-8", "replace") or lib.vgg_status_string(status).decode()
        raise Error(status, f"{where}: {_C_NAMES.sub('', message, count=1)}", library_message=message)


def library_path() -> Optional[str]:
    return getattr(lib, "_name", None)

# Model queries and runs (vgg.h).
_i64p = ctypes.POINTER(ctypes.c_int64)
_declare("vgg_model_get_info", ctypes.c_int32, [c_model_p, ctypes.c_int32, _i64p])
_declare("vgg_model_get_preprocessing", ctypes.c_int32,
         [c_model_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)])
_declare("vgg_model_name", ctypes.c_char_p, [c_model_p])
_declare("vgg_model_layer_name", ctypes.c_char_p, [c_model_p, ctypes.c_int32])
_declare("vgg_model_layer_index", ctypes.c_int32, [c_model_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32)])
_declare("vgg_model_label", ctypes.c_char_p, [c_model_p, ctypes.c_int32])
_declare("vgg_model_describe", ctypes.c_int32,
         [c_model_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)])
_declare("vgg_model_output_shape", ctypes.c_int32,
         [c_model_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64, _i64p])
_declare("vgg_session_set_option", ctypes.c_int32, [c_session_p, ctypes.c_int32, ctypes.c_int64])
_declare("vgg_session_get_option", ctypes.c_int32, [c_session_p, ctypes.c_int32, _i64p])
_declare("vgg_session_kernel_path", ctypes.c_char_p, [c_session_p])
_declare("vgg_session_workspace_bytes", ctypes.c_int32,
         [c_session_p, ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_size_t)])
_declare("vgg_session_batch_workspace_bytes", ctypes.c_int32,
         [c_session_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_size_t)])
_declare("vgg_session_held_bytes", ctypes.c_int32, [c_session_p, ctypes.POINTER(ctypes.c_size_t)])
_fp = ctypes.POINTER(ctypes.c_float)
_declare("vgg_session_forward", ctypes.c_int32,
         [c_session_p, _fp, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _fp, ctypes.c_size_t])
_declare("vgg_session_probabilities", ctypes.c_int32,
         [c_session_p, _fp, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _fp, ctypes.c_size_t])
_declare("vgg_session_features", ctypes.c_int32,
         [c_session_p, _fp, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p),
          ctypes.c_int32, ctypes.POINTER(_fp), ctypes.POINTER(ctypes.c_size_t)])
_declare("vgg_session_classify", ctypes.c_int32,
         [c_session_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32,
          ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
          ctypes.POINTER(ctypes.c_int32), _fp])

_declare("vgg_session_preprocess", ctypes.c_int32,
         [c_session_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32,
          ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, _fp, ctypes.c_size_t])

INFO = {"layer_count": 1, "class_count": 2, "input_height": 3, "input_width": 4, "parameter_count": 5,
        "channel_order": 6, "min_input_size": 7, "label_count": 8, "weight_dtype": 9, "file_size": 10,
        "format_version": 11, "kept_weight_bytes": 12}
OPTION_THREADS = 1
OPTION_FORCE_REFERENCE = 2
OPTION_ISA = 3
OPTION_WINOGRAD = 4
OPTION_BF16_ARITHMETIC = 5
OPTION_KEPT_WORKSPACE_MIB = 6
PIXELS_RGB = 0
PIXELS_BGR = 1
