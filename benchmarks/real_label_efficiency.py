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
CNN by :func:`sklearn_ssl.evaluation.paired_comparison` (a two-sided paired t-test over at
least 5 repeats), all of them corrected together with Holm's method at 5 %; the table of
comparisons with ``p_value`` and ``p_adjusted`` is ``real_label_efficiency_comparisons.csv``.

``--catalogue-only`` measures only the catalogue rows (with the constant predictor, and the
raw-pixel PCA row as a check that the split and the label subsets are those of the stored run:
no pretraining, no CNN). With ``--paired-with`` (the results folders of stored full runs with
the same ``--seed``, ``--test-size``, ``--budgets`` and ``--n-repeats``) it also writes, per
stored run, the study's comparisons with the stored catalogue rows replaced by the new ones
(``<run>/real_label_efficiency_comparisons.csv`` and ``..._findings.txt``), the new catalogue
rows against the stored ones (``catalogue_old_vs_new.csv``) and the check of the PCA row
(``pairing_check.json``). Re-measuring the catalogue rows of ``docs/real_sdss.rst``::

    python benchmarks/real_label_efficiency.py --data ../shared/data/gz_kaggle_spiral_64.npz \
        --catalogue-only --n-jobs 2 --features-memory /tmp/gz_features_cache \
        --paired-with benchmarks/results/real_sdss_corrected/moco benchmarks/results/real_sdss_corrected/simclr \
        --out benchmarks/results/real_sdss_catalogue_2026-12-03

``--selection`` chooses each budget's labels with a query strategy of scikit-activeml
(``typiclust``, ``probcover``, ``coreset``, ``uncertainty``; default ``random``) applied to the
pretrained embedder's embeddings of the training split; every row of a repeat is trained on
the same chosen labels (``benchmarks/label_selection.py`` compares the strategies).

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
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl import augment as A
from sklearn_ssl.evaluation._downstream import STUDY_GRIDS, _SemiSupervisedProbe, _training_pool, study_grid
from sklearn_ssl.evaluation import tuned
from sklearn_ssl.nn.encoders import SmallCNN
from sklearn_ssl.evaluation import (best_rival, budget_comparisons, comparison_table, family_findings,
                                    label_efficiency, label_ratio_findings, summarize_label_efficiency)
from sklearn_ssl.evaluation import SELECTION_STRATEGIES
from sklearn_ssl.evaluation import paired_comparison
from sklearn_ssl.evaluation.features import _catalogue_baselines, feature_table
from sklearn_ssl.estimators._finetune import FineTunedClassifier
from sklearn_ssl.plotting import plot_label_efficiency

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tables import write_meta  # noqa: E402

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
def _logistic(seed, tune=False):
    """The probe of the frozen rows: with ``tune`` a plain logistic regression whose C the study's grid search
    chooses (the same three candidates as every other row), else C by its own inner cross-validation."""
    if tune:
        return LogisticRegression(max_iter=3000, class_weight="balanced", random_state=seed)
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
    p.add_argument("--method", nargs="+", choices=["simclr", "moco"], default=["moco"],
                   help="one method or several; with several, the rows that do not depend on the method (CNN, PCA, "
                        "catalogue) are fitted once and each method's results go to <out>/<method>/")
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
    p.add_argument("--features-memory", default=None,
                   help="joblib cache folder of the GalaxyFeatures table (feature_table's memory)")
    p.add_argument("--n-jobs", type=int, default=None, help="processes measuring GalaxyFeatures")
    p.add_argument("--catalogue-only", action="store_true",
                   help="only the catalogue rows, the constant and (a check of the pairing) the raw-pixel PCA row")
    p.add_argument("--paired-with", nargs="*", default=[],
                   help="with --catalogue-only: results folders of stored full runs of the same split, budgets "
                        "and repeats; their catalogue rows are compared with the new ones and replaced by them "
                        "in their comparisons")
    p.add_argument("--label-weight", type=float, default=1.0, help="semi-supervised label_weight")
    p.add_argument("--selection", default="random", choices=list(SELECTION_STRATEGIES),
                   help="how each budget's labels are chosen (strategies see the SSL embeddings)")
    p.add_argument("--limit", type=int, default=None, help="use a random subset of the images")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-tune", dest="tune", action="store_false",
                   help="fit every row with fixed settings (the runs before issue 27) instead of a grid search over "
                        "three settings per row inside each budget's labels (STUDY_GRIDS)")
    p.add_argument("--pretrainings", type=int, default=3,
                   help="SSL pretrainings with seeds seed, seed+1, ...; repeat r uses pretraining r %% K")
    p.add_argument("--test-bootstrap", type=int, default=200, help="bootstrap resamples of the test set (se_test)")
    p.add_argument("--fit-jobs", type=int, default=None,
                   help="processes running the pretrainings and the fits (label_efficiency's n_jobs)")
    p.add_argument("--inner-cv", type=int, default=3, help="folds of the inner cross-validation of the tuned rows")
    p.add_argument("--out", default="real_label_efficiency_out")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (subset, 1 epoch, small budgets)")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.image_size, args.epochs, args.width = args.limit or 400, 16, 1, 8
        args.n_repeats, args.test_size, args.sup_steps, args.ft_steps = 1, 100, 4, 4
        args.budgets, args.ssl_batch_size = "20,50", 128
        args.semi_budgets = "20" if len(args.method) == 1 else ""
        args.pretrainings, args.test_bootstrap = min(args.pretrainings, 2), 20
    if len(args.method) != len(set(args.method)):
        p.error(f"--method names a method twice: {args.method}.")
    if args.semi_budgets and len(args.method) > 1:
        p.error("--semi-budgets needs a single --method.")
    if args.no_catalogue and args.catalogue_only:
        p.error("--catalogue-only and --no-catalogue exclude each other.")
    if args.catalogue_only and args.selection != "random":
        p.error("--catalogue-only has no embeddings to select labels with: use --selection random.")
    if args.paired_with and not args.catalogue_only:
        p.error("--paired-with needs --catalogue-only.")
    for folder in args.paired_with:
        if not os.path.isfile(os.path.join(folder, "real_label_efficiency.csv")):
            p.error(f"--paired-with {folder}: no real_label_efficiency.csv there; give the folder of a stored run.")
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
    if args.catalogue_only:
        return catalogue_only(X, y, budgets, args, timings)

    encoder = functools.partial(SmallCNN, width=args.width)
    augs = make_augmentations(args.augmentations, args.image_size)
    ssl = dict(encoder=encoder, temperature=args.temperature, augmentations=augs, normalize="standard",
               batch_size=args.ssl_batch_size, max_epochs=args.epochs, lr=args.ssl_lr, device="cpu")
    t0 = time.perf_counter()
    jobs = [(method, args.seed + i) for method in args.method for i in range(args.pretrainings)]
    fitted = Parallel(n_jobs=args.fit_jobs)(delayed(_pretrain)(ssl, method, seed, args.threads, X)
                                            for method, seed in jobs)
    embs = {method: [e for (m, _), e in zip(jobs, fitted) if m == method] for method in args.method}
    emb = embs[args.method[0]][0]
    timings["ssl_pretrain_s"] = time.perf_counter() - t0
    print(f"SSL pretraining: {len(jobs)} x {args.epochs} epochs in {timings['ssl_pretrain_s']:.0f} s "
          f"(final losses {', '.join('%s %.3f' % (m, e.net_.history[-1, 'train_loss']) for (m, _), e in zip(jobs, fitted))})",
          flush=True)
    t0 = time.perf_counter()
    pca = make_pipeline(FunctionTransformer(_flatten), StandardScaler(),
                        PCA(n_components=64, random_state=args.seed)).fit(X)
    timings["pca_fit_s"] = time.perf_counter() - t0

    ft = dict(batch_size=64, lr=1e-3, device="cpu", random_state=args.seed)
    # rows named "<method>|<row>" while several methods share one call; split into folders at the end
    prefix = (lambda m: f"{m}|") if len(args.method) > 1 else (lambda m: "")
    estimators = {
        # min_steps: as many optimiser steps at 50 labels as at 4,500 (50 labels = 300 epochs)
        "supervised CNN": FineTunedClassifier(None, encoder=encoder, augmentations=augs, normalize="standard",
                                              max_epochs=3, min_steps=args.sup_steps, **ft),
        "raw-pixel PCA + logistic": make_pipeline(FrozenEstimator(pca), StandardScaler(),
                                                  _logistic(args.seed, args.tune)),
    }
    for method in args.method:
        estimators[prefix(method) + "SSL frozen + logistic"] = [
            make_pipeline(FrozenEstimator(e), StandardScaler(), _logistic(args.seed, args.tune)) for e in embs[method]]
    # tuned: the grid searches the head's rate and the encoder follows at a tenth of it ("auto")
    fine_tuned = {prefix(method) + "SSL fine-tuned": [FineTunedClassifier(
        FrozenEstimator(e), encoder_lr="auto" if args.tune else args.ft_encoder_lr, max_epochs=3,
        min_steps=args.ft_steps, **{**ft, "lr": args.ft_lr}) for e in embs[method]] for method in args.method}
    common = dict(test_size=args.test_size, n_repeats=args.n_repeats, scoring=SCORING, task="classification",
                  random_state=args.seed, verbose=1, selection=args.selection, seed_per_repeat=args.tune,
                  test_bootstrap=args.test_bootstrap, n_jobs=args.fit_jobs, inner_cv=args.inner_cv,
                  progress="real SDSS study")
    if args.selection != "random":
        common["selection_features"] = emb.transform(X)
    if not args.no_catalogue:
        estimators.update(catalogue_estimators(X, args, timings))
    # one call where the budgets agree, so that the fits of every row share the processes
    calls = ([({**estimators, **fine_tuned}, budgets)] if ft_budgets == budgets
             else [(estimators, budgets), (fine_tuned, ft_budgets)])
    t0 = time.perf_counter()
    parts = [label_efficiency(rows, X, y, n, param_grids=_grids(rows, args), **common) for rows, n in calls]
    timings["fits_s"] = time.perf_counter() - t0
    if semi_budgets:
        # the training split only (as label_efficiency draws it for this seed), each labelled image once
        pool = _training_pool(X, y, args.test_size, True, args.seed)
        probe = _logistic(args.seed, args.tune)
        if args.tune:  # searched on the embeddings of the budget's labels, as in downstream_study
            probe = tuned(make_pipeline(probe), STUDY_GRIDS["logistic"], scoring="roc_auc", random_state=args.seed)
        semi = {"semi-supervised": _SemiSupervisedProbe(
            ContrastiveEmbedder(**ssl, method=args.method[0], random_state=args.seed, label_weight=args.label_weight),
            probe, unlabelled=pool)}
        t0 = time.perf_counter()
        parts.append(label_efficiency(semi, X, y, semi_budgets, **{**common, "n_repeats": 1}))
        timings["semi_supervised_s"] = time.perf_counter() - t0
    for part in parts:  # same held-out split in every part (same random_state); attrs block concat
        part.attrs = {}
    results = pd.concat(parts, ignore_index=True)
    timings["total_s"] = sum(timings.values())
    if len(args.method) == 1:
        summary = write_run(results, args.out, args, timings, len(y))
    else:
        shared = ~results["estimator"].str.contains("|", regex=False)
        for method in args.method:
            mine = results["estimator"].str.startswith(prefix(method))
            part = results[shared | mine].copy()
            part["estimator"] = part["estimator"].str.removeprefix(prefix(method))
            summary = write_run(part, os.path.join(args.out, method), args, timings, len(y), method=method)
        write_meta(args.out, args=vars(args), timings=timings, n_images=int(len(y)),
                   torch_threads=torch.get_num_threads(), layout="one folder per method; the rows that do not "
                   "depend on the method (CNN, PCA, catalogue) fitted once and copied into each")
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return results, summary


def _pretrain(ssl, method, seed, threads, X):
    """One pretraining (a joblib task): torch limited to ``threads`` threads in the worker."""
    if threads:
        torch.set_num_threads(threads)
    return ContrastiveEmbedder(**ssl, method=method, random_state=seed).fit(X)


def write_run(results, out, args, timings, n_images, method=None):
    """The outputs of one method's study in ``out``: results, summary, timings, findings, comparisons, meta, plot."""
    os.makedirs(out, exist_ok=True)
    summary = summarize_label_efficiency(results)
    run_args = {**vars(args), "method": method or args.method[0]}
    results.to_csv(os.path.join(out, "real_label_efficiency.csv"), index=False)
    summary.to_csv(os.path.join(out, "real_label_efficiency_summary.csv"), index=False)
    with open(os.path.join(out, "real_label_efficiency_timings.json"), "w") as f:
        json.dump({"args": run_args, "timings": timings, "n_images": int(n_images),
                   "torch_threads": torch.get_num_threads()}, f, indent=1)
    print(f"\n== {run_args['method']} ==")
    print_table(summary)
    findings, comparisons = study_findings(results, return_comparisons=True)
    with open(os.path.join(out, "real_label_efficiency_findings.txt"), "w") as f:
        f.write("\n".join(findings) + "\n")
    comparisons.to_csv(os.path.join(out, "real_label_efficiency_comparisons.csv"), index=False)
    write_meta(out, args=run_args, timings=timings, n_images=int(n_images), torch_threads=torch.get_num_threads())
    print("\n".join(findings))
    save_plot(results, os.path.join(out, "real_label_efficiency.png"), args)
    return summary


def _grids(estimators, args):
    """The grid of each row (``STUDY_GRIDS``, three settings each) with ``--tune``, else None."""
    if not args.tune:
        return None
    return {name: grid for name, est in estimators.items() if (grid := study_grid(est)) is not None}


def catalogue_estimators(X, args, timings):
    """The catalogue baselines of ``_catalogue_baselines`` on the :class:`GalaxyFeatures` of ``X``.

    The table is read from ``--features-cache`` (.npy) when that file exists, else measured by
    :func:`~sklearn_ssl.evaluation.features.feature_table` (``--n-jobs`` processes, a progress
    line per chunk, cached in ``--features-memory``) and saved there.
    """
    t0 = time.perf_counter()
    cached = args.features_cache and os.path.exists(args.features_cache)
    if cached:
        table = np.load(args.features_cache)
    else:
        table = feature_table(X, bands="gri", n_jobs=args.n_jobs, memory=args.features_memory, progress=True)
        if args.features_cache:
            np.save(args.features_cache, table)
    baselines, _ = _catalogue_baselines(X, "classification", bands="gri", random_state=args.seed,
                                        class_weight="balanced", features=table)
    timings["catalogue_features_s"] = time.perf_counter() - t0
    print(f"catalogue features: {timings['catalogue_features_s']:.0f} s", flush=True)
    return baselines


#: The row re-fitted by --catalogue-only to check that its split and subsets are the stored run's.
PAIRING_CHECK = "raw-pixel PCA + logistic"


def catalogue_only(X, y, budgets, args, timings):
    """``--catalogue-only``: the catalogue rows (and the PCA row as a pairing check) on the study's split.

    The held-out split and the label subsets depend only on ``--seed``, ``--test-size``,
    ``--budgets`` and ``--n-repeats`` (``label_efficiency``), so these rows are paired with
    those of a stored full run made with the same values; the PCA row, deterministic, is
    refitted to show it (``pairing_check.json``: its largest score difference from each stored run).
    """
    estimators = catalogue_estimators(X, args, timings)
    t0 = time.perf_counter()
    pca = make_pipeline(FunctionTransformer(_flatten), StandardScaler(),
                        PCA(n_components=64, random_state=args.seed)).fit(X)
    timings["pca_fit_s"] = time.perf_counter() - t0
    estimators[PAIRING_CHECK] = make_pipeline(FrozenEstimator(pca), StandardScaler(), _logistic(args.seed))
    t0 = time.perf_counter()
    results = label_efficiency(estimators, X, y, budgets, test_size=args.test_size, n_repeats=args.n_repeats,
                               scoring=SCORING, task="classification", random_state=args.seed, verbose=1,
                               progress="catalogue rows")
    results.attrs = {}
    timings["catalogue_rows_s"] = time.perf_counter() - t0
    timings["total_s"] = sum(timings.values())
    summary = summarize_label_efficiency(results)
    results.to_csv(os.path.join(args.out, "real_label_efficiency.csv"), index=False)
    summary.to_csv(os.path.join(args.out, "real_label_efficiency_summary.csv"), index=False)
    print_table(summary)
    checks = {}
    old_new = []
    for folder in args.paired_with:
        stored = pd.read_csv(os.path.join(folder, "real_label_efficiency.csv"))
        name = os.path.basename(os.path.normpath(folder))
        checks[name] = pairing_check(stored, results)
        print(f"pairing check against {folder}: {checks[name]}")
        old_new.append(catalogue_old_vs_new(stored, results).assign(paired_with=name))
        combined = pd.concat([stored[~stored["estimator"].isin(CATALOGUE)],
                              results[results["estimator"].isin(CATALOGUE)]], ignore_index=True)
        findings, comparisons = study_findings(combined, return_comparisons=True)
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        with open(os.path.join(args.out, name, "real_label_efficiency_findings.txt"), "w") as f:
            f.write("\n".join(findings) + "\n")
        comparisons.to_csv(os.path.join(args.out, name, "real_label_efficiency_comparisons.csv"), index=False)
        print(f"\n{name}, with the new catalogue rows:\n" + "\n".join(findings))
    if old_new:
        old_new = pd.concat(old_new, ignore_index=True)
        old_new.to_csv(os.path.join(args.out, "catalogue_old_vs_new.csv"), index=False)
        print(old_new[old_new["paired_with"] == old_new["paired_with"].iloc[0]].to_string(index=False))
        with open(os.path.join(args.out, "pairing_check.json"), "w") as f:
            json.dump(checks, f, indent=1)
    with open(os.path.join(args.out, "real_label_efficiency_timings.json"), "w") as f:
        json.dump({"args": vars(args), "timings": timings, "n_images": int(len(y))}, f, indent=1)
    write_meta(args.out, args=vars(args), timings=timings, n_images=int(len(y)), pairing_check=checks,
               paired_with=[os.path.normpath(f) for f in args.paired_with])
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return results, summary


def pairing_check(stored, new, row=PAIRING_CHECK):
    """Largest absolute score difference of ``row`` between a stored run and the new one, per metric."""
    keys = ["n_labels", "repeat", "metric"]
    a = stored[stored["estimator"] == row].set_index(keys)["score"]
    b = new[new["estimator"] == row].set_index(keys)["score"]
    if a.empty or b.empty or set(a.index) != set(b.index):
        raise ValueError(f"the stored run has no {row!r} rows for the same budgets and repeats: not the same "
                         "protocol (give the --budgets and --n-repeats of the stored run).")
    diff = (a - b.reindex(a.index)).abs()
    return {m: float(diff.xs(m, level="metric").max()) for m in sorted(set(a.index.get_level_values("metric")))}


def catalogue_old_vs_new(stored, new):
    """Per catalogue row, metric and budget: the stored and the new mean ± standard error and their paired difference.

    ``diff`` is the mean of new - old over the repeats (the same label subsets), ``se_diff``
    its standard error and ``p_value`` the paired t-test of :func:`paired_comparison` on its
    own (NaN where every repeat is the same fit), not corrected for multiplicity.
    """
    rows = []
    for (est, metric, n), grp in new[new["estimator"].isin(CATALOGUE[:-1])].groupby(
            ["estimator", "metric", "n_labels"], sort=False):
        old = stored[(stored["estimator"] == est) & (stored["metric"] == metric) & (stored["n_labels"] == n)]
        pair = grp.set_index("repeat")["score"].to_frame("new").join(old.set_index("repeat")["score"].rename("old"),
                                                                     how="inner")
        res = paired_comparison(pair["new"], pair["old"], min_repeats=2)
        rows.append(dict(estimator=est, metric=metric, n_labels=int(n), n_repeats=len(pair),
                         old_mean=res["mean_b"], old_se=res["se_b"], new_mean=res["mean_a"], new_se=res["se_a"],
                         diff=res["diff"], se_diff=res["se_diff"], p_value=res["p_value"]))
    return pd.DataFrame(rows)


CATALOGUE = ("photometry + GB", "morphology + GB", "photometry + morphology + GB", "constant (majority class)")


def study_findings(results, metric="roc_auc", return_comparisons=False):
    """Per budget, each SSL row against the best catalogue baseline and the supervised CNN.

    Every comparison is a paired two-sided t-test (:func:`sklearn_ssl.evaluation.paired_comparison`),
    and all of them are corrected together with Holm's method; with ``return_comparisons`` the
    table of comparisons (``p_value``, ``p_adjusted``) is returned too. Then the label ratio of the
    frozen and fine-tuned rows against the CNN and the best catalogue baseline
    (:func:`sklearn_ssl.evaluation.label_ratio`).
    """
    groups = []
    for method in ("SSL frozen + logistic", "SSL fine-tuned", "semi-supervised"):
        for rivals, what in ((CATALOGUE, "best catalogue baseline"), (("supervised CNN",), "supervised CNN")):
            groups.append((f"{metric}, {method} vs the {what}: ", budget_comparisons(results, metric, method, rivals)))
    lines, comparisons = family_findings(groups)
    catalogue = best_rival(results, metric, CATALOGUE[:-1])  # not the constant predictor
    lines += label_ratio_findings(results, metric, ("SSL frozen + logistic", "SSL fine-tuned"),
                                  [r for r in ("supervised CNN", catalogue) if r], heading=f"{metric}, ")
    return (lines, comparison_table(comparisons)) if return_comparisons else lines


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
