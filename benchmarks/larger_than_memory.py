"""Pretraining and embedding a collection 4x larger than the memory the process may allocate.

A file of ``4 * --memory-mb`` MB of 5 x 32 x 32 float32 images is written to a temporary
folder as ``.npy`` and as a contiguous HDF5 dataset. One fresh subprocess per format runs:

- the reference: ``fit`` (1 epoch) and ``transform`` on an in-memory array of the file's
  first quarter, without a limit;
- then, in the same process (same machine load, as near as can be), ``npy`` / ``h5``: ``fit`` (1 epoch) and ``transform`` on the whole file, opened with
  ``np.load(mmap_mode="r")`` / ``h5py.File(...)["images"]``, under a hard limit: after a
  small warm-up fit (which creates torch's threads and lazy modules), ``RLIMIT_DATA`` (the
  process's private writable memory: heap, anonymous maps, thread stacks) is set to its
  current size plus ``--memory-mb``. A read-only file mapping does not count against it;
  an allocation past it fails. ``RLIMIT_AS`` is not used: torch reserves large virtual
  address ranges it never touches.

The file's pages are dropped from the page cache (``posix_fadvise(DONTNEED)``, this file
only) before each disk run, so reads start cold. Ratios are per image, disk against the
reference of the same process; the CPU-time ratio is less sensitive to other jobs sharing
the cores than the wall-clock one. Reported: images/s of the training epoch
(``EpochClock``: the epoch only, not the validation pass) and of ``transform``; peak
*anonymous* RSS above the level before the call (the heap really used: file-backed pages of
the memmap are reclaimable and excluded), sampled every 2 ms from ``/proc/self/status``;
and peak ``VmData`` above the level before the call (what ``RLIMIT_DATA`` counts).

The encoder is a two-layer CNN and augmentations are off by default (``--augmentations``
sets a preset): the training step is as cheap as it gets, so the data path weighs as much
as it can against it. Batch 256.

Run:
    python benchmarks/larger_than_memory.py                 # 128 MB allowed, 512 MB file
    python benchmarks/larger_than_memory.py --memory-mb 256 --augmentations auto
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch
from torch import nn

from _common import EpochClock, clock_of, images, machine, table

MB = 1024 ** 2
SHAPE = (5, 32, 32)


class TinyCNN(nn.Module):
    """Two strided convolutions and a pooling: a cheap encoder, so the data path shows."""

    def __init__(self, in_channels: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.net(x)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """Peak of RssAnon and VmData above their level at entry, sampled every 2 ms."""

    def __enter__(self):
        self.base = {f: _status_mb(f) for f in ("RssAnon", "VmData")}
        self.peak = dict(self.base)
        self.stop = threading.Event()

        def sample():
            while not self.stop.is_set():
                for f in self.peak:
                    self.peak[f] = max(self.peak[f], _status_mb(f))
                time.sleep(0.002)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for f in self.peak:
            self.peak[f] = max(self.peak[f], _status_mb(f))
        self.growth = {f: self.peak[f] - self.base[f] for f in self.peak}


def _embedder(batch: int, augmentations: str):
    from sklearn_ssl import ContrastiveEmbedder

    return ContrastiveEmbedder(encoder=TinyCNN, batch_size=batch, max_epochs=1, device="cpu", random_state=0,
                               augmentations=None if augmentations == "none" else augmentations,
                               callbacks=[("clock", EpochClock())])


def _measure(X, batch: int, augmentations: str) -> dict:
    model = _embedder(batch, augmentations)
    with Peak() as fit_mem:
        model.fit(X)
    (epoch_wall, epoch_cpu), = clock_of(model).epoch_seconds()
    with Peak() as tr_mem:
        t0, c0 = time.perf_counter(), time.process_time()
        model.transform(X)
        tr_wall, tr_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"n": len(X), "input_mb": len(X) * int(np.prod(SHAPE)) * 4 / MB,
            "fit_img_s": len(X) / epoch_wall, "fit_cpu_img_s": len(X) / epoch_cpu,
            "fit_anon_mb": fit_mem.growth["RssAnon"], "fit_data_mb": fit_mem.growth["VmData"],
            "transform_img_s": len(X) / tr_wall, "transform_cpu_img_s": len(X) / tr_cpu,
            "transform_anon_mb": tr_mem.growth["RssAnon"], "transform_data_mb": tr_mem.growth["VmData"]}


def child(mode: str, folder: str, memory_mb: int, batch: int, augmentations: str, threads: int) -> None:
    """The in-memory reference on the file's first quarter, then the whole file from disk under
    RLIMIT_DATA, in one process (so both see the same machine load as closely as possible)."""
    torch.set_num_threads(threads)
    _embedder(batch, augmentations).fit(images(128, SHAPE))  # warm-up: threads, lazy imports, arenas
    path = os.path.join(folder, "x.npy" if mode == "npy" else "x.h5")
    full = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
    X = np.array(full[: len(full) // 4])
    del full
    reference = _measure(X, batch, augmentations)
    del X
    fd = os.open(path, os.O_RDONLY)  # start cold: this file's pages leave the page cache
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if mode == "npy":
        X = np.load(path, mmap_mode="r")
    else:
        import h5py

        X = h5py.File(path, "r")["images"]
    limit = int((_status_mb("VmData") + memory_mb) * MB)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    print(json.dumps({"mode": mode, "memory": reference, "disk": _measure(X, batch, augmentations)}))


def write_files(folder: str, n: int) -> None:
    import h5py

    x = np.lib.format.open_memmap(os.path.join(folder, "x.npy"), mode="w+", dtype=np.float32, shape=(n, *SHAPE))
    with h5py.File(os.path.join(folder, "x.h5"), "w") as f:
        dset = f.create_dataset("images", shape=(n, *SHAPE), dtype=np.float32)
        for start in range(0, n, 2048):
            block = images(min(2048, n - start), SHAPE, seed=start)
            x[start:start + len(block)] = block
            dset[start:start + len(block)] = block
    x.flush()
    del x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memory-mb", type=int, default=128,
                    help="memory the disk runs may allocate beyond their level after warm-up (RLIMIT_DATA)")
    ap.add_argument("--file-mb", type=int, default=None, help="size of the file (default: 4 x --memory-mb)")
    ap.add_argument("--formats", nargs="+", default=["npy", "h5"], choices=["npy", "h5"])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a loaded machine, 2 OpenMP threads contend for the cores "
                         "and slow every op by a varying factor)")
    ap.add_argument("--augmentations", default="none",
                    help="'none' (default: the cheapest step, so the data path weighs most) or a preset")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="folder for the temporary files")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.memory_mb, args.batch_size, args.augmentations,
                     args.threads)
    n = (args.file_mb or 4 * args.memory_mb) * MB // (int(np.prod(SHAPE)) * 4)
    folder = tempfile.mkdtemp(prefix="sklearn-ssl-ltm-", dir=args.tmp)
    try:
        write_files(folder, n)
        results = []
        for mode in args.formats:
            proc = subprocess.run([sys.executable, __file__, "--child", mode, folder, "--memory-mb",
                                   str(args.memory_mb), "--batch-size", str(args.batch_size),
                                   "--augmentations", args.augmentations, "--threads", str(args.threads)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for r in results:
        for kind in ("memory", "disk"):
            m, ref = r[kind], r["memory"]
            rows.append([f"{r['mode']} {kind}" if kind == "disk" else f"in memory (for {r['mode']})", m["n"],
                         f"{m['input_mb']:.0f}", str(args.memory_mb) if kind == "disk" else "none",
                         f"{m['fit_anon_mb']:.0f}", f"{m['fit_data_mb']:.0f}", f"{m['fit_img_s']:.0f}",
                         f"{m['fit_img_s'] / ref['fit_img_s']:.2f}", f"{m['fit_cpu_img_s'] / ref['fit_cpu_img_s']:.2f}",
                         f"{m['transform_anon_mb']:.0f}", f"{m['transform_img_s']:.0f}",
                         f"{m['transform_img_s'] / ref['transform_img_s']:.2f}",
                         f"{m['transform_cpu_img_s'] / ref['transform_cpu_img_s']:.2f}"])
    print()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; images {'x'.join(map(str, SHAPE))} "
          f"float32, batch {args.batch_size}, TinyCNN, augmentations {args.augmentations}, 1 epoch")
    print(table(["data", "n", "input MB", "limit MB", "fit peak anon MB", "fit peak data MB", "fit img/s",
                 "fit ratio", "fit CPU ratio", "transform peak anon MB", "transform img/s", "transform ratio",
                 "transform CPU ratio"], rows))

if __name__ == "__main__":
    main()
