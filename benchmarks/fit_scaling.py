"""Fit time per epoch of ContrastiveEmbedder against the number of samples (should be linear).

For each n the embedder is fitted for ``1 + epochs`` epochs (the first is a warm-up and is
not timed); the median epoch time is reported, with a least-squares line
``t = a + b n`` through all points and each point's time per sample. A reference column
times the same work with a minimal hand-written loop (see fit_throughput.py), run
interleaved, so that machine noise shows up in both.

Run:
    python benchmarks/fit_scaling.py                    # n = 1000, 2000, 4000, 8000; small CNN; 5x32x32
    python benchmarks/fit_scaling.py --ns 1000 2000 --no-reference
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from _common import images, machine, median, table
from fit_throughput import ours_fit, reference_fit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    ap.add_argument("--encoder", default="small")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per n (plus one warm-up)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shape = (args.bands, args.size, args.size)
    kw = dict(encoder=args.encoder, batch_size=args.batch_size, epochs=args.epochs + 1, lr=1e-3,
              weight_decay=1e-4, augmentations="auto", precision="fp32", device=args.device)
    ours, ref, ours_cpu = [], [], []
    for n in args.ns:
        X = images(n, shape)
        if not args.no_reference:
            ref.append(median(w for w, _ in reference_fit(X, **kw)[1:]))
        secs = ours_fit(X, **kw)[1:]
        ours.append(median(w for w, _ in secs))
        ours_cpu.append(median(c for _, c in secs))
        print(f"n={n}: ours {ours[-1]:.2f} s/epoch wall, {ours_cpu[-1]:.2f} CPU-s" + ("" if args.no_reference else f", ref {ref[-1]:.2f}"),
              flush=True)
    ns = np.asarray(args.ns, dtype=float)
    t, c = np.asarray(ours), np.asarray(ours_cpu)
    lines = {}
    for name, v in (("wall", t), ("CPU", c)):
        b, a = np.polyfit(ns, v, 1)
        fit = a + b * ns
        r2 = 1 - ((v - fit) ** 2).sum() / max(((v - v.mean()) ** 2).sum(), 1e-12)
        lines[name] = (a, b, fit, r2)
    fit = lines["CPU"][2]
    rows = []
    for i, n in enumerate(args.ns):
        row = [n, f"{t[i]:.2f}", f"{c[i]:.2f}", f"{1e3 * c[i] / n:.2f}", f"{fit[i]:.2f}"]
        if not args.no_reference:
            row += [f"{ref[i]:.2f}", f"{ref[i] / t[i]:.3f}"]
        rows.append(row)
    print()
    print(f"machine: {machine(args.device)}; {args.encoder}, {'x'.join(map(str, shape))}, batch "
          f"{args.batch_size}; median of {args.epochs} timed epochs per n")
    headers = ["n", "wall s/epoch", "CPU s/epoch", "CPU ms/sample", "linear fit CPU s"]
    if not args.no_reference:
        headers += ["ref s/epoch", "ref/ours"]
    print(table(headers, rows))
    for name, (a, b, _, r2) in lines.items():
        print(f"linear fit ({name}): t = {a:.3f} s + {1e3 * b:.3f} ms x n  (R^2 = {r2:.4f})")


if __name__ == "__main__":
    main()
