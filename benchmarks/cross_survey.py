"""Cross-survey study on the synthetic survey: labels from survey A only, test images from A and from B.

The same galaxies are observed under conditions A (SDSS-like seeing, depth and extinction)
and B (worse seeing, shallower, more extinction); a SimCLR encoder is pretrained on the
unlabelled images of both, once with augmentations spanning the differences ("survey aug.")
and once with generic ones ("generic aug."), and every method is fitted on label budgets
drawn from A and scored on A's and B's held-out images (the same galaxies). The supervised
CNNs get what needs no labels too: their normaliser is fitted on A's and B's images, and one
of them adapts its batch-norm statistics to B (AdaBN). Prints a table of mean ± standard
error (scores on A and B, and the drop A - B) and the findings (the paired two-standard-error
rule of :func:`sklearn_ssl.evaluation.paired_comparison`); writes ``results.csv``,
``summary.csv``, ``findings.txt``, ``table.rst``, ``meta.json`` and ``cross_survey.png``.

The work is done by :func:`sklearn_ssl.evaluation.cross_survey_study`.

    python benchmarks/cross_survey.py --out benchmarks/results/cross_survey
    python benchmarks/cross_survey.py --quick      # the demo's fast configuration
    python benchmarks/cross_survey.py --quick --tune   # every row's settings chosen inside its budget's labels

With ``--tune`` every row but the constant predictor is a grid search over three settings,
cross-validated inside each budget's labels of A (``cross_survey_study(tune=True)``; about ten
fits per row instead of one); ``meta.json`` records it, and without ``--out`` the files go to
``benchmarks/results/cross_survey_tuned`` instead of ``benchmarks/results/cross_survey``.

With ``--real PATH`` (``gz_kaggle_spiral_64.npz``, see ``../shared/data/README.md``) survey A
is the real SDSS images (gri composites scaled to [0, 1], average-pooled to 32x32 px) and
survey B a degraded copy of them (``--real-blur`` px Gaussian PSF, ``--real-dim`` flux factor,
``--real-noise`` Gaussian noise), used only for B's test split and, unlabelled, in pretraining;
the metric is balanced accuracy of the binary spiral label.

    python benchmarks/cross_survey.py --real ../shared/data/gz_kaggle_spiral_64.npz --n-samples 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from sklearn_ssl.evaluation import CROSS_SURVEY_QUICK, cross_survey_study
from sklearn_ssl.plotting import plot_cross_survey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tables import write_meta  # noqa: E402


def rst_table(summary, digits=3) -> str:
    """A reStructuredText table: accuracy on A and on B and the drop A - B, mean ± standard error."""
    def cell(mean, se):
        return f"{mean:.{digits}f}" + ("" if se != se else f" ± {se:.{digits}f}")

    rows = [("method", "labels", "A-test", "B-test", "drop A - B", "repeats")]
    for r in summary.itertuples(index=False):
        rows.append((r.estimator, str(r.n_labels), cell(r.mean_A, r.se_A), cell(r.mean_B, r.se_B),
                     cell(r.drop, r.se_drop), str(r.n_repeats)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = " ".join("=" * w for w in widths)
    fmt = lambda row: " ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line, fmt(rows[0]), line, *map(fmt, rows[1:]), line])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the fast configuration CROSS_SURVEY_QUICK (other "
                   "size options are then ignored)")
    p.add_argument("--target", nargs="+", default=["morphology"], choices=["morphology", "redshift"],
                   help="classes to learn; several run one after the other with one pretrained encoder, each "
                        "writing to OUT/<target>")
    p.add_argument("--n-samples", type=int, default=480)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--bands", default="gri")
    p.add_argument("--n-labels", type=int, nargs="+", default=[10, 30, 100])
    p.add_argument("--n-repeats", type=int, default=5)
    p.add_argument("--pretrain-epochs", type=int, default=15)
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--no-catalogue", action="store_true", help="skip the catalogue-feature baseline")
    p.add_argument("--tune", action="store_true", help="choose every row's settings by a grid search inside each "
                   "budget's labels of A (three candidates per row; cross_survey_study(tune=True))")
    p.add_argument("--real", default=None, help="npz of real SDSS images (images, morph_class) instead of the "
                   "synthetic pair")
    p.add_argument("--real-blur", type=float, default=1.5, help="PSF sigma (px at 32 px) added for survey B")
    p.add_argument("--real-dim", type=float, default=0.6, help="flux factor of survey B")
    p.add_argument("--real-noise", type=float, default=0.03, help="Gaussian noise sigma added for survey B")
    p.add_argument("--test-bootstrap", type=int, default=0, help="bootstrap resamples of each test set for "
                   "its own standard error (se_test columns; 0: none)")
    p.add_argument("--seed-per-repeat", action="store_true", help="every repeat its own seed for the networks "
                   "(cross_survey_study(seed_per_repeat=True)); default: one seed for every repeat")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default: benchmarks/results/cross_survey, "
                   "cross_survey_tuned with --tune)")
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)
    if args.out is None:  # a tuned run is not written over the untuned one
        args.out = os.path.join("benchmarks", "results", "cross_survey" + ("_tuned" if args.tune else ""))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        config = dict(CROSS_SURVEY_QUICK)
        args.target = [config.pop("target")]
    else:
        config = dict(n_samples=args.n_samples, image_size=args.image_size, n_labels=args.n_labels,
                      n_repeats=args.n_repeats, pretrain_epochs=args.pretrain_epochs,
                      finetune_steps=args.finetune_steps, width=args.width, catalogue_baselines=not args.no_catalogue)
    config["tune"] = args.tune  # in meta.json's config too
    config["test_bootstrap"] = args.test_bootstrap
    config["seed_per_repeat"] = args.seed_per_repeat
    if args.real:
        config.pop("n_samples"), config.pop("image_size")
        res_config = dict(config, **real_surveys(args))
        run("real", res_config, args, args.out, None)
        return
    embedders = None  # pretrained for the first target, reused for the others
    for target in args.target:
        out = os.path.join(args.out, target) if len(args.target) > 1 else args.out
        embedders = run(target, dict(config, target=target), args, out, embedders)


def real_surveys(args) -> dict:
    """Survey A: real images; survey B: their degraded copy; the augmentations spanning the two."""
    from sklearn_ssl.augment import (Compose, GalacticReddening, GaussianNoise, PSFBlur, RandomFlip,
                                     RandomRotation, Uniform)

    with np.load(args.real) as data:
        images, labels = data["images"], data["morph_class"]
    rng = np.random.default_rng(args.random_state)
    keep = np.sort(rng.choice(len(images), size=min(args.n_samples, len(images)), replace=False))
    x = images[keep].astype(np.float32) / 255.0
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))  # 64 -> 32 px
    dmag = -2.5 * np.log10(args.real_dim)  # dimming as grey "extinction" of E = dmag, R_b = 1
    gen = torch.Generator().manual_seed(args.random_state)
    degraded = Compose([PSFBlur(args.real_blur), GalacticReddening((1.0, 1.0, 1.0), dmag),
                        GaussianNoise(args.real_noise)])(torch.from_numpy(x), generator=gen).numpy()
    augmentations = Compose([RandomFlip(), RandomRotation(), PSFBlur(Uniform(0.0, args.real_blur)),
                             GalacticReddening((1.0, 1.0, 1.0), Uniform(0.0, dmag), difference=True),
                             GaussianNoise(Uniform(0.0, args.real_noise))])
    return dict(survey_a=(x, labels[keep]), survey_b=(degraded, labels[keep]), augmentations=augmentations,
                metric="balanced_accuracy", catalogue_baselines=False)


def run(target, config, args, out, embedders):
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    res = cross_survey_study(bands=args.bands, embedder=embedders, random_state=args.random_state,
                             verbose=args.verbose, **config)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    os.makedirs(out, exist_ok=True)
    res["results"].to_csv(os.path.join(out, "results.csv"), index=False)
    res["summary"].to_csv(os.path.join(out, "summary.csv"), index=False)
    plot_cross_survey(res["results"]).savefig(os.path.join(out, "cross_survey.png"), dpi=110)
    meta = {"target": target, "args": vars(args),
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()
                       if k not in ("survey_a", "survey_b", "augmentations", "generic_augmentations")},
            "conditions": res["conditions"], "timings_s": res["timings"], "wall_s": wall, "process_cpu_s": cpu,
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
    write_meta(out, **meta)  # with the command, the commit, the date and the machine
    table = rst_table(res["summary"])
    with open(os.path.join(out, "table.rst"), "w") as fh:
        fh.write(table + "\n")
    with open(os.path.join(out, "findings.txt"), "w") as fh:
        fh.write("\n".join(res["findings"]) + "\n")
    print(f"target: {target}")
    print(table)
    print("\n".join(res["findings"]))
    print(json.dumps(meta, indent=1), flush=True)
    return res["embedders"]


if __name__ == "__main__":
    main()
