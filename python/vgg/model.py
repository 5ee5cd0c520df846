"""The Model class: an opened .vgg file and the pool of sessions that runs it."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _arguments as arg
from . import _lib
from ._lib import check_as, lib
from ._sessions import SessionPool

_float_p = ctypes.POINTER(ctypes.c_float)
_PIXEL_FORMATS = {"rgb": _lib.PIXELS_RGB, "bgr": _lib.PIXELS_BGR}


class _ModelHandle:
    """One vgg_model handle shared by a Model and its forks; closed when the last one goes."""

    def __init__(self, handle: ctypes.c_void_p):
        self.handle = handle

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            lib.vgg_model_close(self.handle)
            self.handle = None


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Model:
    """A .vgg model opened by libvgg (memory-mapped, validated) and the sessions that run it.

    `threads` sets the threads each run uses (default 1). The compute runs in C with the GIL
    released, and one Model may be shared by any number of Python threads: each running call
    gets a session of its own from a pool that grows on demand up to `max_sessions` (default:
    the CPUs this process may use; more callers wait for a free session). Results do not
    depend on which session runs a call. Options set on the Model (threads, isa,
    force_reference, winograd, winograd_tile, bf16_arithmetic) apply to every call that starts
    after the assignment, on whichever session (an assignment is checked by the library on one
    session, so it waits for a free one). Each session keeps its workspace for reuse,
    so memory grows with the number of sessions in use at once. `fork()` gives a Model with a
    pool and options of its own on the same opened model.

    Arguments are checked before anything reaches the library: a wrong kind raises TypeError,
    a wrong value ValueError, both naming the argument; failures inside libvgg raise vgg.Error.
    Use as a context manager or call close().

    Attributes:
        path: the .vgg file as given (str).
        info: the model's description as a dict (name, preprocessing, input_size, classes,
            labels, parameters, format_version, and `layers`: one dict per layer with its name,
            alias, type, channels, kernel, stride, padding): what `vgg info --json` prints.
        labels: the class names stored in the file (e.g. "n01440764 tench, Tinca tinca"), one
            per class, or [] when the file has none.
    """

    def __repr__(self) -> str:
        info, closed = getattr(self, "info", {}), getattr(self, "_sessions", None) is None
        return (f"<vgg.Model {info.get('name', '?')!r} from {getattr(self, 'path', '?')!r}: "
                f"{len(info.get('layers', []))} layers, {info.get('classes', 0)} classes, "
                f"{info.get('parameters', 0):,} parameters{', closed' if closed else ''}>")

    def __init__(self, path: Union[str, os.PathLike], threads: Optional[int] = None,
                 verify_checksums: bool = False, max_sessions: Optional[int] = None,
                 _shared: Optional["Model"] = None):
        self._sessions: Optional[SessionPool] = None
        if threads is not None:
            threads = arg.integer(threads, 1, 256, "Model(threads={})")
        arg.flag(verify_checksums, "Model(verify_checksums={})")
        limit = min(256, _usable_cpus()) if max_sessions is None else \
            arg.integer(max_sessions, 1, 256, "Model(max_sessions={})")
        if _shared is not None:
            handle = _shared._sessions_or_closed("Model.fork()").model("Model.fork()")
        else:
            try:
                encoded = os.fsencode(path)
            except TypeError:
                raise TypeError(f"Model(path={arg.shown(path)}): expected a file path (str, bytes or "
                                f"os.PathLike), got {type(path).__name__}") from None
            if b"\0" in encoded:
                raise ValueError(f"Model(path={arg.shown(path)}): the path contains a NUL character")
            where = f"Model({os.fspath(path)!r})"  # in full: the library message may not repeat it
            raw = ctypes.c_void_p()
            flags = _lib.OPEN_VERIFY_CHECKSUMS if verify_checksums else 0
            check_as(lib.vgg_model_open(encoded, flags, ctypes.byref(raw)), where)
            handle = _ModelHandle(raw)
        self._sessions = SessionPool(handle, limit, "Model()")
        try:
            if threads is not None:
                self._sessions.set_option(_lib.OPTION_THREADS, threads, f"Model(threads={threads})")
            self.info: Dict = _shared.info if _shared is not None else self._describe(handle.handle)
            self.labels: List[str] = _shared.labels if _shared is not None else \
                [lib.vgg_model_label(handle.handle, i).decode("utf-8") for i in range(self.info["labels"])]
        except BaseException:
            self.close()
            raise
        self.path = os.fspath(path)

    def fork(self, threads: Optional[int] = None, max_sessions: Optional[int] = None) -> "Model":
        """A new Model on the same opened model (no new mapping, no copy) with its own session
        pool and options (the defaults, and `threads`): for callers that want a Model, and its
        options, of their own. Sharing one Model between threads needs no fork."""
        return Model(self.path, threads=threads, max_sessions=max_sessions, _shared=self)

    # ---- properties ------------------------------------------------------------------

    @staticmethod
    def _describe(model: ctypes.c_void_p) -> Dict:
        length = ctypes.c_size_t()
        check_as(lib.vgg_model_describe(model, None, 0, ctypes.byref(length)), "Model()")
        buf = ctypes.create_string_buffer(length.value + 1)
        check_as(lib.vgg_model_describe(model, buf, len(buf), ctypes.byref(length)), "Model()")
        return json.loads(buf.value.decode("utf-8"))

    def _sessions_or_closed(self, where: str) -> SessionPool:
        pool = self._sessions
        if pool is None:
            raise _lib.Error(1, f"{where}: the model is closed")
        return pool

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def class_count(self) -> int:
        return self.info["classes"]

    @property
    def layer_names(self) -> List[str]:
        return [l["name"] for l in self.info["layers"]]

    @property
    def max_sessions(self) -> int:
        """The most sessions (concurrent calls) this Model runs at once."""
        return self._sessions_or_closed("Model.max_sessions").limit

    def _get_option(self, option: int, name: str) -> int:
        return self._sessions_or_closed(f"Model.{name}").option(option)

    def _set_option(self, option: int, value: int, name: str, shown_value) -> None:
        where = f"Model.{name} = {arg.shown(shown_value)}"
        self._sessions_or_closed(where).set_option(option, value, where)

    def _set_threads(self, n) -> None:
        self._set_option(_lib.OPTION_THREADS, arg.integer(n, 1, 256, "Model.threads = {}"), "threads", n)

    def _set_isa(self, level) -> None:
        self._set_option(_lib.OPTION_ISA, arg.integer(level, 0, 3, "Model.isa = {}"), "isa", level)

    def _set_winograd_tile(self, tile) -> None:
        tile = arg.choice(tile, (0, 4, 6), "Model.winograd_tile = {}")
        self._set_option(_lib.OPTION_WINOGRAD, tile or 1, "winograd_tile", tile)

    def _set_bf16_arithmetic(self, mode) -> None:
        if isinstance(mode, str) and mode == "always":
            value = 2
        elif isinstance(mode, (bool, np.bool_)):
            value = int(mode)
        else:
            raise TypeError(f"{arg.at('Model.bf16_arithmetic = {}', mode)}: expected True, False or 'always', "
                            f"got {type(mode).__name__}")
        self._set_option(_lib.OPTION_BF16_ARITHMETIC, value, "bf16_arithmetic", mode)

    def _flag_property(option: int, name: str, doc: str) -> property:  # noqa: N805 (used in the class body)
        def get(self) -> bool:
            return bool(self._get_option(option, name))

        def set(self, on) -> None:
            self._set_option(option, int(arg.flag(on, f"Model.{name} = {{}}")), name, on)
        return property(get, set, doc=doc)

    threads = property(lambda self: self._get_option(_lib.OPTION_THREADS, "threads"), _set_threads,
                       doc="Threads each run uses (1…256).")
    force_reference = _flag_property(_lib.OPTION_FORCE_REFERENCE, "force_reference",
                                     "Run the naive reference kernels (slow; for checking).")
    isa = property(lambda self: self._get_option(_lib.OPTION_ISA, "isa"), _set_isa,
                   doc="Kernel ISA level: 0 best available, 1 baseline x86-64, 2 x86-64-v3, 3 x86-64-v4.")
    winograd = _flag_property(_lib.OPTION_WINOGRAD, "winograd",
                              "Whether 3×3 layers may run as Winograd F(4×4, 3×3) or F(6×6, 3×3) (default True).")
    winograd_tile = property(lambda self: {4: 4, 6: 6}.get(self._get_option(_lib.OPTION_WINOGRAD, "winograd_tile"), 0),
                             _set_winograd_tile,
                             doc="Winograd tile on every Winograd layer: 4 for F(4×4, 3×3), 6 for F(6×6, 3×3), "
                                 "0 (default) to pick per layer by cost. Setting it turns Winograd on.")
    bf16_arithmetic = property(
        lambda self: {0: False, 2: "always"}.get(self._get_option(_lib.OPTION_BF16_ARITHMETIC, "bf16_arithmetic"), True),
        _set_bf16_arithmetic,
        doc="For bf16-weight models: True (default) takes the fastest bf16 arithmetic the CPU has: AMX tiles "
            "for the 3×3 layers (and the fc layers above 224×224) on Intel CPUs with AMX, bf16 dot products "
            "on AVX512-BF16 CPUs that run them faster than f32 (AMD Zen 4), f32 elsewhere; 'always' takes "
            "bf16 dot products (never AMX) wherever the CPU has AVX512-BF16, even where slower; False "
            "computes in f32.")
    del _flag_property

    @property
    def kernel_path(self) -> str:
        """The kernels in use: "x86-64-v4", "x86-64-v3", "x86-64" or "reference"."""
        with self._sessions_or_closed("Model.kernel_path").session("Model.kernel_path") as s:
            return lib.vgg_session_kernel_path(s).decode()

    def output_shape(self, height: int, width: int, layer: Optional[str] = None) -> Tuple[int, int, int]:
        """(C, h, w) of `layer` (default: the class score map) for one height×width input."""
        h = arg.integer(height, 1, arg.MAX_SIDE, "Model.output_shape(height={})")
        w = arg.integer(width, 1, arg.MAX_SIDE, "Model.output_shape(width={})")
        name = None if layer is None else arg.layer_name(layer, "Model.output_shape(layer={})")
        return self._output_shape(h, w, name, f"Model.output_shape({h}, {w}, {arg.shown(layer)})")

    def _output_shape(self, h: int, w: int, layer: Optional[bytes], where: str) -> Tuple[int, int, int]:
        shape = (ctypes.c_int64 * 3)()
        model = self._sessions_or_closed(where).model(where)  # held: the model stays open through the call
        check_as(lib.vgg_model_output_shape(model.handle, layer, h, w, shape), where)
        return tuple(shape)

    def workspace_bytes(self, height: int, width: int, n: int = 1) -> int:
        """Workspace bytes a run of n height×width images takes on one session with this Model's
        options (its buffers, and the transformed weights the model keeps for this size's first
        3×3 layers: see kept_weight_bytes); each session in use at once takes its own buffers."""
        h = arg.integer(height, 1, arg.MAX_SIDE, "Model.workspace_bytes(height={})")
        w = arg.integer(width, 1, arg.MAX_SIDE, "Model.workspace_bytes(width={})")
        images = arg.integer(n, 1, arg.MAX_BATCH, "Model.workspace_bytes(n={})")
        where = f"Model.workspace_bytes({h}, {w}, n={images})"
        size = ctypes.c_size_t()
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_batch_workspace_bytes(s, images, h, w, ctypes.byref(size)), where)
        return size.value

    @property
    def kept_weight_bytes(self) -> int:
        """Bytes of Winograd-transformed weights the opened model keeps now (at most 64 MiB,
        made by the first runs that need them, shared by every session and fork)."""
        where = "Model.kept_weight_bytes"
        model = self._sessions_or_closed(where).model(where)
        value = ctypes.c_int64()
        check_as(lib.vgg_model_get_info(model.handle, _lib.INFO["kept_weight_bytes"], ctypes.byref(value)), where)
        return value.value

    # ---- runs ------------------------------------------------------------------------

    def forward(self, x) -> np.ndarray:
        """Raw class score map (before soft-max) of preprocessed float images: (N,3,H,W) → (N,K,h,w)
        (or (3,H,W) → (K,h,w)). 8-bit pixels go through preprocess() first: integer arrays are refused."""
        a, added = arg.images(x, "Model.forward(x)")
        n, _, h, w = a.shape
        where = f"Model.forward(x of shape {a.shape[1:] if added else a.shape})"
        k, oh, ow = self._output_shape(h, w, None, where)
        out = np.empty((n, k, oh, ow), dtype=np.float32)
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_forward(s, a.ctypes.data_as(_float_p), n, h, w,
                                             out.ctypes.data_as(_float_p), out.size), where)
        return out[0] if added else out

    def probabilities(self, x) -> np.ndarray:
        """Class probabilities (N,K): the score map averaged over space, then soft-max. Input as forward()."""
        a, added = arg.images(x, "Model.probabilities(x)")
        n, _, h, w = a.shape
        where = f"Model.probabilities(x of shape {a.shape[1:] if added else a.shape})"
        out = np.empty((n, self.class_count), dtype=np.float32)
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_probabilities(s, a.ctypes.data_as(_float_p), n, h, w,
                                                   out.ctypes.data_as(_float_p), out.size), where)
        return out[0] if added else out

    def features(self, x, layers: Union[str, Sequence[str]]) -> Dict[str, np.ndarray]:
        """Outputs of the named layers (Caffe names or Keras aliases) in one pass: name → (N,C,h,w).
        Input as forward()."""
        names = arg.layer_names(layers, "Model.features(layers={})")
        encoded = [name.encode("utf-8") for name in names]
        a, added = arg.images(x, "Model.features(x)")
        n, _, h, w = a.shape
        where = f"Model.features(x of shape {a.shape[1:] if added else a.shape}, {arg.shown(layers)})"
        outs = [np.empty((n,) + self._output_shape(h, w, e, where), dtype=np.float32) for e in encoded]
        c_names = (ctypes.c_char_p * len(names))(*encoded)
        c_outs = (_float_p * len(names))(*[o.ctypes.data_as(_float_p) for o in outs])
        c_caps = (ctypes.c_size_t * len(names))(*[o.size for o in outs])
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_features(s, a.ctypes.data_as(_float_p), n, h, w, c_names, len(names),
                                              c_outs, c_caps), where)
        return {name: (o[0] if added else o) for name, o in zip(names, outs)}

    def preprocess(self, pixels, size: Optional[int] = None, channel_order: str = "rgb", flip: bool = False) -> np.ndarray:
        """An 8-bit H×W×3 image (uint8; other dtypes are refused, not cast) resized so its smaller
        side is `size` (default: the model's training size) and preprocessed for the model:
        (1, 3, h, w) float32, ready for forward() and features(). The resampling is the one
        classify() uses."""
        p = arg.pixels(pixels, "Model.preprocess(pixels)")
        q = arg.optional_size(size, "Model.preprocess(size={})") or min(self.info["input_size"])
        order = arg.channel_order(channel_order, "Model.preprocess(channel_order={})")
        mirror = arg.flag(flip, "Model.preprocess(flip={})")
        h, w = p.shape[:2]
        oh, ow = (q, max(1, int(np.floor(w * q / h + 0.5)))) if h <= w else (max(1, int(np.floor(h * q / w + 0.5))), q)
        where = f"Model.preprocess(pixels of shape {p.shape}, size={q})"
        if oh > arg.MAX_SIDE or ow > arg.MAX_SIDE:  # before allocating the output
            raise ValueError(f"{where}: resizing {h}×{w} to a smaller side of {q} gives {oh}×{ow}; "
                             f"expected at most {arg.MAX_SIDE} per side")
        out = np.empty((1, 3, oh, ow), dtype=np.float32)
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_preprocess(s, p.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), w, h, p.strides[0],
                                                _PIXEL_FORMATS[order], oh, ow, 1 if mirror else 0,
                                                out.ctypes.data_as(_float_p), out.size), where)
        return out

    def classify(self, pixels, top: int = 5, scales: Optional[Sequence[int]] = None, flip: bool = False,
                 channel_order: str = "rgb") -> List[Tuple[int, float, Optional[str]]]:
        """Dense multi-scale evaluation of an 8-bit H×W×3 image (see vgg_session_classify).
        `pixels` must be uint8 (other dtypes are refused, not cast); `top` 1…class_count;
        `scales` None (the training size) or up to 64 smaller sides in 1…65536.

        Returns [(class index, probability, label or None)], most probable first.
        """
        p = arg.pixels(pixels, "Model.classify(pixels)")
        if self.class_count < 1:
            raise _lib.Error(4, "Model.classify: the model has no classifier (it holds the layers up to pool5)")
        k = arg.integer(top, 1, self.class_count, "Model.classify(top={})")
        qs = arg.scales(scales, "Model.classify(scales={})")
        mirror = arg.flag(flip, "Model.classify(flip={})")
        order = arg.channel_order(channel_order, "Model.classify(channel_order={})")
        where = f"Model.classify(pixels of shape {p.shape}, scales={qs or None})"
        c_scales = (ctypes.c_int32 * max(1, len(qs)))(*qs)
        classes = (ctypes.c_int32 * k)()
        probs = (ctypes.c_float * k)()
        h, w = p.shape[:2]
        with self._sessions_or_closed(where).session(where) as s:
            check_as(lib.vgg_session_classify(s, p.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), w, h, p.strides[0],
                                              _PIXEL_FORMATS[order], c_scales, len(qs), 1 if mirror else 0, k,
                                              classes, probs), where)
        return [(int(c), float(pr), self.labels[c] if self.labels else None) for c, pr in zip(classes, probs)]

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Refuses later calls (they raise vgg.Error), waits for calls running in other threads
        to end, then releases the sessions, and the model once no fork uses it. Idempotent."""
        pool, self._sessions = getattr(self, "_sessions", None), None
        if pool is not None:
            pool.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
