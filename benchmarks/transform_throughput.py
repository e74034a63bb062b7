"""Embedding throughput and peak memory of ContrastiveEmbedder.transform.

1. Throughput: ``emb.transform(X)`` against the raw loop it wraps,
   ``encoder(normaliser(eval_view(x)))`` under ``torch.inference_mode`` in the same
   batches, writing into a preallocated float32 output. Interleaved repeats, medians.
2. Peak memory: each of the two runs in a fresh subprocess on a read-only ``np.memmap``
   input of N samples. Reported: peak RSS (``ru_maxrss``) minus the RSS just before the
   call, and the peak of anonymous (heap) memory above its level before the call,
   sampled every 2 ms from /proc/self/status. Touched pages of the memmap are
   file-backed and count in RSS (the kernel can drop them), not in anonymous memory.

Run:
    python benchmarks/transform_throughput.py              # n=4000 in memory, N=20000 memmap (~420 MB)
    python benchmarks/transform_throughput.py --device cuda --memmap-n 100000
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

from _common import images, machine, median, sync, table
from sklearn_ssl import ContrastiveEmbedder

MB = 1024 ** 2


def raw_embed(emb: ContrastiveEmbedder, X: np.ndarray) -> np.ndarray:
    """The no-framework bound: the trained modules applied batch by batch."""
    net = emb.net_
    enc, norm, aug = net.module_, net.normalizer_, net.augmentations_
    enc.eval()
    device = torch.device(net.device)
    step = net.batch_size
    out = np.empty((len(X), emb.embedding_dim_), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(X), step):
            x = torch.from_numpy(np.ascontiguousarray(X[s:s + step])).to(device)
            out[s:s + step] = enc(norm(aug.eval_view(x))).float().cpu().numpy()
    return out


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(model: str, data: str, n: int, shape: tuple[int, ...], mode: str, threads: int) -> None:
    """Run in a fresh process: load, map, measure one call, print JSON."""
    torch.set_num_threads(threads)
    emb = ContrastiveEmbedder.load(model)
    X = np.memmap(data, dtype=np.float32, mode="r", shape=(n, *shape))
    fn = emb.transform if mode == "ours" else (lambda A: raw_embed(emb, A))
    fn(np.ascontiguousarray(X[:2]))  # warm-up on two samples (lazy inits), not the full input
    rss0 = _status_kb("VmRSS")
    anon0 = _status_kb("RssAnon")
    peak_anon = [anon0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    Z = fn(X)
    secs = time.perf_counter() - t0
    done.set()
    t.join()
    peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"mode": mode, "seconds": secs, "rss_delta_mb": (maxrss - rss0) / 1024,
                      "anon_delta_mb": (peak_anon[0] - anon0) / 1024, "out_mb": Z.nbytes / MB,
                      "in_mb": X.nbytes / MB, "rss_before_mb": rss0 / 1024}))


def memory(args, emb: ContrastiveEmbedder, shape) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        model, data = os.path.join(tmp, "emb.joblib"), os.path.join(tmp, "X.f32")
        emb.save(model)
        mm = np.memmap(data, dtype=np.float32, mode="w+", shape=(args.memmap_n, *shape))
        for s in range(0, args.memmap_n, 2000):  # write in chunks: the parent never holds it all
            mm[s:s + 2000] = images(min(2000, args.memmap_n - s), shape, seed=s)
        mm.flush()
        del mm
        for r in range(args.memory_repeats):
            for mode in ("ref", "ours"):
                cmd = [sys.executable, os.path.abspath(__file__), "--child", model, data, str(args.memmap_n),
                       ",".join(map(str, shape)), mode, str(args.threads)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                print(f"memmap repeat {r} {mode:4s}: {res}", flush=True)
                results.append(res)
    return results


def main(argv=None):
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, data, n, shape, mode, threads = sys.argv[2:8]
        child(model, data, int(n), tuple(int(s) for s in shape.split(",")), mode, int(threads))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="small")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--n", type=int, default=4000, help="in-memory samples for the throughput part")
    ap.add_argument("--memmap-n", type=int, default=20000, help="samples in the memmap for the memory part")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-repeats", type=int, default=1, help="subprocess runs of each for the memory part")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda requested but no CUDA device is available")
    torch.set_num_threads(args.threads)
    shape = (args.bands, args.size, args.size)

    emb = ContrastiveEmbedder(encoder=args.encoder, batch_size=args.batch_size, max_epochs=1,
                              device=args.device, random_state=0).fit(images(512, shape, seed=1))
    X = images(args.n, shape)
    np.testing.assert_allclose(emb.transform(X[:64]), raw_embed(emb, X[:64]), rtol=1e-4, atol=1e-5)
    rates = {"ref": [], "ours": []}
    fns = {"ref": lambda: raw_embed(emb, X), "ours": lambda: emb.transform(X)}
    for r in range(args.repeats):
        for name in ("ref", "ours"):
            sync(args.device)
            t0 = time.perf_counter()
            fns[name]()
            sync(args.device)
            rates[name].append(args.n / (time.perf_counter() - t0))
            print(f"repeat {r} {name:4s}: {rates[name][-1]:.0f} img/s", flush=True)
    ref, ours = median(rates["ref"]), median(rates["ours"])

    print()
    print(f"machine: {machine(args.device)}")
    print(f"throughput: n={args.n}, batch {args.batch_size}, {args.repeats} interleaved repeats, medians")
    print(table(["encoder", "image", "batch", "device", "ref img/s", "ours img/s", "ratio"],
                [[args.encoder, "x".join(map(str, shape)), args.batch_size, args.device,
                  f"{ref:.0f}", f"{ours:.0f}", f"{ours / ref:.3f}"]]))
    if args.skip_memory:
        return
    res = memory(args, emb, shape)
    rows = []
    for mode in ("ref", "ours"):
        rs = [r for r in res if r["mode"] == mode]
        rows.append([mode, f"{rs[0]['in_mb']:.0f}", f"{rs[0]['out_mb']:.1f}",
                     f"{median(r['rss_delta_mb'] for r in rs):.0f}", f"{median(r['anon_delta_mb'] for r in rs):.0f}",
                     f"{median(args.memmap_n / r['seconds'] for r in rs):.0f}"])
    print(f"\npeak memory: transform of a read-only np.memmap of {args.memmap_n} x {'x'.join(map(str, shape))} "
          f"float32, fresh subprocess each, medians of {args.memory_repeats}")
    print(table(["code", "input MB", "output MB", "peak RSS - RSS before (MB)", "peak anon - before (MB)",
                 "img/s"], rows))


if __name__ == "__main__":
    main()
