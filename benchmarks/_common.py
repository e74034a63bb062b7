"""Shared helpers for the benchmark scripts (not part of the package).

Each benchmark measures a hand-written reference in the same process, interleaved with
the library's code (ref, ours, ref, ours, ...), and reports medians: the development
machines are shared, and only same-run comparisons mean anything.
"""
from __future__ import annotations

import datetime
import platform
import statistics
import threading
import time

import numpy as np
import torch
from skorch.callbacks import Callback


def sync(device) -> None:
    """Wait for queued kernels so that wall-clock timings are real."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class EpochClock(Callback):
    """Records wall and process CPU time when training starts and at every epoch end.

    Epoch ``i`` lasts ``ends[i] - ends[i-1]``: everything skorch and its callbacks do
    between two epoch ends counts, not just the batch loop. CPU time (all threads of the
    process) is far less sensitive than wall time to other programs sharing the cores.
    """

    def __init__(self, device="cpu"):
        self.device = device

    def initialize(self):
        self.ends = []
        return self

    def on_train_begin(self, net, **kwargs):
        sync(self.device)
        self.ends = [now()]

    def on_epoch_end(self, net, **kwargs):
        sync(self.device)
        self.ends.append(now())

    def epoch_seconds(self) -> list[tuple[float, float]]:
        """(wall, cpu) seconds of each epoch."""
        return [tuple(b - a for a, b in zip(p, q)) for p, q in zip(self.ends, self.ends[1:])]


def now() -> tuple[float, float]:
    """(wall-clock, process CPU) seconds."""
    return time.perf_counter(), time.process_time()


def clock_of(embedder) -> EpochClock:
    """The EpochClock instance inside a fitted ContrastiveEmbedder's net."""
    for _, cb in embedder.net_.callbacks_:
        if isinstance(cb, EpochClock):
            return cb
    raise RuntimeError("no EpochClock among the net's callbacks")


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Positive, galaxy-like float32 images (content does not affect throughput)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    np.abs(x, out=x)
    return x


def median(values) -> float:
    return float(statistics.median(values))


def machine(device="cpu") -> str:
    if torch.device(device).type == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
    return (f"{name}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
            f"{datetime.date.today().isoformat()}")


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown/RST-grid-friendly pipe table."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c:.3g}" if isinstance(c, float)
                                            else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """Peak of RssAnon (the heap really used) and VmData (what RLIMIT_DATA counts) above their
    level at entry, sampled every 2 ms in a thread; ``growth`` after exit (MB, Linux)."""

    def __enter__(self):
        self.base = {f: status_mb(f) for f in ("RssAnon", "VmData")}
        self.peak = dict(self.base)
        self.stop = threading.Event()

        def sample():
            while not self.stop.is_set():
                for f in self.peak:
                    self.peak[f] = max(self.peak[f], status_mb(f))
                time.sleep(0.002)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for f in self.peak:
            self.peak[f] = max(self.peak[f], status_mb(f))
        self.growth = {f: self.peak[f] - self.base[f] for f in self.peak}
