"""GPU pretraining throughput: ContrastiveEmbedder.fit against the bare model's training step.

For each encoder (resnet18, resnet50 by default) on 5 x 64 x 64 inputs in bf16:

- ours: ``ContrastiveEmbedder(encoder=..., precision="bf16", device="cuda").fit(X)``,
  images per second over whole epochs (the first is a warm-up), data resident on the GPU,
  augmentations ("auto" preset) drawn on the GPU;
- bare: the same encoder and projection head, on one fixed batch of the same size already
  on the GPU (its two "views" precomputed, so no augmentation, no shuffling, no framework):
  forward of both views under bf16 autocast, NT-Xent, backward, AdamW step. This is the
  ceiling the model itself allows.

The ratio ours/bare is what the data path, the augmentations and skorch cost together.

Run (needs CUDA):
    python benchmarks/gpu_throughput.py --device cuda
    python benchmarks/gpu_throughput.py --device cuda --encoders resnet50 --batch-size 512 --n 16384
A tiny CPU sanity run of the code path (numbers meaningless):
    python benchmarks/gpu_throughput.py --device cpu --quick
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from _common import images, machine, median, sync, table
from fit_throughput import ours_fit
from sklearn_ssl.engine._methods import ProjectionHead
from sklearn_ssl.nn.encoders import build_encoder, output_dim
from sklearn_ssl.nn.losses import nt_xent

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def bare_step_rate(encoder: str, shape, batch_size: int, steps: int, precision: str, device: str) -> float:
    """Images/s of forward (two views) + NT-Xent + backward + AdamW step on one fixed batch."""
    torch.manual_seed(0)
    enc = build_encoder(encoder, shape).to(device).train()
    head = ProjectionHead(output_dim(enc, shape), 128).to(device).train()
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=1e-4)
    x = torch.as_tensor(images(batch_size, shape)).to(device)
    v1, v2 = x, x.flip(-1).contiguous()
    dtype = _DTYPES[precision]
    dev = torch.device(device)

    def step():
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            z1, z2 = head(enc(v1)), head(enc(v2))
        loss = nt_xent(z1, z2, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up: cuDNN autotuning, allocator
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch_size * steps / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--encoders", nargs="+", default=["resnet18", "resnet50"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--n", type=int, default=8192, help="training images for ours")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs (plus one warm-up)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved (bare, ours) pairs; medians")
    ap.add_argument("--precision", default="bf16", choices=sorted(_DTYPES))
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a CPU sanity check of the code path")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_throughput.py measures the GPU path and needs a CUDA device, but torch sees none. "
                 "Run it on a GPU machine (--device cuda), or check the code path on the CPU with "
                 "--device cpu --quick (numbers meaningless).")
    if not args.device.startswith("cuda") and not args.quick:
        sys.exit("On the CPU only --quick is supported (a sanity run); the benchmark itself is for --device cuda.")
    if args.quick:
        args.size, args.n, args.batch_size, args.epochs, args.repeats = 16, 64, 32, 1, 1
        args.encoders = args.encoders[:1]
        if not args.device.startswith("cuda"):
            args.precision = "fp32"
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    shape = (args.bands, args.size, args.size)
    X = images(args.n, shape)
    steps = max(5, args.n // args.batch_size)
    rows = []
    for name in args.encoders:
        bare, ours = [], []
        for r in range(args.repeats):
            bare.append(bare_step_rate(name, shape, args.batch_size, steps, args.precision, args.device))
            secs = ours_fit(X, encoder=name, batch_size=args.batch_size, epochs=args.epochs + 1, lr=1e-3,
                            weight_decay=1e-4, augmentations="auto", precision=args.precision,
                            device=args.device, seed=r)[1:]
            ours.extend(args.n / wall for wall, _ in secs)
            print(f"{name} repeat {r}: bare {bare[-1]:.0f} img/s, ours " + ", ".join(f"{v:.0f}" for v in ours[-len(secs):]) + " img/s", flush=True)
        b, o = median(bare), median(ours)
        rows.append([name, "x".join(map(str, shape)), args.batch_size, args.precision,
                     f"{b:.0f}", f"{o:.0f}", f"{o / b:.3f}"])
    print()
    print(f"machine: {machine(args.device)}; n={args.n}; {args.epochs} timed epochs x {args.repeats} repeats")
    print(table(["encoder", "image", "batch", "precision", "bare fwd+bwd img/s", "ours fit img/s", "ratio"], rows))


if __name__ == "__main__":
    main()
