#!/usr/bin/env python3
"""Throughput of vgg.batch with 1 and 2 local Dask workers on a generated image collection,
and the memory each worker uses (RSS vs PSS: the weights are shared through the page cache).
Usage: bench_batch.py MODEL.vgg [IMAGES] (numbers go into docs/BATCH.md)."""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from vgg import batch  # noqa: E402


def memory():
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                fields[parts[0][:-1]] = int(parts[1]) // 1024
    return fields


def main():
    model = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    from dask.distributed import Client, LocalCluster
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        for i in range(count):
            Image.fromarray((rng.random((240, 320, 3)) * 255).astype(np.uint8)).save(f"{d}/img{i:03d}.jpg")
        for workers in (1, 2):
            threads = max(1, (os.cpu_count() or 1) // workers)
            job = batch.Job(model=model, mode="features", layers=["pool5"], pool="max", size=224,
                            threads_per_worker=threads)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            out = f"{d}/out{workers}"
            client.run(batch.warm, job)  # open the model on every worker first
            start = time.monotonic()
            r = batch.run(job, [d], out, cluster=cluster.scheduler_address, shard_size=8, progress=False)
            seconds = time.monotonic() - start
            mem = client.run(memory)
            client.close()
            cluster.close()
            print(f"{workers} worker(s) x {threads} thread(s): {r.images} images in {seconds:.1f} s = "
                  f"{r.images / seconds:.2f} images/s; per worker RSS/PSS MB: "
                  + ", ".join(f"{m['Rss']}/{m['Pss']}" for m in mem.values()))


if __name__ == "__main__":
    main()
