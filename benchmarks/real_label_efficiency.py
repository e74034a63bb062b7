"""Label-efficiency study on real SDSS galaxy images (Galaxy Zoo 2 / Kaggle spiral label).

Reproduces the comparison of Hayat et al. (2021) on the 6,507 real gri composites of
``shared/data/gz_kaggle_spiral_64.npz`` (see that folder's README; the data are never
copied into the package). One :class:`~sklearn_ssl.ContrastiveEmbedder` is pretrained on
**all** images without labels, then on repeated stratified label subsets of a fixed
held-out split (2,000 test images) the script compares:

- ``SSL frozen + logistic``: frozen embeddings + logistic regression (C by 3-fold CV);
- ``SSL fine-tuned``: the pretrained encoder fine-tuned end to end (lower encoder LR);
- ``supervised CNN``: the same encoder trained from scratch with the same augmentations,
  for a fixed number of optimiser steps at every budget (small budgets get many epochs);
- ``raw-pixel PCA + logistic``: PCA(64) of the pixels (fitted on all images, unlabelled)
  + logistic regression;
- the catalogue baselines (``--no-catalogue`` to skip): :class:`~sklearn_ssl.GalaxyFeatures`
  measured once on all images (photutils photometry and shape, statmorph C, A, S, Gini,
  M20; cached in ``--features-cache``) with gradient boosting on the photometry, the
  morphology and both, and the constant predictor (majority class);
- ``semi-supervised`` (optional, ``--semi-budgets``): an embedder pretrained on the training
  split with only the budget's labels visible (each labelled image once, the others -1, no
  test image; ``label_weight > 0``), + logistic regression; one pretraining per budget and
  repeat, so only at a few budgets.

The findings printed at the end (and written to ``real_label_efficiency_findings.txt``)
compare, per budget, each SSL row with the best catalogue baseline and with the supervised
CNN by :func:`sklearn_ssl.evaluation.paired_comparison` (paired repeats, a verdict only
beyond two standard errors and with at least 5 repeats).

Metrics: ROC AUC (spiral vs not) and balanced accuracy. Outputs in ``--out``: the tidy
results (``real_label_efficiency.csv``), the mean/std table (``..._summary.csv``), the
plot (``real_label_efficiency.png``) and the timings (``..._timings.json``).

Example (the study of docs/real_sdss.rst)::

    python benchmarks/real_label_efficiency.py --data ../shared/data/gz_kaggle_spiral_64.npz --out /tmp/real
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl import augment as A
from sklearn_ssl.evaluation._downstream import _SemiSupervisedProbe, _training_pool
from sklearn_ssl.nn.encoders import SmallCNN
from sklearn_ssl.evaluation import budget_findings, label_efficiency, summarize_label_efficiency
from sklearn_ssl.evaluation.features import _catalogue_baselines
from sklearn_ssl.estimators._finetune import FineTunedClassifier
from sklearn_ssl.plotting import plot_label_efficiency

SCORING = {"roc_auc": "roc_auc", "balanced_accuracy": "balanced_accuracy"}


# -- data -----------------------------------------------------------------------------------
def load_images(path: str, image_size: int = 32, limit: int | None = None, seed: int = 0):
    """uint8 (n, 3, 64, 64) composites -> float32 in [0, 1], average-pooled to ``image_size``."""
    with np.load(path) as data:
        images, y = data["images"], data["morph_class"].astype(np.int64)
    if limit is not None and limit < len(y):
        keep = np.sort(np.random.RandomState(seed).choice(len(y), size=limit, replace=False))
        images, y = images[keep], y[keep]
    X = images.astype(np.float32) / 255.0
    size = X.shape[-1]
    if image_size != size:
        if size % image_size:
            raise ValueError(f"--image-size must divide {size}, got {image_size}.")
        f = size // image_size
        X = X.reshape(len(X), X.shape[1], image_size, f, image_size, f).mean(axis=(3, 5))
    return np.ascontiguousarray(X, dtype=np.float32), y


def make_augmentations(name: str, size: int):
    """Band-agnostic augmentations for display composites (no reddening: these are not fluxes)."""
    shift = max(1, size // 16)
    crop = A.JitterCrop(size - 2 * shift, shift)
    noise = A.GaussianNoise(A.Uniform(0.0, 0.05), relative=True)
    if name == "auto":
        return "auto"
    if name == "geo":  # rotations, flips, jitter-crop, relative noise
        return [A.RandomFlip(), A.RandomRotation(), crop, noise]
    if name == "geo_blur_scale":  # + size scale and mild PSF blur (Stein et al.'s additions)
        return [A.RandomFlip(), A.RandomRotation(), A.SizeScale(0.9, 1.1), crop,
                A.PSFBlur(A.Uniform(0.0, 1.0)), noise]
    raise ValueError(f"unknown augmentation set {name!r}")


# -- estimators -----------------------------------------------------------------------------
def _logistic(seed):
    return LogisticRegressionCV(Cs=np.logspace(-3, 1, 6), cv=3, scoring="roc_auc", max_iter=3000, class_weight="balanced",
                                random_state=seed)


def _flatten(X):
    return np.asarray(X).reshape(len(X), -1)


# -- study ----------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="path to gz_kaggle_spiral_64.npz")
    p.add_argument("--image-size", type=int, default=32, help="average-pool the 64x64 images to this size")
    p.add_argument("--epochs", type=int, default=60, help="SSL pretraining epochs")
    p.add_argument("--width", type=int, default=16, help="SmallCNN width (16: about 60k parameters)")
    p.add_argument("--method", choices=["simclr", "moco"], default="moco")
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--augmentations", default="geo_blur_scale", choices=["auto", "geo", "geo_blur_scale"])
    p.add_argument("--ssl-batch-size", type=int, default=256)
    p.add_argument("--ssl-lr", type=float, default=1e-3)
    p.add_argument("--n-repeats", type=int, default=5)
    p.add_argument("--budgets", default="50,100,300,1000,all", help="comma-separated; 'all' = whole training split")
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--sup-steps", type=int, default=300, help="optimiser steps of the supervised CNN per fit")
    p.add_argument("--ft-steps", type=int, default=300, help="optimiser steps of the fine-tuned SSL model per fit")
    p.add_argument("--ft-lr", type=float, default=1e-2, help="learning rate of the fine-tuned model's head")
    p.add_argument("--ft-encoder-lr", type=float, default=1e-3, help="learning rate of the fine-tuned encoder")
    p.add_argument("--ft-budgets", default=None, help="budgets for the fine-tune row (default: all budgets)")
    p.add_argument("--semi-budgets", default="", help="budgets of the semi-supervised row (default '': skipped; "
                                                    "one pretraining per budget and repeat)")
    p.add_argument("--no-catalogue", action="store_true", help="skip the catalogue-feature baselines")
    p.add_argument("--features-cache", default=None,
                   help=".npy file of the GalaxyFeatures table of these images (written if absent)")
    p.add_argument("--n-jobs", type=int, default=None, help="processes measuring GalaxyFeatures")
    p.add_argument("--label-weight", type=float, default=1.0, help="semi-supervised label_weight")
    p.add_argument("--limit", type=int, default=None, help="use a random subset of the images")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="real_label_efficiency_out")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (subset, 1 epoch, small budgets)")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.image_size, args.epochs, args.width = args.limit or 400, 16, 1, 8
        args.n_repeats, args.test_size, args.sup_steps, args.ft_steps = 1, 100, 4, 4
        args.budgets, args.semi_budgets, args.ssl_batch_size = "20,50", "20", 128
    return args


def _budgets(spec, n_train):
    if spec is None:
        return None
    out = [n_train if s.strip() == "all" else int(s) for s in spec.split(",") if s.strip()]
    return sorted(set(out))


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    X, y = load_images(args.data, args.image_size, args.limit, args.seed)
    n_train = len(y) - args.test_size
    budgets = _budgets(args.budgets, n_train)
    ft_budgets = _budgets(args.ft_budgets, n_train) or budgets
    semi_budgets = _budgets(args.semi_budgets, n_train) or []
    print(f"{len(y)} images {X.shape[1:]}, {int(y.sum())} spiral; test {args.test_size}, budgets {budgets}")

    encoder = functools.partial(SmallCNN, width=args.width)
    augs = make_augmentations(args.augmentations, args.image_size)
    ssl = dict(encoder=encoder, method=args.method, temperature=args.temperature, augmentations=augs,
               normalize="standard", batch_size=args.ssl_batch_size, max_epochs=args.epochs, lr=args.ssl_lr,
               device="cpu", random_state=args.seed)
    t0 = time.perf_counter()
    emb = ContrastiveEmbedder(**ssl).fit(X)
    timings["ssl_pretrain_s"] = time.perf_counter() - t0
    print(f"SSL pretraining: {args.epochs} epochs in {timings['ssl_pretrain_s']:.0f} s "
          f"(final loss {emb.net_.history[-1, 'train_loss']:.3f})", flush=True)
    t0 = time.perf_counter()
    pca = make_pipeline(FunctionTransformer(_flatten), StandardScaler(),
                        PCA(n_components=64, random_state=args.seed)).fit(X)
    timings["pca_fit_s"] = time.perf_counter() - t0

    ft = dict(batch_size=64, lr=1e-3, device="cpu", random_state=args.seed)
    estimators = {
        "SSL frozen + logistic": make_pipeline(FrozenEstimator(emb), StandardScaler(), _logistic(args.seed)),
        # min_steps: as many optimiser steps at 50 labels as at 4,500 (50 labels = 300 epochs)
        "supervised CNN": FineTunedClassifier(None, encoder=encoder, augmentations=augs, normalize="standard",
                                              max_epochs=3, min_steps=args.sup_steps, **ft),
        "raw-pixel PCA + logistic": make_pipeline(FrozenEstimator(pca), StandardScaler(), _logistic(args.seed)),
    }
    fine_tuned = {"SSL fine-tuned": FineTunedClassifier(
        FrozenEstimator(emb), encoder_lr=args.ft_encoder_lr, max_epochs=3, min_steps=args.ft_steps,
        **{**ft, "lr": args.ft_lr})}
    common = dict(test_size=args.test_size, n_repeats=args.n_repeats, scoring=SCORING, task="classification",
                  random_state=args.seed, verbose=1)
    if not args.no_catalogue:
        t0 = time.perf_counter()
        cached = args.features_cache and os.path.exists(args.features_cache)
        table = np.load(args.features_cache) if cached else None
        baselines, table = _catalogue_baselines(X, "classification", bands="gri", random_state=args.seed,
                                                n_jobs=args.n_jobs, class_weight="balanced", features=table)
        if args.features_cache and not cached:
            np.save(args.features_cache, table)
        timings["catalogue_features_s"] = time.perf_counter() - t0
        print(f"catalogue features: {timings['catalogue_features_s']:.0f} s", flush=True)
        estimators.update(baselines)
    parts = []
    t0 = time.perf_counter()
    parts.append(label_efficiency(estimators, X, y, budgets, **common))
    timings["frozen_supervised_pca_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts.append(label_efficiency(fine_tuned, X, y, ft_budgets, **common))
    timings["fine_tune_s"] = time.perf_counter() - t0
    if semi_budgets:
        # the training split only (as label_efficiency draws it for this seed), each labelled image once
        pool = _training_pool(X, y, args.test_size, True, args.seed)
        semi = {"semi-supervised": _SemiSupervisedProbe(
            ContrastiveEmbedder(**ssl, label_weight=args.label_weight), _logistic(args.seed), unlabelled=pool)}
        t0 = time.perf_counter()
        parts.append(label_efficiency(semi, X, y, semi_budgets, **{**common, "n_repeats": 1}))
        timings["semi_supervised_s"] = time.perf_counter() - t0
    for part in parts:  # same held-out split in every part (same random_state); attrs block concat
        part.attrs = {}
    results = pd.concat(parts, ignore_index=True)
    summary = summarize_label_efficiency(results)
    timings["total_s"] = sum(timings.values())

    results.to_csv(os.path.join(args.out, "real_label_efficiency.csv"), index=False)
    summary.to_csv(os.path.join(args.out, "real_label_efficiency_summary.csv"), index=False)
    with open(os.path.join(args.out, "real_label_efficiency_timings.json"), "w") as f:
        json.dump({"args": {k: v for k, v in vars(args).items()}, "timings": timings,
                   "n_images": int(len(y)), "torch_threads": torch.get_num_threads()}, f, indent=1)
    print_table(summary)
    findings = study_findings(results)
    with open(os.path.join(args.out, "real_label_efficiency_findings.txt"), "w") as f:
        f.write("\n".join(findings) + "\n")
    print("\n".join(findings))
    save_plot(results, os.path.join(args.out, "real_label_efficiency.png"), args)
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return results, summary


CATALOGUE = ("photometry + GB", "morphology + GB", "photometry + morphology + GB", "constant (majority class)")


def study_findings(results, metric="roc_auc"):
    """Per budget, each SSL row against the best catalogue baseline and the supervised CNN."""
    lines = []
    for method in ("SSL frozen + logistic", "SSL fine-tuned", "semi-supervised"):
        for rivals, what in ((CATALOGUE, "best catalogue baseline"), (("supervised CNN",), "supervised CNN")):
            found = budget_findings(results, metric, method, rivals)
            if found:
                lines.append(f"{metric}, {method} vs the {what}: " + " ".join(found))
    return lines


def print_table(summary):
    for metric, grp in summary.groupby("metric", sort=False):
        table = grp.assign(cell=[f"{m:.3f} ± {0 if np.isnan(s) else s:.3f}" for m, s in zip(grp["mean"], grp["sem"])])
        wide = table.pivot(index="estimator", columns="n_labels", values="cell").fillna("-")
        print(f"\n{metric} (mean ± standard error over repeats)")
        print(wide.to_string())


def save_plot(results, path, args):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for ax, (metric, label) in zip(axes, [("roc_auc", "ROC AUC"), ("balanced_accuracy", "balanced accuracy")]):
        plot_label_efficiency(results, metric, ax=ax, ylabel=label,
                              title=f"SDSS spiral vs not, {args.image_size}x{args.image_size} px, test n={args.test_size}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
