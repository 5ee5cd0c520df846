"""One workspace plan (Sources/VGGEngine/Forward/WorkspacePlan.swift): what
vgg_session_workspace_bytes reports is what a run reserves. A fresh session on a freshly opened
model runs the whole network; its buffers (vgg_session_held_bytes) plus the transformed weights
the run had the model keep (VGG_INFO_KEPT_WEIGHT_BYTES) must add up to the figure queried
before the run, over sizes, batches (a ragged last group of images too), weight types (f32
grouped fc weights, f16 blocked ones, bf16 dot products), thread counts and paths."""
import ctypes

import numpy as np
import pytest

import vgg
from vgg import _lib

lib = _lib.lib


class RawSession:
    """A model opened for this test alone and one session on it, through the C API."""

    def __init__(self, path, threads, **options):
        self.model, self.session = ctypes.c_void_p(), ctypes.c_void_p()
        assert lib.vgg_model_open(str(path).encode(), 0, ctypes.byref(self.model)) == 0
        assert lib.vgg_session_create(self.model, ctypes.byref(self.session)) == 0
        assert lib.vgg_session_set_option(self.session, _lib.OPTION_THREADS, threads) == 0
        for option, value in options.items():
            assert lib.vgg_session_set_option(self.session, getattr(_lib, f"OPTION_{option.upper()}"), value) == 0

    def close(self):
        lib.vgg_session_free(self.session)
        lib.vgg_model_close(self.model)

    def query(self, n, h, w):
        size = ctypes.c_size_t()
        assert lib.vgg_session_batch_workspace_bytes(self.session, n, h, w, ctypes.byref(size)) == 0
        return size.value

    def held(self):
        size = ctypes.c_size_t()
        assert lib.vgg_session_held_bytes(self.session, ctypes.byref(size)) == 0
        return size.value

    def kept(self):
        value = ctypes.c_int64()
        assert lib.vgg_model_get_info(self.model, _lib.INFO["kept_weight_bytes"], ctypes.byref(value)) == 0
        return value.value

    def score_map_floats(self, h, w):
        shape = (ctypes.c_int64 * 3)()
        assert lib.vgg_model_output_shape(self.model, None, h, w, shape) == 0
        return shape[0] * shape[1] * shape[2]

    def probabilities(self, x):
        n, _, h, w = x.shape
        classes = ctypes.c_int64()
        assert lib.vgg_model_get_info(self.model, _lib.INFO["class_count"], ctypes.byref(classes)) == 0
        out = np.empty((n, classes.value), np.float32)
        status = lib.vgg_session_probabilities(self.session, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n, h, w,
                                               out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size)
        assert status == 0, lib.vgg_last_error().decode()
        return out

    def forward(self, x):
        n, _, h, w = x.shape
        out = np.empty(n * self.score_map_floats(h, w), np.float32)
        status = lib.vgg_session_forward(self.session, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n, h, w,
                                         out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size)
        assert status == 0, lib.vgg_last_error().decode()
        return out


def images(n, h, w):
    return (np.random.default_rng(3).standard_normal((n, 3, h, w)) * 40).astype(np.float32)


CASES = [  # dtype, threads, n, height, width
    ("f32", 2, 1, 224, 224),    # fc: a lone pixel of grouped weights (group sums, non-zero inputs)
    ("f32", 1, 3, 224, 224),    # fc: a few pixels of grouped weights (their non-zero taps)
    ("f32", 2, 9, 224, 224),    # groups of 8 and 1 images; fc on 9 pixels
    ("f32", 2, 2, 257, 301),    # odd sizes, F(6×6) and F(4×4) layers
    ("f32", 2, 1, 384, 384),
    ("f16", 2, 1, 224, 224),    # fc: blocked weights, a lone pixel from its non-zero inputs
    ("bf16", 2, 1, 224, 224),   # AMX tiles or bf16 dot products where faster on this CPU, else f32
    ("bf16", 1, 3, 240, 272),   # fc on many pixels
    ("bf16 always", 2, 1, 224, 224),  # bf16 dot products wherever the CPU has them (tap pairs)
    ("bf16 always", 1, 3, 240, 272),
]


@pytest.mark.parametrize("dtype, threads, n, h, w", CASES)
def test_the_query_is_what_a_run_reserves(factory, dtype, threads, n, h, w):
    options = {"bf16_arithmetic": 2} if dtype == "bf16 always" else {}
    path, _ = factory.model("vgg16", dtype=dtype.split()[0])
    s = RawSession(path, threads, **options)
    try:
        assert s.held() == 0 and s.kept() == 0
        want = s.query(n, h, w)
        s.probabilities(images(n, h, w))
        assert s.held() + s.kept() == want
        assert s.query(n, h, w) == want  # the weights it keeps now are still counted, once
        # forward reserves the same but for probabilities' score map.
        t = RawSession(path, threads, **options)
        try:
            t.forward(images(n, h, w))
            assert t.held() + t.kept() == want - 4 * t.score_map_floats(h, w)
        finally:
            t.close()
    finally:
        s.close()


@pytest.mark.parametrize("options", [{"winograd": 0}, {"isa": 2}, {"isa": 1}])
def test_other_paths_reserve_what_they_report(factory, options):
    """Direct convolution only, and the x86-64-v3 and baseline kernels (the CPUs here run them)."""
    path, _ = factory.model("vgg16")
    s = RawSession(path, 2, **options)
    try:
        want = s.query(2, 240, 224)
        s.probabilities(images(2, 240, 224))
        assert s.held() + s.kept() == want
    finally:
        s.close()


def test_one_image_query_is_the_batch_query_of_one(factory):
    path, _ = factory.model("vgg16")
    with vgg.Model(path, threads=2) as m:
        assert m.workspace_bytes(224, 224) == m.workspace_bytes(224, 224, n=1)
        assert m.workspace_bytes(224, 224, n=8) > m.workspace_bytes(224, 224)
        assert m.kept_weight_bytes == 0
        m.forward(images(1, 224, 224))
        assert 0 < m.kept_weight_bytes <= 64 << 20
        with pytest.raises(ValueError, match=r"n=0"):
            m.workspace_bytes(224, 224, n=0)


def test_a_session_frees_what_a_large_run_reserved(factory):
    """Past VGG_OPTION_KEPT_WORKSPACE_MIB the buffers go back when the run ends."""
    path, _ = factory.model("vgg16")
    s = RawSession(path, 2, kept_workspace_mib=1)
    try:
        s.probabilities(images(1, 224, 224))
        assert s.held() == 0
    finally:
        s.close()
