"""Cost of the augmentations per batch against one encoder training step, in one run.

    python benchmarks/augment.py                    # 256 x 5 x 64 x 64, resnet18, CPU or CUDA
    python benchmarks/augment.py --device cuda --reps 20

Times (median over ``--reps`` after a warm-up) each augmentation alone, the full
"sdss" preset, the "decals" preset on the same batch's g, r, z planes (bands 1, 2, 4),
and one forward + backward pass of the encoder (plus projection-free mean loss) on the
"sdss" view that training feeds it. A SimCLR step runs the augmentations and the encoder
on two views, so the ratio is the same per view. Prints a reStructuredText table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sklearn_ssl.augment import (
    PRESETS, GalacticReddening, GaussianNoise, JitterCrop, PSFBlur, RandomDihedral, RandomFlip, RandomRotation,
    SizeScale, Uniform,
)
from sklearn_ssl.nn.encoders import build_encoder


def timeit(fn, device, reps):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--encoder-reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator(device=device).manual_seed(0)
    shape = (5, args.size, args.size)
    x = torch.rand(args.batch, *shape, generator=g, device=device) * 0.1
    x[..., args.size // 2 - 4:args.size // 2 + 4, args.size // 2 - 4:args.size // 2 + 4] += 2.0
    grz = x[:, [1, 2, 4]].contiguous()
    sdss = PRESETS["sdss"](shape)
    crop = sdss.augmentations[2]

    rows = []

    def row(name, fn, data=x, reps=args.reps):
        rows.append((name, timeit(lambda: fn(data, generator=g), device, reps)))

    row("GalacticReddening (U(0, 0.5))", GalacticReddening("sdss"))
    row("RandomFlip", RandomFlip())
    row("RandomDihedral (exact)", RandomDihedral())
    row("RandomRotation (bilinear)", RandomRotation())
    row("RandomRotation (bicubic)", RandomRotation(interpolation="bicubic"))
    row("SizeScale (0.9-1.1)", SizeScale())
    row(f"JitterCrop ({crop.size} px, +-{crop.max_shift}; exact gather)", JitterCrop(crop.size, crop.max_shift))
    row("GaussianNoise (per band U(0, sky))", GaussianNoise(Uniform(0.0, 0.05)))
    row("PSFBlur fft (sigma U(0.5, 2.5) px)", PSFBlur(Uniform(0.5, 2.5)))
    row("PSFBlur conv (sigma U(0.5, 2.5) px)", PSFBlur(Uniform(0.5, 2.5), method="conv"))
    row('"auto" preset', PRESETS["auto"](shape))
    row('"decals" preset (g, r, z planes)', PRESETS["decals"]((3,) + shape[1:]), data=grz)
    row('"sdss" preset (fused warp)', sdss)
    sdss_time = rows[-1][1]

    encoder = build_encoder(args.encoder, shape).to(device)
    view = sdss(x, generator=g)
    opt = torch.optim.SGD(encoder.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        encoder(view).float().pow(2).mean().backward()
        opt.step()

    enc_time = timeit(step, device, args.encoder_reps)
    rows.append((f"{args.encoder} forward+backward on the sdss view {tuple(view.shape)}", enc_time))

    name_w = max(len(r[0]) for r in rows)
    line = "=" * name_w + "  " + "=" * 10 + "  " + "=" * 16
    print(f"batch {args.batch} x {shape}, device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(line)
    print(f"{'step':<{name_w}}  {'ms/batch':>10}  {'% encoder step':>16}")
    print(line)
    for name, t in rows:
        print(f"{name:<{name_w}}  {1e3 * t:>10.1f}  {100 * t / enc_time:>15.1f}%")
    print(line)
    print(f'"sdss" preset / {args.encoder} step: {100 * sdss_time / enc_time:.1f}% (target < 10%)')


if __name__ == "__main__":
    main()
