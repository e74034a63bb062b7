"""Pretraining throughput: ContrastiveEmbedder.fit against a minimal hand-written SimCLR loop.

The reference ("no-framework" bound) uses the same encoder (``build_encoder``), projection
head (``ProjectionHead``), augmentation module (``resolve_augmentations``) drawn with a
generator on the device, per-band standardisation (median / std of the training set),
AdamW (lr, weight decay), cosine learning-rate schedule stepped per epoch, batch size,
NT-Xent loss (``nt_xent``), autocast precision and number of epochs; the data are one
tensor on the device indexed by a seeded permutation each epoch. The two are timed
interleaved (ref, ours, ref, ours, ...); the first epoch of every run is a warm-up and is
not timed. Throughput is training images per second (each image is seen as two views).
As in SimCLR (and the library), the two views go through the encoder as one concatenated
batch; ``--separate-views`` also times the reference with one encoder call per view (the
library's SimCLR step before it concatenated them), to measure what concatenation costs.
``--method moco`` times MoCo v2 instead: the reference adds the momentum key encoder and
projector (no BatchNorm in the head), keys with shuffled BatchNorm (the key batch permuted,
encoded in ``KEY_GROUP``-image sub-batches, un-permuted) and the ``MoCoLoss`` queue with its
own-image mask, the same parts the library's step runs.

Run (defaults finish in a few minutes on 2 CPU cores):
    python benchmarks/fit_throughput.py
    python benchmarks/fit_throughput.py --encoder resnet18 --size 64 --device cuda --precision bf16 --n 8192
Profile the library's side only:
    python benchmarks/fit_throughput.py --profile ours --repeats 1
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import numpy as np
import torch

from _common import EpochClock, clock_of, images, machine, median, now, sync, table
from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.engine._methods import KEY_GROUP, ProjectionHead
from sklearn_ssl.augment import resolve_augmentations
from sklearn_ssl.nn.encoders import build_encoder, output_dim
from sklearn_ssl.nn.losses import MoCoLoss, momentum_update, nt_xent

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def reference_fit(X: np.ndarray, *, encoder: str, batch_size: int, epochs: int, lr: float,
                  weight_decay: float, augmentations: str, precision: str, device: str,
                  projection_dim: int = 128, temperature: float = 0.1, seed: int = 0,
                  separate_views: bool = False, method: str = "simclr", momentum: float = 0.99,
                  queue_size: int = 4096) -> list[float]:
    """A minimal SimCLR (or MoCo v2) loop; returns the (wall, cpu) seconds of each epoch."""
    torch.manual_seed(seed)
    shape = X.shape[1:]
    moco = method == "moco"
    enc = build_encoder(encoder, shape).to(device)
    head = ProjectionHead(output_dim(enc, shape), projection_dim, batch_norm=not moco).to(device)
    if moco:
        key_enc = copy.deepcopy(enc).requires_grad_(False)
        key_head = copy.deepcopy(head).requires_grad_(False)
        queue = MoCoLoss(projection_dim, min(queue_size, len(X)), temperature).to(device)
    aug = resolve_augmentations(augmentations, shape).to(device)
    axes = (0, 2, 3)
    loc = torch.as_tensor(np.median(X, axis=axes), device=device).view(1, -1, 1, 1)
    scale = torch.as_tensor(X.std(axis=axes), device=device).view(1, -1, 1, 1)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    dtype = _DTYPES[precision]
    dev = torch.device(device)
    X_dev = torch.as_tensor(X).to(device)
    n = len(X_dev)
    shuffle = torch.Generator().manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    enc.train(), head.train()
    sync(device)
    times = []
    for _ in range(epochs):
        t0 = now()
        order = torch.randperm(n, generator=shuffle).to(device)
        for i in range(0, n - 1, batch_size):  # a last batch of one sample is dropped, as in the library
            idx = order[i:i + batch_size]
            x = X_dev[idx]
            v1 = (aug(x, generator=gen) - loc) / scale
            v2 = (aug(x, generator=gen) - loc) / scale
            with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                if moco:
                    z1 = head(enc(v1))
                    with torch.no_grad():
                        momentum_update(enc, key_enc, momentum)
                        momentum_update(head, key_head, momentum)
                        m = len(v2)
                        perm = torch.randperm(m, generator=gen, device=v2.device)
                        parts = v2[perm].tensor_split(min(max(2, m // KEY_GROUP), m // 2))
                        z2 = torch.cat([key_head(key_enc(part)) for part in parts])[torch.argsort(perm)]
                elif separate_views:
                    z1, z2 = head(enc(v1)), head(enc(v2))
                else:  # one batch: BatchNorm statistics over both views, as in SimCLR
                    z1, z2 = head(enc(torch.cat([v1, v2]))).chunk(2)
            loss = queue(z1, z2, idx) if moco else nt_xent(z1, z2, temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        sync(device)
        t1 = now()
        times.append((t1[0] - t0[0], t1[1] - t0[1]))
    return times


def ours_fit(X: np.ndarray, *, encoder: str, batch_size: int, epochs: int, lr: float,
             weight_decay: float, augmentations: str, precision: str, device: str,
             seed: int = 0, method: str = "simclr") -> list[float]:
    emb = ContrastiveEmbedder(
        method=method,
        encoder=encoder, batch_size=batch_size, max_epochs=epochs, lr=lr, weight_decay=weight_decay,
        augmentations=augmentations, precision=precision, device=device, lr_schedule="cosine",
        normalize="standard",  # the reference's per-band standardisation (the default adds asinh)
        callbacks=[EpochClock(device)], random_state=seed,
    )
    emb.fit(X)
    return clock_of(emb).epoch_seconds()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="small")
    ap.add_argument("--method", default="simclr", choices=["simclr", "moco"])
    ap.add_argument("--size", type=int, default=32, help="image height = width")
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000, help="training images")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs (one more is run as warm-up)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved (ref, ours) pairs; medians reported")
    ap.add_argument("--augmentations", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=sorted(_DTYPES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", choices=["ours", "ref"], help="cProfile one run and print the top functions")
    ap.add_argument("--separate-views", action="store_true",
                    help="also time the reference with one encoder call per view ('ref-sep')")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda requested but no CUDA device is available")
    if args.precision != "fp32" and not args.device.startswith("cuda"):
        print(f"note: {args.precision} autocast on the CPU is usually slower than fp32")
    torch.set_num_threads(args.threads)

    X = images(args.n, (args.bands, args.size, args.size))
    kw = dict(encoder=args.encoder, batch_size=args.batch_size, epochs=args.epochs + 1, lr=1e-3,
              weight_decay=1e-4, augmentations=args.augmentations, precision=args.precision, device=args.device,
              method=args.method)
    runners = {"ref": reference_fit, "ours": ours_fit}
    if args.separate_views:
        if args.method == "moco":
            ap.error("--separate-views applies to SimCLR only")
        runners["ref-sep"] = lambda X_, **k: reference_fit(X_, separate_views=True, **k)
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(runners[args.profile], X, **kw)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return

    wall = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for r in range(args.repeats):
        for name in runners:
            secs = runners[name](X, seed=r, **kw)[1:]  # drop the warm-up epoch
            wall[name].extend(args.n / w for w, _ in secs)
            cpu[name].extend(args.n / c for _, c in secs)
            print(f"repeat {r} {name:7s}: wall " + ", ".join(f"{args.n / w:.0f}" for w, _ in secs) +
                  " img/s; per CPU-second " + ", ".join(f"{args.n / c:.0f}" for _, c in secs), flush=True)
    print()
    print(f"machine: {machine(args.device)}; method {args.method}; n={args.n}, {args.epochs} timed epochs x {args.repeats} "
          f"interleaved repeats, median epoch throughput (images/s, two views each)")
    rows = []
    for what, rates in (("wall", wall), ("CPU time", cpu)):
        ref, ours = median(rates["ref"]), median(rates["ours"])
        sep = [f"{median(rates['ref-sep']) / ref:.3f}"] if args.separate_views else []
        rows.append([args.encoder, f"{args.bands}x{args.size}x{args.size}", args.batch_size, args.precision,
                     args.device, what, f"{ref:.0f}", f"{ours:.0f}", f"{ours / ref:.3f}"] + sep)
    if args.device.startswith("cuda"):
        rows = rows[:1]  # CPU time of the host process says nothing about GPU work
    header = ["encoder", "image", "batch", "precision", "device", "clock", "ref img/s", "ours img/s", "ratio"]
    print(table(header + (["ref-sep / ref"] if args.separate_views else []), rows))


if __name__ == "__main__":
    main()
