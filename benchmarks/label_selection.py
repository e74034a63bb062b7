"""Choosing which galaxies to label against labelling a random subset (issue 29, item 3).

For one dataset, embeds every galaxy once (a small :class:`~sklearn_ssl.ContrastiveEmbedder`
pretrained without labels on all images, or raw-pixel PCA with ``--features pca``), then runs
:func:`sklearn_ssl.evaluation.label_efficiency` on the embeddings with a frozen probe
(standardise + logistic regression) once per selection: ``random`` and the scikit-activeml
strategies ``typiclust``, ``probcover``, ``coreset``, ``uncertainty``. The strategies see the
same embeddings as the probe (the training split's only). All selections share the held-out
split and, in repeat ``r``, the random seed of one galaxy per class, so repeat ``r`` of a
strategy and of ``random`` are paired; each strategy is compared with ``random`` at each budget
by :func:`sklearn_ssl.evaluation.paired_comparison`.

Datasets: ``synthetic`` (:func:`~sklearn_ssl.datasets.make_galaxy_survey`, the 4 morphology
classes, one-vs-rest macro ROC AUC) and ``sdss`` (``shared/data/gz_kaggle_spiral_64.npz``:
spiral vs not, ROC AUC; never copied into the repository).

Writes to ``--out/<dataset>/``: ``rows.csv`` (every score: selection, n_labels, repeat,
metric, score), ``summary.csv``, ``comparisons.csv`` (strategy vs random per budget),
``table.rst`` (the docs table) and ``meta.json`` (command, commit, date, machine, settings,
timings).

    nice -n 10 python benchmarks/label_selection.py synthetic --out benchmarks/results/label_selection
    nice -n 10 python benchmarks/label_selection.py sdss --data ../shared/data/gz_kaggle_spiral_64.npz \\
        --out benchmarks/results/label_selection
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.discovery import SELECTION_STRATEGIES
from sklearn_ssl.evaluation import holm_adjust, label_efficiency, paired_comparison, summarize_label_efficiency
from sklearn_ssl.nn.encoders import SmallCNN


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", choices=["synthetic", "sdss"])
    p.add_argument("--data", default=None, help="gz_kaggle_spiral_64.npz (sdss)")
    p.add_argument("--n-samples", type=int, default=2000, help="galaxies of the synthetic survey")
    p.add_argument("--image-size", type=int, default=None, help="default: 24 (synthetic), 32 (sdss, average-pooled)")
    p.add_argument("--features", choices=["ssl", "pca"], default="ssl",
                   help="ssl: a ContrastiveEmbedder pretrained on all images without labels; pca: raw-pixel PCA(32)")
    p.add_argument("--epochs", type=int, default=20, help="pretraining epochs")
    p.add_argument("--width", type=int, default=16, help="SmallCNN width")
    p.add_argument("--batch-size", type=int, default=64, help="pretraining batch size")
    p.add_argument("--budgets", default="10,20,50,100")
    p.add_argument("--n-repeats", type=int, default=5)
    p.add_argument("--test-size", type=float, default=0.3)
    p.add_argument("--strategies", default=",".join(SELECTION_STRATEGIES))
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/label_selection")
    args = p.parse_args(argv)
    if args.image_size is None:
        args.image_size = 24 if args.dataset == "synthetic" else 32
    if args.dataset == "sdss" and not args.data:
        p.error("sdss needs --data path/to/gz_kaggle_spiral_64.npz")
    return args


def load(args):
    """Images (n, C, H, W) float32, labels, the ROC AUC scorer name and the embedder's settings."""
    if args.dataset == "synthetic":
        from sklearn_ssl.datasets import make_galaxy_survey

        X, cat = make_galaxy_survey(args.n_samples, image_size=args.image_size, random_state=args.seed)
        return X, cat["morphology_class"].to_numpy(), "roc_auc_ovr", dict(normalize="asinh", method="simclr",
                                                                           augmentations="auto")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from real_label_efficiency import load_images, make_augmentations  # the real-SDSS study's loader

    X, y = load_images(args.data, args.image_size)
    return X, y, "roc_auc", dict(normalize="standard", method="moco", temperature=0.2,
                                 augmentations=make_augmentations("geo_blur_scale", args.image_size))


def embed(X, args, settings):
    if args.features == "pca":
        from sklearn.decomposition import PCA

        flat = StandardScaler().fit_transform(np.arcsinh(X.reshape(len(X), -1) / 0.1))
        return PCA(n_components=32, random_state=args.seed).fit_transform(flat), {}
    emb = ContrastiveEmbedder(encoder=functools.partial(SmallCNN, width=args.width), max_epochs=args.epochs,
                              batch_size=args.batch_size, lr=1e-3, device="cpu", random_state=args.seed, **settings).fit(X)
    return emb.transform(X), {"final_loss": float(emb.net_.history[-1, "train_loss"])}


def _commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def rst_table(summary, comparisons, budgets) -> str:
    """Mean ± standard error per selection and budget; a strategy's cell gains its paired verdict against random."""
    verdict = {(r.selection, r.n_labels): r.verdict for r in comparisons.itertuples()}
    mark = {"better": " (better)", "worse": " (worse)", "not distinguishable": "", "too few repeats": ""}
    header = ["selection", *[f"{n} labels" for n in budgets]]
    rows = []
    for sel, grp in summary.groupby("selection", sort=False):
        cells = {r.n_labels: f"{r.mean:.3f} ± {r.sem:.3f}{mark.get(verdict.get((sel, r.n_labels)), '')}"
                 for r in grp.itertuples()}
        rows.append([sel, *[cells.get(n, "-") for n in budgets]])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    fmt = lambda r, fill=" ": "|" + "|".join(f" {str(x):<{w}} " for x, w in zip(r, widths)) + "|"  # noqa: E731
    return "\n".join([line, fmt(header), line.replace("-", "="), *sum([[fmt(r), line] for r in rows], [])]) + "\n"


def write_comparisons(rows, out, budgets, strategies):
    """Each strategy against random, pair by pair (Student t), one table's comparisons corrected
    together with Holm's method; writes summary.csv, comparisons.csv and table.rst."""
    summary = summarize_label_efficiency(rows.assign(estimator=rows["selection"])).rename(
        columns={"estimator": "selection"})
    comps = []
    for sel in strategies:
        if sel == "random":
            continue
        for n in budgets:
            a = rows.query("selection == @sel and n_labels == @n").sort_values("repeat")["score"]
            b = rows.query("selection == 'random' and n_labels == @n").sort_values("repeat")["score"]
            comps.append({"selection": sel, "n_labels": n, **paired_comparison(a, b)})
    comparisons = pd.DataFrame(holm_adjust(comps))
    summary.to_csv(os.path.join(out, "summary.csv"), index=False)
    comparisons.to_csv(os.path.join(out, "comparisons.csv"), index=False)
    table = rst_table(summary, comparisons, budgets)
    with open(os.path.join(out, "table.rst"), "w") as f:
        f.write(table)
    return table, comparisons


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    torch.set_num_threads(args.threads)
    out = os.path.join(args.out, args.dataset)
    os.makedirs(out, exist_ok=True)
    budgets = [int(b) for b in args.budgets.split(",")]
    strategies = [s.strip() for s in args.strategies.split(",")]
    timings = {}
    t0 = time.perf_counter()
    X, y, auc, settings = load(args)
    Z, embed_info = embed(X, args, settings)
    timings["embed_s"] = time.perf_counter() - t0
    print(f"{args.dataset}: {len(y)} galaxies {X.shape[1:]}, classes {np.bincount(y).tolist()}, features "
          f"{args.features} {Z.shape[1]}-d in {timings['embed_s']:.0f} s", flush=True)
    probe = {"frozen + logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))}
    parts = []
    for sel in strategies:
        t0 = time.perf_counter()
        res = label_efficiency(probe, Z, y, budgets, test_size=args.test_size, n_repeats=args.n_repeats,
                               scoring={"roc_auc": auc}, task="classification", selection=sel,
                               random_state=args.seed)
        timings[f"{sel}_s"] = time.perf_counter() - t0
        print(f"  {sel}: {timings[f'{sel}_s']:.0f} s", flush=True)
        res.attrs = {}
        parts.append(res.assign(selection=sel))
    rows = pd.concat(parts, ignore_index=True)
    summary = summarize_label_efficiency(rows.assign(estimator=rows["selection"])).rename(
        columns={"estimator": "selection"})
    rows.to_csv(os.path.join(out, "rows.csv"), index=False)
    table, comparisons = write_comparisons(rows, out, budgets, strategies)
    meta = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
            "commit": _commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, no GPU "
                       f"({platform.platform()})",
            "torch_threads": torch.get_num_threads(), "args": vars(args), "n_images": int(len(y)),
            "class_counts": np.bincount(y).tolist(), "metric": auc, "embedding": embed_info, "timings": timings,
            "protocol": "label_efficiency on fixed embeddings; one held-out split; repeat r of every selection "
                        "starts from the same random galaxy per class; batch strategies query the rest in one "
                        "batch, uncertainty sampling one at a time with a logistic regression refitted each time"}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=str)
    print(table)
    print(comparisons[["selection", "n_labels", "diff", "se_diff", "verdict"]].to_string(index=False))
    return rows, comparisons


if __name__ == "__main__":
    if sys.argv[1:2] == ["--from-rows"]:  # re-derive the comparisons of stored runs: --from-rows DIR [DIR ...]
        for folder in sys.argv[2:]:
            stored = pd.read_csv(os.path.join(folder, "rows.csv"))
            order = list(dict.fromkeys(stored["selection"]))
            print(folder)
            print(write_comparisons(stored, folder, sorted(stored["n_labels"].unique()), order)[0])
    else:
        main()
