"""Heap growth of ``fit`` and ``predict``/``transform`` of every torch estimator on a memmap.

Writes a float32 ``.npy`` file (default 1 GiB of 5 x 64 x 64 images) and, in one subprocess
per estimator, after a warm-up fit on 256 images (threads, allocator pools, lazy imports),
runs ``fit`` (1 epoch) and then ``predict`` (``transform`` for the embedders) on the
first eighth of the read-only memory map's rows and on all of them, sampling the process's anonymous resident memory (``RssAnon``: the
heap really used; the memmap's file pages are reclaimable and do not count) every 2 ms.
The table gives the peak growth of each call above its level at entry, next to the input's
size: a call that copied its input whole would grow by at least the input's size. The
reference is the same estimator's ``fit`` on an in-memory array of 256 images, measured
the same way in the same process.

    python benchmarks/estimator_memory.py                 # 1 GiB, about 10 minutes on 2 CPU cores
    python benchmarks/estimator_memory.py --file-mb 128   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import Peak

SHAPE = (5, 64, 64)
MB = 2 ** 20
ESTIMATORS = ("ContrastiveEmbedder", "CrossModalEmbedder", "FineTunedClassifier", "FineTunedRegressor",
              "PhotoZRegressor")


def _model(name: str, batch: int):
    import sklearn_ssl
    from sklearn_ssl.nn.encoders import SmallCNN

    encoder = SmallCNN(in_channels=SHAPE[0], width=4)
    common = dict(max_epochs=1, batch_size=batch, device="cpu", random_state=0)
    if name == "CrossModalEmbedder":
        return sklearn_ssl.CrossModalEmbedder(image_encoder=encoder, **common)
    if name == "ContrastiveEmbedder":
        return sklearn_ssl.ContrastiveEmbedder(encoder=encoder, **common)
    return getattr(sklearn_ssl, name)(encoder=encoder, **common)


def _targets(name: str, n: int, rng):
    if name == "ContrastiveEmbedder":
        return None
    if name == "CrossModalEmbedder":
        return rng.normal(size=(n, 8)).astype(np.float32)
    if name == "FineTunedClassifier":
        return np.arange(n) % 3
    return rng.uniform(0.01, 0.35, n)


def child(name: str, path: str, batch: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    X = np.load(path, mmap_mode="r")
    rng = np.random.default_rng(0)
    y = _targets(name, len(X), rng)
    args = lambda idx: (X[idx],) if y is None else (X[idx], y[idx])  # noqa: E731
    small = np.asarray(X[:256])
    _model(name, batch).fit(small, *(() if y is None else (y[:256],)))  # warm-up
    with Peak() as ref:
        _model(name, batch).fit(small, *(() if y is None else (y[:256],)))
    model = _model(name, batch)
    with Peak() as fit_mem:
        t0 = time.perf_counter()
        model.fit(*args(slice(None)))
        fit_s = time.perf_counter() - t0
    use = model.transform if hasattr(model, "transform") else model.predict
    with Peak() as eighth_mem:  # the same call on an eighth of the rows: a bounded call grows alike
        use(X[:len(X) // 8])
    with Peak() as use_mem:
        t0 = time.perf_counter()
        out = use(X)
        use_s = time.perf_counter() - t0
    out = out[0] if isinstance(out, tuple) else out
    print(json.dumps({"estimator": name, "n": len(X), "input_mb": X.nbytes / MB,
                      "ref_fit_mb": ref.growth['RssAnon'], "fit_mb": fit_mem.growth['RssAnon'], "fit_s": fit_s,
                      "call": "transform" if hasattr(model, "transform") else "predict",
                      "call_mb": use_mem.growth['RssAnon'], "call_s": use_s,
                      "call_eighth_mb": eighth_mem.growth['RssAnon'], "output_mb": np.asarray(out).nbytes / MB}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file-mb", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--child", nargs=2, metavar=("ESTIMATOR", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.batch_size, args.threads)
    n = max(512, int(args.file_mb * MB // (4 * np.prod(SHAPE))))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "images.npy")
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *SHAPE))
        rng = np.random.default_rng(0)
        for i in range(0, n, 1024):
            X[i:i + 1024] = rng.normal(size=(min(1024, n - i), *SHAPE))
        X.flush()
        del X
        for name in args.estimators.split(","):
            proc = subprocess.run([sys.executable, __file__, "--child", name, path, "--batch-size",
                                   str(args.batch_size), "--threads", str(args.threads)],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{name}: fit +{r['fit_mb']:.0f} MB in {r['fit_s']:.0f} s, {r['call']} +{r['call_mb']:.0f} MB",
                  flush=True)
    print(f"\n{n} images of {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} float32 ({rows[0]['input_mb']:.0f} MB memmap), "
          f"batch {args.batch_size}, {args.threads} torch thread(s); peak RssAnon growth (MB)")
    header = ["estimator", "fit on 256 in memory", "fit on the memmap", "predict/transform on n/8",
              "predict/transform on n", "its output"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print(f"| {r['estimator']} | {r['ref_fit_mb']:.0f} | {r['fit_mb']:.0f} | {r['call_eighth_mb']:.0f} | "
              f"{r['call_mb']:.0f} ({r['call']}) | {r['output_mb']:.1f} |")


if __name__ == "__main__":
    main()
