"""Features or classes for large image collections, on a Dask cluster or locally.

    python3 -m vgg.batch features MODEL.vgg IMAGES... -o OUT/ --layer pool5 --pool max [--cluster local|ADDRESS]
    python3 -m vgg.batch classify MODEL.vgg IMAGES... -o OUT/ --top 5 [--cluster ...]

Why Dask: it runs as plain Python processes (`dask-scheduler` / `dask-worker`, or a
`LocalCluster`), needs no JVM or object store, and its futures retry a task whose worker
died — which is all this job needs. (Ray would serve too; its object store is unnecessary
here because workers read images from disk and write their own shards.)

How it works: the sorted image list is cut into shards of `shard_size` images. Each shard is
one task: on its worker process, the model is opened once and kept (the mmap means all
workers on a host share one copy of the weights in the page cache), the images are decoded
(Pillow), resized and preprocessed by libvgg, run with `threads_per_worker` threads, and the
results are written as `shard-NNNNN.npz` through a temporary file and an atomic rename —
never half-written. A re-run skips shards that exist, so a crashed or interrupted run
resumes; a task whose worker is killed is retried on another worker and rewrites the same
shard, so nothing is lost or duplicated. At the end `index.tsv` maps every image to its
shard and row, and `errors.tsv` lists images that could not be read.

Shard contents: `images` (paths), `ok` (bool per row), and for features one (N, C) array per
layer (globally max- or average-pooled, optionally L2-normalised), for classification
`classes` (N, top) and `probabilities` (N, top).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MODELS: Dict[str, object] = {}  # per worker process: path → vgg.Model, opened once


@dataclass
class Job:
    """What to compute for every image; shipped to the workers."""
    model: str
    mode: str  # "features" or "classify"
    layers: List[str] = field(default_factory=list)
    pool: str = "max"
    l2_normalize: bool = False
    size: Optional[int] = None
    top: int = 5
    scales: List[int] = field(default_factory=list)
    flip: bool = False
    threads_per_worker: int = 1


class MissingDependency(ImportError):
    """A package of the `batch` extra is not installed; the message says how to install it."""


def require(module: str, purpose: str) -> None:
    """Imports `module` or raises MissingDependency naming the pip command that installs it."""
    try:
        __import__(module)
    except ImportError as e:
        raise MissingDependency(f"{purpose} needs {module.split('.')[0]}, which cannot be imported ({e}): "
                                f"pip install './python[batch]' (from the libvgg source tree)") from e


def list_images(inputs: Sequence[str]) -> List[str]:
    """Image files named directly or found (recursively) in directories, sorted."""
    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += [str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        else:
            out.append(str(p))
    return sorted(set(out))


def load_pixels(path: str) -> np.ndarray:
    """8-bit RGB as libvgg's own decoders give it: grayscale expanded, alpha over white."""
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P", "PA"):
            a = np.asarray(im.convert("RGBA")).astype(np.uint32)
            return ((a[:, :, :3] * a[:, :, 3:] + 255 * (255 - a[:, :, 3:]) + 127) // 255).astype(np.uint8)
        return np.asarray(im.convert("RGB"))


def _model(job: Job):
    from .model import Model
    m = _MODELS.get(job.model)
    if m is None:
        m = Model(job.model, threads=job.threads_per_worker)
        _MODELS[job.model] = m
    return m


def warm(job: Job) -> int:
    """Opens the job's model in this worker process ahead of time; returns the process id."""
    _model(job)
    return os.getpid()


def compute_rows(job: Job, paths: Sequence[str]) -> Dict[str, np.ndarray]:
    """The shard's arrays for `paths` (also used directly, without a cluster)."""
    m = _model(job)
    ok = np.zeros(len(paths), bool)
    errors = [""] * len(paths)
    if job.mode == "features":
        # Channels per layer: the same at any input size that reaches the layer.
        side = max(m.info["minimum_input_size"], min(m.info["input_size"]))
        shapes = {name: m.output_shape(side, side, name)[0] for name in job.layers}
        arrays = {name: np.zeros((len(paths), c), np.float32) for name, c in shapes.items()}
    else:
        arrays = {"classes": np.full((len(paths), job.top), -1, np.int32),
                  "probabilities": np.zeros((len(paths), job.top), np.float32)}
    for i, path in enumerate(paths):
        try:
            pixels = load_pixels(path)
            if job.mode == "features":
                x = m.preprocess(pixels, size=job.size)
                feats = m.features(x, job.layers)
                for name in job.layers:
                    f = feats[name][0].reshape(feats[name].shape[1], -1)
                    v = f.max(axis=1) if job.pool == "max" else f.mean(axis=1)
                    if job.l2_normalize:
                        n = np.linalg.norm(v.astype(np.float64))
                        v = (v / n).astype(np.float32) if n > 0 else v
                    arrays[name][i] = v
            else:
                top = m.classify(pixels, top=job.top, scales=job.scales or None, flip=job.flip)
                arrays["classes"][i] = [c for c, _, _ in top]
                arrays["probabilities"][i] = [p for _, p, _ in top]
            ok[i] = True
        except Exception as e:  # one bad image must not sink the shard
            errors[i] = f"{type(e).__name__}: {e}"
    arrays["images"] = np.array(list(paths))
    arrays["ok"] = ok
    arrays["errors"] = np.array(errors)
    return arrays


def shard_path(out_dir: str, index: int) -> str:
    return os.path.join(out_dir, f"shard-{index:05d}.npz")


def process_shard(job: Job, out_dir: str, index: int, paths: Sequence[str]) -> str:
    """Computes and writes one shard atomically; a no-op if it already exists."""
    final = shard_path(out_dir, index)
    if os.path.exists(final):
        return final
    arrays = compute_rows(job, paths)
    # A hidden temporary name: never mistaken for a shard, replaced atomically when complete.
    tmp = os.path.join(out_dir, f".{os.path.basename(final)}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


@dataclass
class BatchResult:
    output: str
    images: int
    shards: int
    skipped_shards: int
    failed_images: int
    seconds: float


def run(job: Job, images: Sequence[str], output: str, cluster: Optional[str] = None, workers: int = 2,
        shard_size: int = 64, progress: bool = True, retries: int = 3) -> BatchResult:
    """Runs `job` over `images` into `output`/. cluster: None runs in this process, "local"
    starts a LocalCluster of `workers` processes, anything else is a scheduler address."""
    require("PIL", "decoding images in vgg.batch")
    if cluster is not None:
        require("dask.distributed", "--cluster")
    start = time.monotonic()
    paths = list_images(images)
    os.makedirs(output, exist_ok=True)
    shards = [paths[i:i + shard_size] for i in range(0, len(paths), shard_size)]
    todo = [(i, s) for i, s in enumerate(shards) if not os.path.exists(shard_path(output, i))]
    skipped = len(shards) - len(todo)
    show = progress and sys.stderr.isatty()

    def report(done):
        if show:
            sys.stderr.write(f"\r[{done + skipped}/{len(shards)} shards]")
            sys.stderr.flush()

    if cluster is None:
        for n, (i, s) in enumerate(todo):
            process_shard(job, output, i, s)
            report(n + 1)
    else:
        from dask.distributed import Client, LocalCluster, as_completed
        local = None
        if cluster == "local":
            local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(local)
        else:
            client = Client(cluster)
        try:
            futures = [client.submit(process_shard, job, output, i, s, key=f"vgg-shard-{os.path.abspath(output)}-{i}",
                                     retries=retries, pure=False) for i, s in todo]
            for n, f in enumerate(as_completed(futures)):
                f.result()
                report(n + 1)
        finally:
            client.close()
            if local is not None:
                local.close()
    if show:
        sys.stderr.write("\n")
    failed = write_index(output, len(shards))
    return BatchResult(output, len(paths), len(shards), skipped, failed, time.monotonic() - start)


def write_index(output: str, shard_count: int) -> int:
    """index.tsv (image → shard, row) and errors.tsv from the shards; returns the failures."""
    failed = 0
    with open(os.path.join(output, "index.tsv.tmp"), "w") as index, open(os.path.join(output, "errors.tsv.tmp"), "w") as errors:
        index.write("image\tshard\trow\n")
        for i in range(shard_count):
            with np.load(shard_path(output, i)) as d:
                for row, (path, ok, err) in enumerate(zip(d["images"], d["ok"], d["errors"])):
                    index.write(f"{path}\t{i}\t{row}\n")
                    if not ok:
                        errors.write(f"{path}\t{err}\n")
                        failed += 1
    os.replace(os.path.join(output, "index.tsv.tmp"), os.path.join(output, "index.tsv"))
    os.replace(os.path.join(output, "errors.tsv.tmp"), os.path.join(output, "errors.tsv"))
    return failed


def load(output: str) -> Dict[str, np.ndarray]:
    """All shards of a finished run concatenated, in image order."""
    shards = sorted(Path(output).glob("shard-*.npz"))
    parts = [dict(np.load(s)) for s in shards]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m vgg.batch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["features", "classify"])
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--layer", action="append", default=[])
    ap.add_argument("--pool", choices=["max", "avg"], default="max")
    ap.add_argument("--l2-normalize", action="store_true")
    ap.add_argument("--size", type=int)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--scales", help="comma-separated smaller sides")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--cluster", help="'local' or a Dask scheduler address; none: this process")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of a local cluster")
    ap.add_argument("--threads-per-worker", type=int, help="libvgg threads per worker (default: cores / workers)")
    ap.add_argument("--shard-size", type=int, default=64)
    a = ap.parse_args(argv)
    if a.mode == "features" and not a.layer:
        ap.error("features needs at least one --layer")
    workers = a.workers if a.cluster == "local" else 1
    threads = a.threads_per_worker or max(1, (os.cpu_count() or 1) // max(1, workers))
    job = Job(model=os.path.abspath(a.model), mode=a.mode, layers=a.layer, pool=a.pool, l2_normalize=a.l2_normalize,
              size=a.size, top=a.top, scales=[int(s) for s in a.scales.split(",")] if a.scales else [], flip=a.flip,
              threads_per_worker=threads)
    try:
        r = run(job, a.images, a.output, cluster=a.cluster, workers=a.workers, shard_size=a.shard_size)
    except MissingDependency as e:
        print(f"vgg: {e}", file=sys.stderr)  # one line, not a traceback
        return 1
    print(f"{r.images} images in {r.shards} shards ({r.skipped_shards} already done) in {r.seconds:.1f} s; "
          f"{r.failed_images} failed (see errors.tsv); results in {r.output}/")
    return 1 if r.failed_images else 0


if __name__ == "__main__":
    sys.exit(main())
