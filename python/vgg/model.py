"""The Model class: an opened .vgg file and a session to run it."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._lib import check, lib

_float_p = ctypes.POINTER(ctypes.c_float)


def _as_input(x) -> Tuple[np.ndarray, bool]:
    """C-contiguous float32 N×3×H×W (no copy when it already is); whether a batch axis was added."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim == 3:
        return a[np.newaxis], True
    if a.ndim != 4:
        raise ValueError(f"expected an array of shape (N, 3, H, W) or (3, H, W), got {a.shape}")
    if a.shape[1] != 3:
        raise ValueError(f"expected 3 channels on axis 1, got shape {a.shape}")
    return a, False


class _ModelHandle:
    """One vgg_model handle shared by a Model and its forks; closed when the last one goes."""

    def __init__(self, handle: ctypes.c_void_p):
        self.handle = handle

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            lib.vgg_model_close(self.handle)
            self.handle = None


class Model:
    """A .vgg model opened by libvgg (memory-mapped, validated) with one session to run it.

    `threads` sets the threads each run uses (default 1). The compute runs in C with the GIL
    released. One Model must not be used by two threads at once: give each thread its own
    `fork()` (a new session on the same opened model, sharing its memory).
    Use as a context manager or call close().
    """

    def __init__(self, path: Union[str, os.PathLike], threads: Optional[int] = None,
                 verify_checksums: bool = False, _shared: Optional["Model"] = None):
        self._session = ctypes.c_void_p()
        if _shared is not None:
            self._shared = _shared._shared
        else:
            handle = ctypes.c_void_p()
            flags = _lib.OPEN_VERIFY_CHECKSUMS if verify_checksums else 0
            check(lib.vgg_model_open(os.fsencode(path), flags, ctypes.byref(handle)))
            self._shared = _ModelHandle(handle)
        self._model = self._shared.handle
        try:
            check(lib.vgg_session_create(self._model, ctypes.byref(self._session)))
            if threads is not None:
                self.threads = threads
            self.info: Dict = _shared.info if _shared is not None else self._describe()
            self.labels: List[str] = _shared.labels if _shared is not None else \
                [lib.vgg_model_label(self._model, i).decode("utf-8") for i in range(self.info["labels"])]
        except BaseException:
            self.close()
            raise
        self.path = os.fspath(path)

    def fork(self, threads: Optional[int] = None) -> "Model":
        """A new Model with its own session on the same opened model (no new mapping, no copy):
        the way to run one model from several Python threads, one fork per thread."""
        self._handle()
        return Model(self.path, threads=threads, _shared=self)

    # ---- properties ------------------------------------------------------------------

    def _describe(self) -> Dict:
        length = ctypes.c_size_t()
        check(lib.vgg_model_describe(self._model, None, 0, ctypes.byref(length)))
        buf = ctypes.create_string_buffer(length.value + 1)
        check(lib.vgg_model_describe(self._model, buf, len(buf), ctypes.byref(length)))
        return json.loads(buf.value.decode("utf-8"))

    def _handle(self):
        if not self._session:
            raise _lib.Error(1, "the model is closed")
        return self._session

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def class_count(self) -> int:
        return self.info["classes"]

    @property
    def layer_names(self) -> List[str]:
        return [l["name"] for l in self.info["layers"]]

    def _get_option(self, option: int) -> int:
        v = ctypes.c_int64()
        check(lib.vgg_session_get_option(self._handle(), option, ctypes.byref(v)))
        return v.value

    def _set_option(self, option: int, value: int) -> None:
        check(lib.vgg_session_set_option(self._handle(), option, int(value)))

    threads = property(lambda self: self._get_option(_lib.OPTION_THREADS),
                       lambda self, n: self._set_option(_lib.OPTION_THREADS, n),
                       doc="Threads each run uses (1…256).")
    force_reference = property(lambda self: bool(self._get_option(_lib.OPTION_FORCE_REFERENCE)),
                               lambda self, on: self._set_option(_lib.OPTION_FORCE_REFERENCE, bool(on)),
                               doc="Run the naive reference kernels (slow; for checking).")
    isa = property(lambda self: self._get_option(_lib.OPTION_ISA),
                   lambda self, level: self._set_option(_lib.OPTION_ISA, level),
                   doc="Kernel ISA level: 0 best available, 1 baseline x86-64, 2 x86-64-v3, 3 x86-64-v4.")
    winograd = property(lambda self: bool(self._get_option(_lib.OPTION_WINOGRAD)),
                        lambda self, on: self._set_option(_lib.OPTION_WINOGRAD, bool(on)),
                        doc="Whether 3×3 layers may run as Winograd F(4×4, 3×3) or F(6×6, 3×3) (default True).")
    winograd_tile = property(lambda self: {4: 4, 6: 6}.get(self._get_option(_lib.OPTION_WINOGRAD), 0),
                             lambda self, tile: self._set_option(_lib.OPTION_WINOGRAD, tile or 1),
                             doc="Winograd tile on every Winograd layer: 4 for F(4×4, 3×3), 6 for F(6×6, 3×3), "
                                 "0 (default) to pick per layer by cost. Setting it turns Winograd on.")
    bf16_arithmetic = property(lambda self: bool(self._get_option(_lib.OPTION_BF16_ARITHMETIC)),
                               lambda self, on: self._set_option(_lib.OPTION_BF16_ARITHMETIC, bool(on)),
                               doc="For bf16-weight models: Winograd products as bf16 dot products on "
                                   "CPUs with AVX512-BF16 (default True); False computes in f32.")

    @property
    def kernel_path(self) -> str:
        """The kernels in use: "x86-64-v4", "x86-64-v3", "x86-64" or "reference"."""
        return lib.vgg_session_kernel_path(self._handle()).decode()

    def output_shape(self, height: int, width: int, layer: Optional[str] = None) -> Tuple[int, int, int]:
        """(C, h, w) of `layer` (default: the class score map) for one height×width input."""
        shape = (ctypes.c_int64 * 3)()
        self._handle()
        check(lib.vgg_model_output_shape(self._model, layer.encode() if layer else None, height, width, shape))
        return tuple(shape)

    def workspace_bytes(self, height: int, width: int) -> int:
        n = ctypes.c_size_t()
        check(lib.vgg_session_workspace_bytes(self._handle(), height, width, ctypes.byref(n)))
        return n.value

    # ---- runs ------------------------------------------------------------------------

    def forward(self, x) -> np.ndarray:
        """Raw class score map (before soft-max) of preprocessed images: (N,3,H,W) → (N,K,h,w)."""
        a, added = _as_input(x)
        n, _, h, w = a.shape
        k, oh, ow = self.output_shape(h, w)
        out = np.empty((n, k, oh, ow), dtype=np.float32)
        check(lib.vgg_session_forward(self._handle(), a.ctypes.data_as(_float_p), n, h, w,
                                      out.ctypes.data_as(_float_p), out.size))
        return out[0] if added else out

    def probabilities(self, x) -> np.ndarray:
        """Class probabilities (N,K): the score map averaged over space, then soft-max."""
        a, added = _as_input(x)
        n, _, h, w = a.shape
        out = np.empty((n, self.class_count), dtype=np.float32)
        check(lib.vgg_session_probabilities(self._handle(), a.ctypes.data_as(_float_p), n, h, w,
                                            out.ctypes.data_as(_float_p), out.size))
        return out[0] if added else out

    def features(self, x, layers: Union[str, Sequence[str]]) -> Dict[str, np.ndarray]:
        """Outputs of the named layers (Caffe names or Keras aliases) in one pass: name → (N,C,h,w)."""
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ValueError("features: give at least one layer name")
        a, added = _as_input(x)
        n, _, h, w = a.shape
        outs = []
        for name in names:
            shape = self.output_shape(h, w, name)
            outs.append(np.empty((n,) + shape, dtype=np.float32))
        c_names = (ctypes.c_char_p * len(names))(*[s.encode() for s in names])
        c_outs = (_float_p * len(names))(*[o.ctypes.data_as(_float_p) for o in outs])
        c_caps = (ctypes.c_size_t * len(names))(*[o.size for o in outs])
        check(lib.vgg_session_features(self._handle(), a.ctypes.data_as(_float_p), n, h, w, c_names, len(names),
                                       c_outs, c_caps))
        return {name: (o[0] if added else o) for name, o in zip(names, outs)}

    def preprocess(self, pixels, size: Optional[int] = None, channel_order: str = "rgb", flip: bool = False) -> np.ndarray:
        """An 8-bit H×W×3 image resized so its smaller side is `size` (default: the model's
        training size) and preprocessed for the model: (1, 3, h, w) float32, ready for
        forward() and features(). The resampling is the one classify() uses."""
        p = np.ascontiguousarray(pixels, dtype=np.uint8)
        if p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(f"expected uint8 pixels of shape (H, W, 3), got {p.shape}")
        order = {"rgb": _lib.PIXELS_RGB, "bgr": _lib.PIXELS_BGR}.get(channel_order.lower())
        if order is None:
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        q = size or min(self.info["input_size"])
        h, w = p.shape[:2]
        oh, ow = (q, max(1, int(np.floor(w * q / h + 0.5)))) if h <= w else (max(1, int(np.floor(h * q / w + 0.5))), q)
        out = np.empty((1, 3, oh, ow), dtype=np.float32)
        check(lib.vgg_session_preprocess(self._handle(), p.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), w, h, p.strides[0],
                                         order, oh, ow, 1 if flip else 0, out.ctypes.data_as(_float_p), out.size))
        return out

    def classify(self, pixels, top: int = 5, scales: Optional[Sequence[int]] = None, flip: bool = False,
                 channel_order: str = "rgb") -> List[Tuple[int, float, Optional[str]]]:
        """Dense multi-scale evaluation of an 8-bit H×W×3 image (see vgg_session_classify).

        Returns [(class index, probability, label or None)], most probable first.
        """
        p = np.ascontiguousarray(pixels, dtype=np.uint8)
        if p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(f"expected uint8 pixels of shape (H, W, 3), got {p.shape}")
        order = {"rgb": _lib.PIXELS_RGB, "bgr": _lib.PIXELS_BGR}.get(channel_order.lower())
        if order is None:
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        qs = list(scales or [])
        c_scales = (ctypes.c_int32 * max(1, len(qs)))(*qs)
        classes = (ctypes.c_int32 * top)()
        probs = (ctypes.c_float * top)()
        h, w = p.shape[:2]
        check(lib.vgg_session_classify(self._handle(), p.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), w, h,
                                       p.strides[0], order, c_scales, len(qs), 1 if flip else 0, top, classes, probs))
        return [(int(c), float(pr), self.labels[c] if self.labels else None) for c, pr in zip(classes, probs)]

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Releases the session, and the model once no fork uses it; later calls raise vgg.Error."""
        if getattr(self, "_session", None):
            lib.vgg_session_free(self._session)
            self._session = ctypes.c_void_p()
        self._model = ctypes.c_void_p()
        self._shared = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
