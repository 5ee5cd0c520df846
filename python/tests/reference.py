"""An independent float64 NumPy reference of the VGG-family networks the fixtures describe.

It reads nothing libvgg wrote: the architecture comes from tools/caffe_fixtures.py's layer
specs and the weights from the generator's source arrays (Caffe layout), so a bug in the
converter or the engine cannot hide in it. Semantics are Caffe's: convolution as
cross-correlation, ceil-rounded pooling with windows clipped to the image (average divided by
the window clipped to the padded image), LRN across channels, fc layers over the (c, h, w)
flattening — applied fully convolutionally (fc6 as a kh×kw convolution, the rest 1×1).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """x (C,H,W), w (O,C,kh,kw) → (O,h,w), float64."""
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    s = xp.strides
    patches = np.lib.stride_tricks.as_strided(
        xp, shape=(c, kh, kw, oh, ow), strides=(s[0], s[1], s[2], s[1] * stride, s[2] * stride))
    cols = patches.reshape(c * kh * kw, oh * ow)
    return (w.reshape(o, -1) @ cols).reshape(o, oh, ow) + b[:, None, None]


def pool_size(n: int, k: int, s: int, pad: int, rounding: str) -> int:
    span = n + 2 * pad - k
    out = (math.ceil(span / s) if rounding == "ceil" else span // s) + 1
    if pad > 0 and (out - 1) * s >= n + pad:
        out -= 1
    return out


def pool2d(x: np.ndarray, k: int, s: int, method: str, rounding: str = "ceil", pad: int = 0) -> np.ndarray:
    c, h, w = x.shape
    oh, ow = pool_size(h, k, s, pad, rounding), pool_size(w, k, s, pad, rounding)
    out = np.empty((c, oh, ow))
    for i in range(oh):
        hs = i * s - pad
        he = min(hs + k, h + pad)
        for j in range(ow):
            ws = j * s - pad
            we = min(ws + k, w + pad)
            win = x[:, max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
            if method == "MAX":
                out[:, i, j] = win.max(axis=(1, 2))
            else:
                out[:, i, j] = win.sum(axis=(1, 2)) / ((he - hs) * (we - ws))
    return out


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    c = x.shape[0]
    sq = x * x
    half = (size - 1) // 2
    out = np.empty_like(x)
    for i in range(c):
        s = sq[max(0, i - half):min(c, i + half + 1)].sum(axis=0)
        out[i] = x[i] * (k + alpha / size * s) ** (-beta)
    return out


def forward(specs, weights: Dict[str, Tuple[np.ndarray, np.ndarray]], image: np.ndarray, train_size: int,
            rounding: str = "ceil", upto: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Runs one CHW image; returns every layer's output (post-ReLU for conv/fc, as Caffe's
    in-place ReLU leaves the blob) keyed by layer name, in float64."""
    x = image.astype(np.float64)
    outputs: Dict[str, np.ndarray] = {}
    size = (train_size, train_size)
    channels = 3
    spatial_at_train = [train_size, train_size]
    last_weight = None
    for spec in specs:
        kind, name = spec[0], spec[1]
        if kind == "conv":
            out, k, s, p = spec[2:]
            w, b = weights[name]
            x = conv2d(x, w.astype(np.float64), b.astype(np.float64), s, p)
            spatial_at_train = [(n + 2 * p - k) // s + 1 for n in spatial_at_train]
            channels = out
            last_weight = name
        elif kind == "fc":
            w, b = weights[name]
            kh, kw = spatial_at_train
            w4 = w.astype(np.float64).reshape(w.shape[0], channels, kh, kw)
            x = conv2d(x, w4, b.astype(np.float64), 1, 0)
            spatial_at_train = [1, 1]
            channels = w.shape[0]
            last_weight = name
        elif kind == "relu":
            x = np.maximum(x, 0)
            outputs[last_weight] = x
            continue
        elif kind == "pool":
            k, s, method = spec[2:]
            x = pool2d(x, k, s, method, rounding)
            spatial_at_train = [pool_size(n, k, s, 0, rounding) for n in spatial_at_train]
        elif kind == "lrn":
            size_, alpha, beta, kk = spec[2:]
            x = lrn(x, size_, alpha, beta, kk)
        else:  # dropout, softmax: identity / applied by the caller
            continue
        outputs[name] = x
        if upto is not None and name == upto:
            break
    return outputs


def scores(specs, weights, image, train_size, rounding="ceil") -> np.ndarray:
    """The raw class score map of the last fc layer (K, h, w)."""
    outs = forward(specs, weights, image, train_size, rounding)
    last_fc = [s[1] for s in specs if s[0] == "fc"][-1]
    return outs[last_fc]


def softmax_of_mean(score_map: np.ndarray) -> np.ndarray:
    m = score_map.reshape(score_map.shape[0], -1).mean(axis=1)
    e = np.exp(m - m.max())
    return e / e.sum()


def resize_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The resampling vgg.h documents: pixel centres aligned, clamped, no antialiasing (float64)."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(out_h) + 0.5) * h / out_h - 0.5, 0, h - 1)
    xs = np.clip((np.arange(out_w) + 0.5) * w / out_w - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    a = img.astype(np.float64)
    top = a[y0][:, x0] + (a[y0][:, x1] - a[y0][:, x0]) * fx
    bottom = a[y1][:, x0] + (a[y1][:, x1] - a[y1][:, x0]) * fx
    return top + (bottom - top) * fy


def resized_size(h: int, w: int, q: int) -> Tuple[int, int]:
    if h <= w:
        return q, max(1, int(math.floor(w * q / h + 0.5)))
    return max(1, int(math.floor(h * q / w + 0.5))), q


def output_side(specs, train_size: int, side: int, rounding: str = "ceil") -> Optional[int]:
    """Side of the last layer's output for a square input, None when some window does not fit."""
    spatial_at_train = train_size
    for spec in specs:
        kind = spec[0]
        if kind == "conv":
            _, _, _, k, s, p = spec
            if side + 2 * p < k:
                return None
            side = (side + 2 * p - k) // s + 1
            spatial_at_train = (spatial_at_train + 2 * p - k) // s + 1
        elif kind == "pool":
            k, s = spec[2], spec[3]
            if side < k:
                return None
            side = pool_size(side, k, s, 0, rounding)
            spatial_at_train = pool_size(spatial_at_train, k, s, 0, rounding)
        elif kind == "fc":
            if side < spatial_at_train:
                return None
            side = side - spatial_at_train + 1
            spatial_at_train = 1
    return side


def minimum_input(specs, train_size: int, rounding: str = "ceil") -> int:
    side = 1
    while output_side(specs, train_size, side, rounding) is None:
        side += 1
    return side


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖₂ / ‖b‖₂: the metric the engine tests use (b is the reference)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))
