"""Label-efficiency study on the built-in synthetic survey: morphology and photometric redshift.

Pretrains one SimCLR embedder on all images (no labels), then compares, at several label
budgets on a fixed held-out split:

- morphology: frozen SSL + logistic regression, supervised CNN (same encoder from scratch),
  raw-pixel PCA + logistic regression (accuracy);
- redshift: frozen SSL + ridge, fine-tuned SSL photo-z head, supervised CNN photo-z head
  (sigma_MAD, bias, outlier fraction |dz| > 0.05);
- both: the catalogue baselines (GalaxyFeatures photometry / morphology / both + gradient
  boosting, constant predictor) and, unless ``--no-semi``, semi-supervised pretraining.

The findings (one sentence per task, SSL row and budget, by the paired two-standard-error
rule of :func:`sklearn_ssl.evaluation.paired_comparison`) are printed and written to
``findings.txt``.

The work is done by :func:`sklearn_ssl.evaluation.run_downstream_study`; this script only
parses arguments and writes the tables (CSV, reStructuredText) and figures (PNG).

    python benchmarks/label_efficiency_synthetic.py --out benchmarks/results/label_efficiency
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from sklearn_ssl.evaluation import run_downstream_study

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tables import write_meta  # noqa: E402


def rst_table(summary, digits=4) -> str:
    """A reStructuredText grid table of mean and standard error per metric, estimator and budget."""
    rows = [("metric", "estimator", "labels", "mean", "std err", "repeats")]
    for r in summary.itertuples(index=False):
        sem = "" if r.sem != r.sem else f"{r.sem:.{digits}f}"
        rows.append((r.metric, r.estimator, str(r.n_labels), f"{r.mean:.{digits}f}", sem, str(r.n_repeats)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = " ".join("=" * w for w in widths)
    fmt = lambda row: " ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line, fmt(rows[0]), line, *map(fmt, rows[1:]), line])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=600)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--n-labels", type=int, nargs="+", default=[20, 50, 100, 300])
    p.add_argument("--n-repeats", type=int, default=5)
    p.add_argument("--no-semi", action="store_true", help="skip the semi-supervised rows (one pretraining each)")
    p.add_argument("--no-catalogue", action="store_true", help="skip the catalogue-feature baselines")
    p.add_argument("--pretrain-epochs", type=int, default=15)
    p.add_argument("--finetune-epochs", type=int, default=15)
    p.add_argument("--finetune-steps", type=int, default=None,
                   help="at least this many optimiser steps per fine-tuned / supervised fit "
                        "(default: --finetune-epochs epochs of the largest budget)")
    p.add_argument("--photoz-bins", type=int, default=180)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--out", default=os.path.join("benchmarks", "results", "label_efficiency"))
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    res = run_downstream_study(args.n_samples, args.image_size, n_labels=args.n_labels, n_repeats=args.n_repeats,
                               pretrain_epochs=args.pretrain_epochs, finetune_epochs=args.finetune_epochs,
                               finetune_steps=args.finetune_steps, photoz_bins=args.photoz_bins, width=args.width,
                               semi_supervised=not args.no_semi, catalogue_baselines=not args.no_catalogue,
                               random_state=args.random_state, verbose=args.verbose)
    total = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    for key in ("morphology", "redshift", "morphology_summary", "redshift_summary"):
        res[key].to_csv(os.path.join(args.out, f"{key}.csv"), index=False)
    for name, fig in res["figures"].items():
        fig.savefig(os.path.join(args.out, f"{name}.png"), dpi=110)
    res["comparisons"].to_csv(os.path.join(args.out, "comparisons.csv"), index=False)
    meta = write_meta(args.out, argv=[sys.argv[0], *(sys.argv[1:] if argv is None else argv)], args=vars(args),
                      timings_s=res["timings"], total_s=total, n_samples_used=res["n_samples"],
                      torch_threads=torch.get_num_threads())
    with open(os.path.join(args.out, "tables.rst"), "w") as fh:
        fh.write(rst_table(res["morphology_summary"]) + "\n\n" + rst_table(res["redshift_summary"]) + "\n")
    with open(os.path.join(args.out, "findings.txt"), "w") as fh:
        fh.write("\n".join(res["findings"]) + "\n")
    print(rst_table(res["morphology_summary"]))
    print(rst_table(res["redshift_summary"]))
    print("\n".join(res["findings"]))
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
