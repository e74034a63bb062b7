"""Pretraining and embedding a collection 4x larger than the memory the process may allocate.

A file of ``4 * --memory-mb`` MB of 5 x 32 x 32 float32 images is written to a temporary
folder as ``.npy`` and as a contiguous HDF5 dataset. One fresh subprocess per format runs,
``--repeats`` times over, interleaved (so that all see the same machine load as nearly as
can be):

- the reference: ``fit`` (1 epoch) and ``transform`` on an in-memory array of the file's
  first quarter, without a limit;
- ``npy`` / ``h5``, *package reader*: ``fit`` (1 epoch) and ``transform`` on the whole file,
  opened with ``np.load(mmap_mode="r")`` / ``h5py.File(...)["images"]``, read by the
  package (a background thread, two batches ahead);
- the same, *DataLoader*: the package's reader replaced, in the training epoch and in
  ``transform``, by a ``torch.utils.data.DataLoader`` with ``--workers`` worker processes
  (fork, ``prefetch_factor=2``) reading the very same batches (the epoch's shuffled
  indices), each worker opening the file itself; everything else is the package's.

Each ``fit`` and each ``transform`` from disk runs under a limit: ``RLIMIT_DATA`` (the
process's private writable memory: heap, anonymous maps, thread stacks) is set to its
current size plus ``--memory-mb`` just before the call and lifted after it (each process runs with glibc's
``MALLOC_MMAP_THRESHOLD_`` at 256 KiB, so that freed batch-sized buffers leave VmData
instead of lingering in per-thread arenas). A read-only file mapping does not count
against it; an allocation past it fails (a DataLoader worker is a process of its own,
with its own limit, and its memory is not in the columns). ``RLIMIT_AS`` is not used:
torch reserves large virtual address ranges it never touches.

The file's pages are dropped from the page cache (``posix_fadvise(DONTNEED)``, this file
only) before each disk run, so reads start cold. Ratios are per image, disk against the
reference of the same process; the fastest of the repeats is reported for each (other
jobs only ever slow a run down). The CPU-time ratio (DataLoader rows: with the workers'
CPU time) is less sensitive to other jobs sharing the cores than the wall-clock one.
Reported: images/s of the training epoch (``EpochClock``) and of ``transform``; the
fraction of that time the loop *waited* for its next batch (0% when reading keeps
ahead of the encoder); peak *anonymous* RSS above the level before the call (the heap
really used: file-backed pages of the memmap are reclaimable and excluded; memory freed
by an earlier run and kept by the allocator is reused without showing), sampled every
2 ms from ``/proc/self/status``; and peak ``VmData`` above the level before the call
(what ``RLIMIT_DATA`` counts).

The encoder is a two-layer CNN and augmentations are off by default (``--augmentations``
sets a preset): the training step is as cheap as it gets, so the data path weighs as much
as it can against it. Batch 256.

Run:
    python benchmarks/larger_than_memory.py                 # 128 MB allowed, 512 MB file
    python benchmarks/larger_than_memory.py --memory-mb 256 --augmentations auto
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from _common import EpochClock, Peak, clock_of, images, machine, status_mb as _status_mb, table

MB = 1024 ** 2
SHAPE = (5, 32, 32)
#: glibc: every buffer from 256 KiB up is mapped on allocation and unmapped when freed, so that
#: VmData (what RLIMIT_DATA counts) follows the memory in use; by default freed buffers stay
#: in per-thread arenas, reusable only in part, and a later run's limit then failed at random.
CHILD_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(256 * 1024)}


class TinyCNN(nn.Module):
    """Two strided convolutions and a pooling: a cheap encoder, so the data path shows."""

    def __init__(self, in_channels: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.net(x)


def _embedder(batch: int, augmentations: str):
    from sklearn_ssl import ContrastiveEmbedder

    return ContrastiveEmbedder(encoder=TinyCNN, batch_size=batch, max_epochs=1, device="cpu", random_state=0,
                               augmentations=None if augmentations == "none" else augmentations,
                               callbacks=[("clock", EpochClock())])


class Waits:
    """Wall seconds the training or embedding loop spent waiting for its next batch."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, batches):
        batches = iter(batches)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - t0
            yield batch


class _BatchRows(torch.utils.data.Dataset):
    """One item per batch: the rows of a list of index arrays (or slices), read in a DataLoader
    worker from the file, opened by path in each worker (an h5py handle must not cross a fork)."""

    def __init__(self, path: str, batches: list):
        self.path, self.batches, self.X = path, batches, None

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, k):
        from sklearn_ssl.engine._disk import as_float_tensor, mapped_hdf5, read_rows

        if self.X is None:  # as the package reads it (a contiguous HDF5 dataset: mapped)
            self.X = mapped_hdf5(_open(self.path))
        return as_float_tensor(read_rows(self.X, self.batches[k]))


def _open(path: str):
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    import h5py

    return h5py.File(path, "r")["images"]


def _loader(path: str, batches: list, workers: int, waits: Waits):
    loader = torch.utils.data.DataLoader(_BatchRows(path, batches), batch_size=None, num_workers=workers,
                                         prefetch_factor=2, multiprocessing_context="fork")
    return waits.wrap(loader)


@contextlib.contextmanager
def _reader(kind: str, path: str, waits: Waits, workers: int):
    """Route the package's disk reads: ``thread`` keeps its background-thread reader (timed);
    ``dataloader`` replaces it, in fit and transform, by a torch DataLoader with ``workers``
    processes reading the same batches (the same shuffled indices in fit), all else unchanged."""
    from sklearn_ssl.engine import _batches
    from sklearn_ssl.engine import _estimator
    from sklearn_ssl.engine import _training

    saved = _training.ContrastiveNet.get_iterator, _estimator.read_ahead, _batches.read_ahead

    def timed_read_ahead(load, items, depth=2):
        return waits.wrap(saved[1](load, items, depth))

    def loader_read_ahead(load, items, depth=2):  # transform: the same slices, read by the workers
        return _loader(path, [slice(i, i + items.step) for i in items], workers, waits)

    def loader_iterator(net, dataset, training=False):
        batches = saved[0](net, dataset, training=training)
        if not training:
            return batches

        class Epoch:
            def __len__(self):
                return len(batches)

            def __iter__(self):
                order = [i if isinstance(i, slice) else i.numpy() for i in batches._indices()]
                return ((xb, None) for xb in _loader(path, order, workers, waits))

        return Epoch()

    if kind == "thread":
        _estimator.read_ahead = _batches.read_ahead = timed_read_ahead
    else:
        _training.ContrastiveNet.get_iterator, _estimator.read_ahead = loader_iterator, loader_read_ahead
    try:
        yield
    finally:
        _training.ContrastiveNet.get_iterator, _estimator.read_ahead, _batches.read_ahead = saved


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


@contextlib.contextmanager
def _limited(memory_mb: int | None):
    """RLIMIT_DATA at the process's current size plus ``memory_mb`` while inside (None: no limit)."""
    if memory_mb is None:
        yield
        return
    gc.collect()
    unlimited = resource.getrlimit(resource.RLIMIT_DATA)
    limit = int((_status_mb("VmData") + memory_mb) * MB)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, unlimited[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, unlimited)


def _measure(X, batch: int, augmentations: str, reader=None, memory_mb=None) -> dict:
    """fit (1 epoch) and transform of X, each under its own limit of ``memory_mb`` beyond the
    process's size before it; ``reader=(kind, path, workers)`` for a file on disk."""
    model = _embedder(batch, augmentations)
    fit_waits, tr_waits = Waits(), Waits()
    route = (lambda w: _reader(reader[0], reader[1], w, reader[2])) if reader else (lambda w: contextlib.nullcontext())
    c0 = _children_cpu()
    with _limited(memory_mb), Peak() as fit_mem, route(fit_waits):
        model.fit(X)
    (epoch_wall, epoch_cpu), = clock_of(model).epoch_seconds()
    epoch_cpu += _children_cpu() - c0  # DataLoader workers (ended with the epoch)
    with _limited(memory_mb), Peak() as tr_mem, route(tr_waits):
        t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
        model.transform(X)
        tr_wall = time.perf_counter() - t0
        tr_cpu = time.process_time() - c0 + _children_cpu() - k0
    return {"n": len(X), "input_mb": len(X) * int(np.prod(SHAPE)) * 4 / MB,
            "fit_img_s": len(X) / epoch_wall, "fit_cpu_img_s": len(X) / epoch_cpu,
            "fit_wait": fit_waits.seconds / epoch_wall,
            "fit_anon_mb": fit_mem.growth["RssAnon"], "fit_data_mb": fit_mem.growth["VmData"],
            "transform_img_s": len(X) / tr_wall, "transform_cpu_img_s": len(X) / tr_cpu,
            "transform_wait": tr_waits.seconds / tr_wall,
            "transform_anon_mb": tr_mem.growth["RssAnon"], "transform_data_mb": tr_mem.growth["VmData"]}


def _best(runs: list) -> dict:
    """Over repeats, the fastest run's fit figures and the fastest run's transform figures
    (other jobs on the machine only ever slow a run down); peak memory: the largest of all."""
    out = {}
    for step in ("fit", "transform"):
        fastest = max(runs, key=lambda r: r[f"{step}_img_s"])
        out.update({k: v for k, v in fastest.items() if k.startswith(step)})
        out.update({k: max(r[k] for r in runs) for k in fastest if k.startswith(step) and k.endswith("_mb")})
    return {"n": runs[0]["n"], "input_mb": runs[0]["input_mb"], **out}


def child(mode: str, folder: str, memory_mb: int, batch: int, augmentations: str, threads: int,
          repeats: int, workers: int) -> None:
    """The in-memory reference on the file's first quarter, then the whole file from disk under
    RLIMIT_DATA through the package's reader and through a DataLoader, in one process,
    interleaved ``repeats`` times (so all see the same machine load as closely as possible)."""
    torch.set_num_threads(threads)
    _embedder(batch, augmentations).fit(images(128, SHAPE))  # warm-up: threads, lazy imports, arenas
    path = os.path.join(folder, "x.npy" if mode == "npy" else "x.h5")
    full = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
    X = np.array(full[: len(full) // 4])
    del full
    runs = {"memory": [], "thread": [], "dataloader": []}
    for _ in range(repeats):
        runs["memory"].append(_measure(X, batch, augmentations))
        for kind in ("thread", "dataloader") if workers else ("thread",):
            fd = os.open(path, os.O_RDONLY)  # start cold: this file's pages leave the page cache
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            runs[kind].append(_measure(_open(path), batch, augmentations, reader=(kind, path, workers),
                                       memory_mb=memory_mb))
    print(json.dumps({"mode": mode, **{k: _best(v) for k, v in runs.items() if v}}))


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
    ap.add_argument("--repeats", type=int, default=2,
                    help="interleaved repeats of every run; the fastest of each is reported")
    ap.add_argument("--workers", type=int, default=2,
                    help="DataLoader workers of the comparison rows (0: no DataLoader rows)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="folder for the temporary files")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.memory_mb, args.batch_size, args.augmentations,
                     args.threads, args.repeats, args.workers)
    n = (args.file_mb or 4 * args.memory_mb) * MB // (int(np.prod(SHAPE)) * 4)
    folder = tempfile.mkdtemp(prefix="sklearn-ssl-ltm-", dir=args.tmp)
    loads = [os.getloadavg()[0]]
    try:
        write_files(folder, n)
        results = []
        for mode in args.formats:
            proc = subprocess.run([sys.executable, __file__, "--child", mode, folder, "--memory-mb",
                                   str(args.memory_mb), "--batch-size", str(args.batch_size),
                                   "--augmentations", args.augmentations, "--threads", str(args.threads),
                                   "--repeats", str(args.repeats), "--workers", str(args.workers)],
                                  capture_output=True, text=True, env={**os.environ, **CHILD_MALLOC})
            if proc.returncode != 0:
                sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
            print(results[-1], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    names = {"memory": "in memory", "thread": "{mode}, package reader (1 thread)",
             "dataloader": f"{{mode}}, DataLoader ({args.workers} workers)"}
    for r in results:
        ref = r["memory"]
        for kind in ("memory", "thread", "dataloader"):
            if kind not in r:
                continue
            m = r[kind]
            rows.append([names[kind].format(mode=r["mode"]), m["n"], f"{m['input_mb']:.0f}",
                         "none" if kind == "memory" else str(args.memory_mb),
                         f"{m['fit_anon_mb']:.0f}", f"{m['fit_data_mb']:.0f}", f"{m['fit_img_s']:.0f}",
                         f"{m['fit_img_s'] / ref['fit_img_s']:.2f}", f"{m['fit_cpu_img_s'] / ref['fit_cpu_img_s']:.2f}",
                         "" if kind == "memory" else f"{m['fit_wait']:.0%}",
                         f"{m['transform_anon_mb']:.0f}", f"{m['transform_img_s']:.0f}",
                         f"{m['transform_img_s'] / ref['transform_img_s']:.2f}",
                         f"{m['transform_cpu_img_s'] / ref['transform_cpu_img_s']:.2f}",
                         "" if kind == "memory" else f"{m['transform_wait']:.0%}"])
    print()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; load average (1 min) {' / '.join(f'{x:.1f}' for x in loads)} before / after "
          f"each format; images {'x'.join(map(str, SHAPE))} float32, batch {args.batch_size}, TinyCNN, "
          f"augmentations {args.augmentations}, 1 epoch; fastest of {args.repeats} interleaved repeats")
    print(table(["data", "n", "input MB", "limit MB", "fit peak anon MB", "fit peak data MB", "fit img/s",
                 "fit ratio", "fit CPU ratio", "fit waiting", "transform peak anon MB", "transform img/s",
                 "transform ratio", "transform CPU ratio", "transform waiting"], rows))


if __name__ == "__main__":
    main()
