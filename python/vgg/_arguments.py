"""Checks of the arguments Python callers pass, made before anything reaches ctypes or allocates.

ctypes silently truncates integers (2**32 + 256 becomes 256) and NumPy silently casts (a float
image in [0, 1] becomes black uint8), so every value is checked here and refused with a
TypeError (wrong kind) or ValueError (wrong value) that names the call and the argument the
way the caller wrote them, e.g. "Model(threads=0): expected 1…256, got 0".
"""
from __future__ import annotations

import operator
from typing import List, Optional, Sequence

import numpy as np

MAX_SIDE = 65536       # Session.maxSide: largest input height or width
MAX_BATCH = 65536      # Session.maxBatch: most images in one run
MAX_SCALES = 64        # vgg_session_classify: most scales
MAX_LAYERS = 1024      # vgg_session_features: most layers in one pass


def shown(value) -> str:
    """A short repr for messages (a huge array passed by mistake must not flood them)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def at(where: str, value) -> str:
    """The call as the caller wrote it: `where` with "{}" replaced by the value."""
    return where.replace("{}", shown(value))


def integer(value, lo: int, hi: int, where: str) -> int:
    """`value` as an int in lo…hi; `where` is the call with "{}" where the value goes.
    bool is refused: True is not a thread count."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{at(where, value)}: expected an integer in {lo}…{hi}, got a bool")
    try:
        n = operator.index(value)  # int and NumPy integers; not float, str or arrays
    except TypeError:
        raise TypeError(f"{at(where, value)}: expected an integer in {lo}…{hi}, "
                        f"got {type(value).__name__}") from None
    if not lo <= n <= hi:
        raise ValueError(f"{at(where, value)}: expected {lo}…{hi}, got {n}")
    return n


def choice(value, allowed: Sequence[int], where: str) -> int:
    """`value` as an int that is one of `allowed`."""
    n = integer(value, min(allowed), max(allowed), where)
    if n not in allowed:
        listed = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
        raise ValueError(f"{at(where, value)}: expected {listed}, got {n}")
    return n


def flag(value, where: str) -> bool:
    """True or False only: a string such as "no" is truthy and must not switch a flag on."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{at(where, value)}: expected True or False, got {type(value).__name__}")
    return bool(value)


def layer_name(name, where: str) -> bytes:
    """A layer name as the NUL-terminated bytes C reads; a NUL inside would cut it short."""
    if not isinstance(name, str):
        raise TypeError(f"{at(where, name)}: expected a layer name (str), got {type(name).__name__}")
    if "\0" in name:
        raise ValueError(f"{at(where, name)}: layer name {name!r} contains a NUL character")
    return name.encode("utf-8")


def layer_names(layers, where: str) -> List[str]:
    """One name or a sequence of 1…MAX_LAYERS names, each checked by layer_name."""
    names = [layers] if isinstance(layers, str) else layers
    if isinstance(names, (bytes, bytearray)) or not isinstance(names, Sequence):
        raise TypeError(f"{at(where, layers)}: expected a layer name or a list of layer names, "
                        f"got {type(layers).__name__}")
    names = list(names)
    if not 1 <= len(names) <= MAX_LAYERS:
        raise ValueError(f"{at(where, layers)}: expected 1…{MAX_LAYERS} layer names, got {len(names)}")
    for name in names:
        layer_name(name, where)
    return names


def channel_order(value, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{at(where, value)}: expected 'rgb' or 'bgr', got {type(value).__name__}")
    order = value.lower()
    if order not in ("rgb", "bgr"):
        raise ValueError(f"{at(where, value)}: expected 'rgb' or 'bgr', got {value!r}")
    return order


def scales(value, where: str) -> List[int]:
    """None (the model's training size) or a sequence of 0…MAX_SCALES smaller sides in 1…MAX_SIDE."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{at(where, value)}: expected a list of smaller sides such as [256, 384], "
                        f"got {type(value).__name__}")
    items = list(value)
    if len(items) > MAX_SCALES:
        raise ValueError(f"{at(where, value)}: expected at most {MAX_SCALES} scales, got {len(items)}")
    return [integer(q, 1, MAX_SIDE, at(where, value) + f": scales[{i}]") for i, q in enumerate(items)]


def pixels(value, where: str) -> np.ndarray:
    """An 8-bit H×W×3 image as a C-contiguous uint8 array (no copy when it already is one).
    Any other dtype is refused, not cast: a float image in [0, 1] would become black, int16
    values would wrap."""
    a = np.asarray(value)
    if a.dtype != np.uint8:
        hint = " (a float image in [0, 1]: (x * 255).round().astype(np.uint8))" if a.dtype.kind == "f" else ""
        raise TypeError(f"{where}: expected uint8 pixels of shape (H, W, 3), got dtype {a.dtype}{hint}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{where}: expected uint8 pixels of shape (H, W, 3), got shape {a.shape}")
    h, w = a.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"{where}: expected height and width in 1…{MAX_SIDE}, got {h}×{w}")
    return np.ascontiguousarray(a)


def images(value, where: str):
    """Preprocessed images as C-contiguous float32 N×3×H×W (no copy when they already are) and
    whether a batch axis was added to a 3×H×W image. Floating-point input only: integer pixels
    are not preprocessed (no mean subtracted, wrong channel order), so they are refused."""
    a = np.asarray(value)
    if a.dtype.kind != "f":
        hint = "; 8-bit pixels go through Model.preprocess() first (or classify())" \
            if a.dtype.kind in "uib" else ""
        raise TypeError(f"{where}: expected preprocessed float images (N, 3, H, W) or (3, H, W), "
                        f"got dtype {a.dtype}{hint}")
    if a.ndim not in (3, 4) or a.shape[-3] != 3:
        hint = " (an H×W×3 image? Model.preprocess() makes (1, 3, H, W) from 8-bit pixels)" \
            if a.ndim == 3 and a.shape[2] == 3 else ""
        raise ValueError(f"{where}: expected NCHW or CHW with 3 channels, got shape {a.shape}{hint}")
    added = a.ndim == 3
    if added:
        a = a[np.newaxis]
    n, _, h, w = a.shape
    if not 1 <= n <= MAX_BATCH:
        raise ValueError(f"{where}: expected 1…{MAX_BATCH} images, got {n}")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"{where}: expected height and width in 1…{MAX_SIDE}, got {h}×{w}")
    return np.ascontiguousarray(a, dtype=np.float32), added


def optional_size(value, where: str) -> Optional[int]:
    return None if value is None else integer(value, 1, MAX_SIDE, where)
