"""An independent, pure-Python reader of the .vgg format (docs/FORMAT.md).

It shares no code with the engine's reader: it exists to keep the spec honest. `read(path)`
returns a VGGFile with the metadata, the layers, and the tensors as NumPy arrays, both in
the stored layout and unpacked to Caffe's layout (weights OIHW, biases (N,)).
"""
from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

MAGIC = b"\x89VGG\r\n\x1a\n"
VERSIONS = (1, 2)  # 2 added the OGROUP1024 layout
HEADER_SIZE = 256
LAYER_SIZE = 128
TENSOR_SIZE = 64
ALIGN = 4096
LAYER_KINDS = {1: "convolution", 2: "max_pool", 3: "average_pool", 4: "lrn"}
DTYPES = {1: "f32", 2: "f16", 3: "bf16"}
LAYOUTS = {1: "OBLOCK16", 2: "VECTOR16", 3: "OGROUP1024"}
GROUP = 1024
CHANNEL_ORDERS = {0: "bgr", 1: "rgb"}
SOURCES = {0: "other", 1: "caffemodel V1", 2: "caffemodel V2", 3: "Caffe HDF5", 4: "Keras HDF5", 5: "Keras 3"}
NO_TENSOR = 0xFFFFFFFF


class FormatError(ValueError):
    """The file breaks a rule of docs/FORMAT.md."""


@dataclass
class Tensor:
    name: str
    dtype: str
    layout: str
    dims: Tuple[int, int, int, int]
    offset: int
    byte_length: int
    crc32: int
    stored: np.ndarray  # the stored elements, converted to float32, in the stored layout

    def unpacked(self) -> np.ndarray:
        """Caffe layout: OIHW for OBLOCK16 and OGROUP1024 weights, (N,) for VECTOR16."""
        o, i, kh, kw = self.dims
        if self.layout == "VECTOR16":
            return self.stored[:o].copy()
        if self.layout == "OGROUP1024":
            taps, padded, parts = i * kh * kw, (o + 15) // 16 * 16, []
            for start in range(0, padded, GROUP):
                width = min(GROUP, padded - start)
                group = self.stored[start * taps:(start + width) * taps].reshape(taps, width)
                parts.append(group.T.reshape(width, i, kh, kw))
            return np.ascontiguousarray(np.concatenate(parts)[:o])
        blocks = (o + 15) // 16
        a = self.stored.reshape(blocks, i, kh, kw, 16).transpose(0, 4, 1, 2, 3).reshape(blocks * 16, i, kh, kw)
        return np.ascontiguousarray(a[:o])


@dataclass
class Layer:
    kind: str
    name: str
    alias: str
    relu: bool
    from_inner_product: bool
    in_channels: int
    out_channels: int
    kernel: Tuple[int, int]
    stride: Tuple[int, int]
    pad: Tuple[int, int]
    rounding: str
    weight: Optional[str]
    bias: Optional[str]
    lrn: Optional[Tuple[int, float, float, float]]


@dataclass
class VGGFile:
    name: str
    input_size: Tuple[int, int]
    channel_order: str
    mean: Tuple[float, float, float]
    scale: Tuple[float, float, float]
    source_format: str
    labels: List[str]
    layers: List[Layer]
    tensors: Dict[str, Tensor] = field(default_factory=dict)
    file_size: int = 0

    @property
    def class_count(self) -> int:
        last = self.layers[-1]
        return last.out_channels if last.kind == "convolution" and last.from_inner_product else 0

    def weights(self, layer: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(OIHW weights, bias or None) of a convolution layer, as float32."""
        l = next(x for x in self.layers if x.name == layer or x.alias == layer)
        return self.tensors[l.weight].unpacked(), (self.tensors[l.bias].unpacked() if l.bias else None)


def _fail(msg: str) -> None:
    raise FormatError(msg)


def read(path: str, verify_checksums: bool = True) -> VGGFile:
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if f.seek(0, 2) else b""
    return parse(data, verify_checksums)


def parse(data, verify_checksums: bool = True) -> VGGFile:
    size = len(data)
    if size < HEADER_SIZE:
        _fail(f"file is {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    if bytes(data[:8]) != MAGIC:
        _fail(f"magic: expected {MAGIC!r}, found {bytes(data[:8])!r}")
    (version, header_size, file_size, n_layers, n_tensors, layer_off, tensor_off, label_off, string_off,
     string_size) = struct.unpack_from("<IIQIIQQQQQ", data, 8)
    if version not in VERSIONS:
        _fail(f"format_version: expected one of {VERSIONS}, found {version}")
    if header_size != HEADER_SIZE:
        _fail(f"header_size: expected {HEADER_SIZE}, found {header_size}")
    if file_size != size:
        _fail(f"file_size: header says {file_size}, file has {size}")
    name_ref = struct.unpack_from("<II", data, 72)
    in_c, in_h, in_w, order = struct.unpack_from("<IIII", data, 80)
    mean = struct.unpack_from("<3f", data, 96)
    scale = struct.unpack_from("<3f", data, 108)
    n_labels, source = struct.unpack_from("<II", data, 120)
    if any(data[128:252]):
        _fail("header reserved bytes must be zero")
    if not (1 <= n_layers <= 1024) or n_tensors > 2048:
        _fail(f"counts out of range: {n_layers} layers, {n_tensors} tensors")
    if layer_off != HEADER_SIZE or tensor_off != layer_off + LAYER_SIZE * n_layers \
            or label_off != tensor_off + TENSOR_SIZE * n_tensors or string_off != label_off + 8 * n_labels:
        _fail("section offsets do not follow each other as the format requires")
    meta_end = string_off + string_size
    if not (1 <= string_size <= 16 << 20) or meta_end > size:
        _fail(f"string table [{string_off}, {meta_end}) does not fit the file")
    stored_crc = struct.unpack_from("<I", data, 252)[0]
    crc = zlib.crc32(bytes(data[:252]) + b"\0\0\0\0" + bytes(data[256:meta_end])) & 0xFFFFFFFF
    if crc != stored_crc:
        _fail(f"metadata_crc32: stored {stored_crc:#010x}, computed {crc:#010x}")
    strings = bytes(data[string_off:meta_end])

    def string(ref, limit):
        off, length = ref
        if length > limit or off + length + 1 > len(strings) or strings[off + length] != 0:
            _fail(f"bad strref {ref}")
        s = strings[off:off + length]
        if b"\0" in s:
            _fail(f"strref {ref} contains NUL")
        return s.decode("utf-8")

    tensors_by_index = []
    prev_end = meta_end
    for t in range(n_tensors):
        at = tensor_off + t * TENSOR_SIZE
        ref = struct.unpack_from("<II", data, at)
        dtype, layout = struct.unpack_from("<II", data, at + 8)
        dims = struct.unpack_from("<4I", data, at + 16)
        offset, length = struct.unpack_from("<QQ", data, at + 32)
        crc = struct.unpack_from("<I", data, at + 48)[0]
        tname = string(ref, 127)
        if dtype not in DTYPES or layout not in LAYOUTS or min(dims) < 1:
            _fail(f"tensor {tname}: dtype {dtype}, layout {layout}, dims {dims}")
        o = (dims[0] + 15) // 16 * 16
        if layout == 3 and (dtype != 1 or version < 2):
            _fail(f"tensor {tname}: OGROUP1024 holds f32 weights in version 2 files")
        elements = o * dims[1] * dims[2] * dims[3] if layout in (1, 3) else o
        itemsize = 4 if dtype == 1 else 2
        if length != elements * itemsize or offset % ALIGN or offset < prev_end or offset + length > size:
            _fail(f"tensor {tname}: offset {offset}, byte_length {length} break the layout rules")
        if any(data[at + 52:at + 64]):
            _fail(f"tensor {tname}: reserved bytes must be zero")
        prev_end = offset + length
        raw = np.frombuffer(data, dtype=np.uint8, count=length, offset=offset)
        if verify_checksums and (zlib.crc32(raw) & 0xFFFFFFFF) != crc:
            _fail(f"tensor {tname}: CRC-32 mismatch")
        if dtype == 1:
            values = raw.view("<f4").astype(np.float32)
        elif dtype == 2:
            values = raw.view("<f2").astype(np.float32)
        else:
            values = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        tensors_by_index.append(Tensor(tname, DTYPES[dtype], LAYOUTS[layout], dims, offset, length, crc, values))

    layers = []
    channels = in_c
    for i in range(n_layers):
        at = layer_off + i * LAYER_SIZE
        kind, flags = struct.unpack_from("<II", data, at)
        lname = string(struct.unpack_from("<II", data, at + 8), 63)
        alias = string(struct.unpack_from("<II", data, at + 16), 63)
        cin, cout, kh, kw, sh, sw, ph, pw, rounding, wi, bi, lsize = struct.unpack_from("<12I", data, at + 24)
        alpha, beta, k = struct.unpack_from("<3f", data, at + 72)
        if kind not in LAYER_KINDS or cin != channels:
            _fail(f"layer {lname}: kind {kind}, in_channels {cin} (expected {channels})")
        if any(data[at + 84:at + 128]):
            _fail(f"layer {lname}: reserved bytes must be zero")
        weight = tensors_by_index[wi].name if wi != NO_TENSOR else None
        bias = tensors_by_index[bi].name if bi != NO_TENSOR else None
        if kind == 1 and tensors_by_index[wi].dims != (cout, cin, kh, kw):
            _fail(f"layer {lname}: weight dims {tensors_by_index[wi].dims} != {(cout, cin, kh, kw)}")
        layers.append(Layer(LAYER_KINDS[kind], lname, alias, bool(flags & 1), bool(flags & 2), cin, cout, (kh, kw),
                            (sh, sw), (ph, pw), "floor" if rounding else "ceil", weight, bias,
                            (lsize, alpha, beta, k) if kind == 4 else None))
        channels = cout
    pools = [i for i, l in enumerate(layers) if l.kind in ("max_pool", "average_pool")]
    tail = pools[-1] + 1 if pools and all(l.kind == "convolution" for l in layers[pools[-1] + 1:]) else len(layers)
    by_name = {t.name: t for t in tensors_by_index}
    for l in layers[:tail]:
        if l.weight is not None and by_name[l.weight].layout == "OGROUP1024":
            _fail(f"layer {l.name}: OGROUP1024 weights before the fc layers")
    labels = [string(struct.unpack_from("<II", data, label_off + 8 * i), 1023) for i in range(n_labels)]
    return VGGFile(string(name_ref, 255), (in_h, in_w), CHANNEL_ORDERS.get(order, str(order)), mean, scale,
                   SOURCES.get(source, str(source)), labels, layers, {t.name: t for t in tensors_by_index}, size)
