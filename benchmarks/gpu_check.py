"""The GPU check: one run, one table, for the first machine with a GPU (see gpu_check.sh).

For resnet18 and resnet50 on 5 x 64 x 64 images, bf16 autocast, batch 256, data resident
on the GPU and the "auto" augmentations drawn on the GPU:

- ``fit``: ``ContrastiveEmbedder.fit`` images/s over whole epochs (after a warm-up epoch)
  against the bare training step (``gpu_throughput.bare_step_rate``: forward of two
  precomputed views, NT-Xent, backward, AdamW, on one fixed batch: the model's ceiling);
- ``fit compile=True``: the same fit with ``compile=True`` against eager ``fit``
  (its warm-up epoch absorbs the compilation);
- ``transform``: ``transform`` of host (numpy) images against the raw inference loop
  (``transform_throughput.raw_embed``: the trained modules batch by batch);
- ``augmentations``: two views of the "auto" preset on one batch, as a fraction of one
  bare resnet18 training step;
- peak GPU memory (``torch.cuda.max_memory_allocated``) of each measured call.

Interleaving and medians as in the other benchmarks; ``--repeats`` pairs for ``fit``.
Designed to finish in under 8 minutes on one modern GPU (mostly resnet50 and compilation).

    bash benchmarks/gpu_check.sh                       # needs CUDA; exits 1 with a message without
    bash benchmarks/gpu_check.sh --device cpu --quick  # seconds: the code path on tiny inputs (numbers meaningless)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from _common import EpochClock, clock_of, images, machine, median, sync, table
from gpu_throughput import bare_step_rate
from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.augment import resolve_augmentations
from transform_throughput import raw_embed


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device: str) -> str:
    if not device.startswith("cuda"):
        return "n/a (cpu)"
    return f"{torch.cuda.max_memory_allocated() / 2 ** 20:.0f}"


def fit_rate(X, encoder, args, *, compile=False, seed=0):
    """(images/s over the timed epochs, peak GPU MB, fitted embedder)."""
    _reset_peak(args.device)
    emb = ContrastiveEmbedder(encoder=encoder, batch_size=args.batch_size, max_epochs=args.epochs + 1,
                              precision=args.precision, device=args.device, compile=compile,
                              callbacks=[EpochClock(args.device)], random_state=seed)
    emb.fit(X)
    rates = [len(X) / wall for wall, _ in clock_of(emb).epoch_seconds()[1:]]
    return median(rates), _peak_mb(args.device), emb


def transform_rates(emb, X, args):
    """(ours img/s, raw loop img/s, peak GPU MB) medians over interleaved repeats."""
    ours, raw = [], []
    _reset_peak(args.device)
    emb.transform(X[: args.batch_size])  # warm-up
    for _ in range(args.repeats + 1):
        sync(args.device)
        t0 = time.perf_counter()
        raw_embed(emb, X)
        sync(args.device)
        raw.append(len(X) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        emb.transform(X)
        sync(args.device)
        ours.append(len(X) / (time.perf_counter() - t0))
    return median(ours), median(raw), _peak_mb(args.device)


def augmentation_ms(shape, args, reps: int = 10) -> float:
    """Median ms of two "auto" views of one batch on the device (what one training step draws)."""
    device = torch.device(args.device)
    aug = resolve_augmentations("auto", shape).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.as_tensor(images(args.batch_size, shape)).to(device)
    times = []
    for _ in range(reps + 1):
        sync(args.device)
        t0 = time.perf_counter()
        aug(x, generator=g)
        aug(x, generator=g)
        sync(args.device)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[1:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--encoders", nargs="+", default=["resnet18", "resnet50"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--n", type=int, default=8192, help="training images")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per fit (plus one warm-up)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved (bare, fit) pairs; medians")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--no-compile", action="store_true", help="skip the compile=True rows")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a check of the code path (numbers meaningless)")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible to torch (torch.cuda.is_available() is False), so there is "
              "nothing to measure. Run it on a GPU machine, or check the code path on the CPU with "
              "'--device cpu --quick' (numbers meaningless).", file=sys.stderr)
        return 1
    if not args.device.startswith("cuda") and not args.quick:
        print("gpu_check: on the CPU only '--quick' is supported (a check of the code path).", file=sys.stderr)
        return 2
    if args.quick:
        args.size, args.n, args.batch_size, args.epochs, args.repeats = 8, 32, 16, 1, 1
        args.encoders = args.encoders[:1]
        if not args.device.startswith("cuda"):  # the code path only: the smallest encoder, no inductor
            args.encoders, args.precision, args.no_compile = ["small"], "fp32", True
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    shape = (args.bands, args.size, args.size)
    X = images(args.n, shape)
    steps = 2 if args.quick else max(5, args.n // args.batch_size)
    start = time.perf_counter()
    step_encoder = "resnet18" if "resnet18" in args.encoders else args.encoders[0]
    rows, step_rate = [], None
    for name in args.encoders:
        bare, ours, peak = [], [], None
        for r in range(args.repeats):
            bare.append(bare_step_rate(name, shape, args.batch_size, steps, args.precision, args.device))
            rate, peak, emb = fit_rate(X, name, args, seed=r)
            ours.append(rate)
        b, o = median(bare), median(ours)
        step_rate = b if name == step_encoder else step_rate
        rows.append([name, "fit img/s vs bare training step", f"{o:.0f}", f"{b:.0f}", f"{o / b:.2f}", peak])
        if not args.no_compile:
            c, cpeak, _ = fit_rate(X, name, args, compile=True)
            rows.append([name, "fit compile=True img/s vs eager fit", f"{c:.0f}", f"{o:.0f}", f"{c / o:.2f}", cpeak])
        else:
            rows.append([name, "fit compile=True img/s vs eager fit", "skipped", f"{o:.0f}", "--", "--"])
        t, raw, tpeak = transform_rates(emb, X, args)
        rows.append([name, "transform img/s vs raw inference loop", f"{t:.0f}", f"{raw:.0f}", f"{t / raw:.2f}", tpeak])
        print(f"{name} done after {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    step_ms = 1e3 * args.batch_size / step_rate
    aug = augmentation_ms(shape, args, reps=2 if args.quick else 10)
    rows.append([step_encoder, 'augmentations ("auto", 2 views) ms vs bare step ms', f"{aug:.1f}", f"{step_ms:.1f}",
                 f"{aug / step_ms:.2f}", "--"])
    print()
    print(f"machine: {machine(args.device)}; images {'x'.join(map(str, shape))}, {args.precision}, batch "
          f"{args.batch_size}, n={args.n}, {args.epochs} timed epochs, {args.repeats} repeats; "
          f"{time.perf_counter() - start:.0f} s in all")
    print(table(["encoder", "measurement", "value", "reference", "ratio", "peak GPU MB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
