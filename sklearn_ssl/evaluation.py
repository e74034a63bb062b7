"""Downstream evaluation: label-efficiency curves, the cross-survey study and similarity search.

:func:`label_efficiency` answers the question of Hayat et al. (2021): how many labels does
each model need? It trains every estimator on label budgets drawn from a training split
and scores it on a held-out split that is fixed across budgets and repeats.

To pretrain once on all (unlabelled) images and then probe at every budget, wrap the
fitted embedder in :class:`sklearn.frozen.FrozenEstimator`; cloning returns the frozen
embedder itself and its ``fit`` does nothing::

    emb = ContrastiveEmbedder(...).fit(X_all)            # no labels
    probe = make_pipeline(FrozenEstimator(emb), LogisticRegression())
    label_efficiency({"ssl+logreg": probe}, X, y, n_labels=[20, 50, 100])
"""

from __future__ import annotations

import numbers
import sys
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._comparison import budget_findings, comparison_sentence, paired_comparison
from ._cross_survey import (
    CROSS_SURVEY_CONDITIONS, CROSS_SURVEY_QUICK, cross_survey_augmentations, cross_survey_findings, cross_survey_study,
    make_survey_pair, summarize_cross_survey,
)
from .metrics import get_scorer

__all__ = ["label_efficiency", "summarize_label_efficiency", "downstream_study", "run_downstream_study",
           "SimilaritySearch", "paired_comparison", "comparison_sentence", "budget_findings",
           "cross_survey_study", "summarize_cross_survey", "cross_survey_findings", "make_survey_pair",
           "cross_survey_augmentations", "CROSS_SURVEY_CONDITIONS", "CROSS_SURVEY_QUICK"]


def _resolve_scoring(scoring) -> dict:
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        name = "score" if scoring is None else (scoring if isinstance(scoring, str) else
                                                getattr(scoring, "__name__", "score"))
        return {name: get_scorer(scoring)}
    if isinstance(scoring, dict):
        return {k: get_scorer(v) for k, v in scoring.items()}
    return {s: get_scorer(s) for s in scoring}


def _subset(y_train: np.ndarray, n: int, classification: bool, rng: np.random.RandomState) -> np.ndarray:
    """Positions of ``n`` training labels: stratified (every class at least once) or random."""
    if not classification:
        return np.sort(rng.choice(len(y_train), size=n, replace=False))
    classes = np.unique(y_train)
    if n < len(classes):
        raise ValueError(f"n_labels={n} is smaller than the number of classes ({len(classes)}); a stratified "
                         "subset must contain every class.")
    first = np.array([rng.choice(np.flatnonzero(y_train == c)) for c in classes])
    rest = np.setdiff1d(np.arange(len(y_train)), first)
    k = n - len(classes)
    if k == 0:
        extra = rest[:0]
    elif k >= len(rest):
        extra = rest
    else:
        try:
            extra, _ = train_test_split(rest, train_size=k, stratify=y_train[rest], random_state=rng)
        except ValueError:  # too few to stratify the remainder: random
            extra = rng.choice(rest, size=k, replace=False)
    return np.sort(np.concatenate([first, extra]))


def _held_out_split(y, test_size, classification: bool, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices of :func:`label_efficiency`'s held-out split (stratified for
    classification); also used by the demo to know which galaxies are held out."""
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, random_state=rng,
                                           stratify=y if classification else None)
    return np.sort(train_idx), np.sort(test_idx)


def label_efficiency(estimators, X, y, n_labels, *, test_size=0.25, n_repeats=3, scoring=None, task="auto",
                     random_state=None, keep_predictions=False, progress=False, verbose=0):
    """Score estimators trained on increasing numbers of labels, on a fixed held-out split.

    Parameters
    ----------
    estimators : dict of str -> estimator
        Estimators or Pipelines, cloned before every fit. Use
        ``make_pipeline(FrozenEstimator(fitted_embedder), model)`` to pretrain once on all
        images and only fit ``model`` at each budget.
    X : array-like of shape (n_samples, ...)
        Images (n, C, H, W) or features.
    y : array-like of shape (n_samples,)
        Labels (classification) or targets (regression).
    n_labels : sequence of int
        Label budgets: sizes of the training subsets (each at most the training split).
    test_size : float or int, default=0.25
        Held-out split (fraction or count), drawn once (stratified for classification) and
        shared by all budgets, repeats and estimators.
    n_repeats : int, default=3
        Subsets drawn per budget; repeat ``r`` uses the same subset for every estimator.
    scoring : None, str, callable, list or dict, default=None
        None uses each estimator's ``score``. Names may be scikit-learn scorer names or the
        photo-z names of :data:`sklearn_ssl.metrics.PHOTOZ_SCORERS` (negated errors); a
        dict maps a metric name to a name or a callable ``scorer(estimator, X, y)``.
    task : {"auto", "classification", "regression"}, default="auto"
        "auto" is "regression" for continuous targets, else "classification".
        Classification subsets are stratified and contain every class.
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out split and the subsets: an integer makes both reproducible.
    keep_predictions : bool, default=False
        Also keep each fitted model's ``predict`` on the held-out split, in
        ``results.attrs["predictions"]``: a dict ``(estimator, n_labels, repeat) -> array``
        (for plots such as z_phot against z_spec).
    progress : bool, default=False
        Show a progress bar over the fits (tqdm, on stderr).
    verbose : int, default=0
        Print one line per fit.

    Returns
    -------
    results : pandas.DataFrame
        Tidy table with columns ``estimator``, ``n_labels``, ``repeat``, ``metric``,
        ``score`` and ``fit_time`` (seconds); one row per estimator, budget, repeat and
        metric. ``results.attrs["test_index"]`` holds the held-out sample indices.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = make_classification(200, random_state=0)
    >>> res = label_efficiency({"logistic": LogisticRegression()}, X, y, [10, 50], n_repeats=2,
    ...                        random_state=0)
    >>> res.groupby("n_labels").score.count().tolist()
    [2, 2]
    """
    if not isinstance(estimators, dict) or not estimators:
        raise TypeError("estimators must be a non-empty dict mapping names to estimators.")
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}.")
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y have different numbers of samples: {len(X)} and {len(y)}.")
    if task == "auto":
        task = "regression" if type_of_target(y) in ("continuous", "continuous-multioutput") else "classification"
    classification = task == "classification"
    budgets = [int(n) for n in np.atleast_1d(n_labels)]
    if any(n < 1 for n in budgets):
        raise ValueError(f"n_labels must be positive integers, got {list(n_labels)}.")
    rng = check_random_state(random_state)
    train_idx, test_idx = _held_out_split(y, test_size, classification, rng)
    too_big = [n for n in budgets if n > len(train_idx)]
    if too_big:
        raise ValueError(f"n_labels {too_big} exceed the {len(train_idx)} samples of the training split.")
    take = (lambda a, i: a.iloc[i]) if hasattr(X, "iloc") else (lambda a, i: a[i])
    X_test, y_test = take(X, test_idx), y[test_idx]
    scorers = _resolve_scoring(scoring)
    seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    from tqdm.auto import tqdm  # installed with skorch

    rows, predictions = [], {}
    bar = tqdm(total=n_repeats * len(budgets) * len(estimators), desc="label budgets", unit="fit",
               disable=None if progress else True, file=sys.stderr, dynamic_ncols=True,  # None: terminals only
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} fits [{elapsed}]")  # fits differ too much for an ETA
    for r in range(n_repeats):
        for b, n in enumerate(budgets):
            sub = train_idx[_subset(y[train_idx], n, classification, np.random.RandomState(seeds[r, b]))]
            for name, est in estimators.items():
                bar.set_postfix_str(f"{name}, {n} labels", refresh=True)
                model = clone(est)
                t0 = time.perf_counter()
                model.fit(take(X, sub), y[sub])
                fit_time = time.perf_counter() - t0
                for metric, scorer in scorers.items():
                    value = model.score(X_test, y_test) if scorer is None else scorer(model, X_test, y_test)
                    rows.append({"estimator": name, "n_labels": n, "repeat": r, "metric": metric,
                                 "score": float(value), "fit_time": fit_time})
                if keep_predictions:
                    predictions[name, n, r] = np.asarray(model.predict(X_test))
                bar.update(1)
                if verbose:
                    print(f"[label_efficiency] {name} n_labels={n} repeat={r}: "
                          + ", ".join(f"{m}={row['score']:.4g}" for m, row in zip(scorers, rows[-len(scorers):])))
    bar.close()
    out = pd.DataFrame(rows, columns=["estimator", "n_labels", "repeat", "metric", "score", "fit_time"])
    out.attrs["test_index"] = test_idx
    out.attrs["task"] = task
    if keep_predictions:
        out.attrs["predictions"] = predictions
    return out


class SimilaritySearch(BaseEstimator):
    """Nearest neighbours of embeddings, by cosine distance (Stein et al. 2022's lens search),
    and a k-nearest-neighbour outlier score for rare-object searches (:meth:`score_samples`).

    Parameters
    ----------
    n_neighbors : int, default=8
        Neighbours returned by :meth:`kneighbors` and averaged by :meth:`score_samples`.
    metric : str, default="cosine"
        Any metric of :class:`sklearn.neighbors.NearestNeighbors`.
    algorithm : str, default="brute"
        Search algorithm (brute force is exact and fast for a few 100k embeddings).
    n_jobs : int or None, default=None

    Attributes
    ----------
    nn_ : sklearn.neighbors.NearestNeighbors
        The fitted index.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(100, 16))
    >>> search = SimilaritySearch(n_neighbors=3).fit(Z)
    >>> dist, idx = search.kneighbors(Z[:1])
    >>> int(idx[0, 0])
    0
    """

    _parameter_constraints: dict = {
        "n_neighbors": [numbers.Integral], "metric": [str, callable], "algorithm": [str], "n_jobs": [None, int],
    }

    def __init__(self, n_neighbors=8, metric="cosine", algorithm="brute", n_jobs=None):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Index embeddings ``X`` of shape (n_samples, n_features)."""
        self._validate_params()
        X = validate_data(self, X, reset=True)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(X)), metric=self.metric,
                                    algorithm=self.algorithm, n_jobs=self.n_jobs).fit(X)
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Distances and indices of the nearest indexed embeddings to each query.

        With ``X=None`` the indexed points are the queries and each point is not its own
        neighbour (scikit-learn's convention).
        """
        check_is_fitted(self, "nn_")
        if X is not None:
            X = validate_data(self, X, reset=False)
        k = n_neighbors or self.n_neighbors
        available = self.nn_.n_samples_fit_ - (X is None)  # a point is not its own neighbour
        if k > available:
            raise ValueError(
                f"n_neighbors={k} but only {available} indexed embeddings can be returned"
                f"{' (the queries are the indexed points, each excluded from its own neighbours)' if X is None else ''}; "
                f"ask for at most {available}, or index more embeddings."
            )
        return self.nn_.kneighbors(X, n_neighbors=k, return_distance=return_distance)

    def score_samples(self, X=None):
        """Typicality of each query: minus its mean distance to its ``n_neighbors`` nearest indexed points.

        scikit-learn's outlier convention (as
        :meth:`sklearn.neighbors.LocalOutlierFactor.score_samples`): the lower, the more
        abnormal. Sorting a survey's embeddings by this score (ascending) ranks the
        objects least like any other first, a k-nearest-neighbour distance anomaly score
        (Ramaswamy et al. 2000) as used for rare-object searches in contrastive embeddings.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None
            Queries; None scores the indexed points themselves, each without counting
            itself as a neighbour.

        Returns
        -------
        scores : ndarray of shape (n_queries,)
        """
        dist, _ = self.kneighbors(X)
        return -dist.mean(axis=1)


# -- the downstream study on the synthetic survey (used by benchmarks/ and the CLI) ------------
def _asinh_flatten(X):
    return np.arcsinh(np.asarray(X, dtype=np.float32) / 0.1).reshape(len(X), -1)


def _raw_photoz_scoring(threshold=0.05):
    from .metrics import outlier_fraction, photoz_bias, sigma_mad

    def make(fn):
        return lambda est, X, y: fn(y, est.predict(X))
    return {"sigma_mad": make(sigma_mad), "bias": make(photoz_bias),
            "outlier_fraction": make(lambda t, p: outlier_fraction(t, p, threshold))}


def summarize_label_efficiency(results) -> pd.DataFrame:
    """Mean, standard deviation and standard error of the mean over repeats.

    One row per metric, estimator and budget: ``mean``, ``std`` (ddof=1), ``sem``
    (``std / sqrt(n_repeats)``) and ``n_repeats``.
    """
    out = (results.groupby(["metric", "estimator", "n_labels"], sort=False)["score"]
           .agg(mean="mean", std="std", n_repeats="count").reset_index())
    out.insert(out.columns.get_loc("std") + 1, "sem", out["std"] / np.sqrt(out["n_repeats"]))
    return out


#: Rows of :func:`downstream_study` by role, for its findings.
_SSL_ROWS = {"morphology": ("SSL frozen + logistic", "semi-supervised SSL + logistic"),
             "redshift": ("SSL frozen + ridge", "SSL fine-tuned photo-z head", "semi-supervised SSL + ridge")}
_SUPERVISED_ROWS = {"morphology": ("supervised CNN",), "redshift": ("supervised CNN photo-z head",)}
_CATALOGUE_ROWS = {"morphology": ("photometry + GB", "morphology + GB", "photometry + morphology + GB",
                                  "constant (majority class)"),
                   "redshift": ("photometry + GB", "morphology + GB", "photometry + morphology + GB",
                                "constant (median redshift)")}


def _study_findings(results: dict, min_repeats: int = 5, other_rows=None) -> list[str]:
    """Per task and budget: each SSL row against the best catalogue baseline and the supervised CNN.

    ``other_rows`` (task -> row names) are further frozen embedders, also compared with the
    main embedder's frozen row. Every sentence follows :func:`paired_comparison` (a verdict only where the paired
    difference exceeds two standard errors, with at least ``min_repeats`` repeats).
    """
    lines = []
    for task, metric, up in (("morphology", "accuracy", True), ("redshift", "sigma_mad", False)):
        res = results[task]
        others = list((other_rows or {}).get(task, ()))
        for method in (*_SSL_ROWS[task], *others):
            if method not in set(res["estimator"]):
                continue
            rivals_of = [(_CATALOGUE_ROWS[task], "the best catalogue baseline"),
                         (_SUPERVISED_ROWS[task], "the supervised CNN")]
            if method in others:
                rivals_of.append(((_SSL_ROWS[task][0],), _SSL_ROWS[task][0]))
            for rivals, what in rivals_of:
                found = budget_findings(res, metric, method, rivals, higher_is_better=up, min_repeats=min_repeats)
                if found:
                    lines.append(f"{task} ({metric}), {method} vs {what}: " + " ".join(found))
    return lines


class _SemiSupervisedProbe(BaseEstimator):
    """Pretrain an embedder on a pool of images with only the training labels visible, then probe.

    ``fit(X, y)`` pretrains a clone of ``embedder`` on ``X`` (labelled) plus ``unlabelled``
    (marked ``-1`` for classes, ``NaN`` for continuous targets), then fits a clone of
    ``estimator`` on the embeddings of ``X``. Used by :func:`run_downstream_study` to put a
    semi-supervised row next to the self-supervised and supervised ones.
    """

    def __init__(self, embedder, estimator, unlabelled=None):
        self.embedder = embedder
        self.estimator = estimator
        self.unlabelled = unlabelled

    def fit(self, X, y):
        y = np.asarray(y)
        pool = np.empty((0, *X.shape[1:]), X.dtype) if self.unlabelled is None else self.unlabelled
        hidden = np.full(len(pool), -1 if y.dtype.kind in "iub" else np.nan, dtype=y.dtype)
        self.embedder_ = clone(self.embedder).fit(np.concatenate([X, pool]), np.concatenate([y, hidden]))
        self.estimator_ = clone(self.estimator).fit(self.embedder_.transform(X), y)
        return self

    def predict(self, X):
        return self.estimator_.predict(self.embedder_.transform(X))

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self.embedder_.transform(X))


def downstream_study(images, catalogue, embedder, *, n_labels=(20, 50, 100, 300), n_repeats=5, test_size=0.25,
                     finetune_epochs=15, finetune_steps=None, photoz_bins=180, semi_supervised=True,
                     catalogue_baselines=True, other_embedders=None, bands=None, n_jobs=None,
                     class_column="morphology_class", redshift_column="redshift", random_state=0,
                     keep_predictions=False, progress=False, verbose=0) -> dict:
    """Label-efficiency study of a pretrained embedder: morphology and photometric redshift.

    Every row is scored by :func:`label_efficiency` on one held-out split:

    - morphology (accuracy): frozen SSL + logistic regression; supervised CNN (the embedder's
      encoder architecture, normaliser and augmentations trained from scratch,
      :class:`~sklearn_ssl.finetune.FineTunedClassifier` with ``pretrained=None``);
      raw-pixel PCA (asinh pixels, at most 16 components) + logistic regression;
    - redshift (sigma_MAD, bias, outlier fraction |dz| > 0.05): frozen SSL + ridge
      regression; fine-tuned SSL photo-z head (:class:`~sklearn_ssl.photoz.PhotoZRegressor`,
      ``photoz_bins`` bins on [0, 0.4), default learning rates); supervised CNN with the same
      photo-z head from scratch; raw-pixel PCA + ridge regression;
    - with ``semi_supervised=True``, for both tasks: the embedder's settings with
      ``label_weight=1``, pretrained on all images with only each budget's labels visible
      (one pretraining per budget and repeat), then the same linear model;
    - with ``catalogue_baselines=True``, for both tasks, what an astronomer would use
      instead: :class:`~sklearn_ssl.features.GalaxyFeatures` (photutils photometry,
      statmorph morphology; measured once on all images) with histogram gradient boosting
      on the photometry (the classic photo-z), on the morphology and on both, and the
      constant predictor (majority class, median redshift);
    - for each of ``other_embedders`` (e.g. BYOL, SimSiam, a
      :class:`~sklearn_ssl.CrossModalEmbedder`), the same frozen probes as the embedder's:
      rows ``"<name> frozen + logistic"`` and ``"<name> frozen + ridge"``.

    ``out["findings"]`` states, per task and budget, whether each SSL row beats the best
    catalogue baseline and the supervised CNN, by the rule of
    :func:`paired_comparison` (paired repeats, a verdict only beyond two standard errors
    and with at least 5 repeats).

    Fine-tuned and supervised models train for at least ``finetune_steps`` optimiser steps
    at every budget (``min_steps``; default: ``finetune_epochs`` epochs of the largest
    budget), so small budgets are not under-trained, which would flatter the pretrained rows.

    Parameters
    ----------
    images : ndarray of shape (n_samples, n_bands, height, width)
        Every image; the unlabelled pool of the semi-supervised rows.
    catalogue : pandas.DataFrame
        One row per image with integer classes in ``class_column`` and redshifts in
        ``redshift_column``.
    embedder : ContrastiveEmbedder
        Fitted on ``images`` (without labels); never refitted.
    n_labels : sequence of int
        Label budgets, each at most the training split.
    n_repeats, test_size, random_state, keep_predictions, progress, verbose
        As in :func:`label_efficiency`.
    finetune_epochs, finetune_steps : int
        Epochs and minimum optimiser steps of every fine-tuned or supervised fit.
    photoz_bins : int, default=180
        Bins of the photo-z head on [0, 0.4).
    semi_supervised : bool, default=True
        Add the semi-supervised rows.
    catalogue_baselines : bool, default=True
        Add the catalogue-feature and constant rows.
    other_embedders : dict of str -> fitted transformer or None, default=None
        Further pretrained embedders, each scored with the frozen probes; their findings
        also compare them with ``embedder``'s frozen row. Never refitted.
    bands : str or None, default=None
        Band names for :class:`~sklearn_ssl.features.GalaxyFeatures` (e.g. ``"ugriz"``).
    n_jobs : int or None, default=None
        Images measured in parallel by :class:`~sklearn_ssl.features.GalaxyFeatures`.

    Returns
    -------
    out : dict
        ``"morphology"`` and ``"redshift"``: tidy results of :func:`label_efficiency`;
        ``"morphology_summary"``, ``"redshift_summary"``: :func:`summarize_label_efficiency`;
        ``"findings"``: list of sentences (see above);
        ``"figures"``: dict of matplotlib Figures; ``"timings"``: seconds per task (and
        ``"features"``, the catalogue measurement).
    """
    from sklearn.decomposition import PCA
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from .finetune import FineTunedClassifier
    from .photoz import PhotoZRegressor
    from .plotting import plot_label_efficiency

    check_is_fitted(embedder, "net_")
    steps = finetune_steps or finetune_epochs * max(1, max(n_labels) // embedder.batch_size)
    ft = dict(max_epochs=finetune_epochs, min_steps=steps, batch_size=embedder.batch_size,
              device=embedder.device, random_state=random_state)
    scratch = dict(encoder=embedder.encoder, normalize=embedder.normalize, augmentations=embedder.augmentations)
    n_pca = min(16, min(n_labels))

    def pixel_pca(model):
        return make_pipeline(FunctionTransformer(_asinh_flatten), StandardScaler(),
                             PCA(n_components=n_pca, random_state=random_state), model)

    morph = {"SSL frozen + logistic": make_pipeline(FrozenEstimator(embedder), StandardScaler(),
                                                    LogisticRegression(max_iter=2000))}
    redshift = {"SSL frozen + ridge": make_pipeline(FrozenEstimator(embedder), StandardScaler(), Ridge(alpha=1.0)),
                "SSL fine-tuned photo-z head": PhotoZRegressor(FrozenEstimator(embedder), n_bins=photoz_bins, **ft)}
    if semi_supervised:
        semi = clone(embedder).set_params(label_weight=1.0)  # same settings, labels of each budget visible
        morph["semi-supervised SSL + logistic"] = _SemiSupervisedProbe(
            semi, make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), unlabelled=images)
        redshift["semi-supervised SSL + ridge"] = _SemiSupervisedProbe(
            semi, make_pipeline(StandardScaler(), Ridge(alpha=1.0)), unlabelled=images)
    for name, other in (other_embedders or {}).items():
        check_is_fitted(other)
        morph[f"{name} frozen + logistic"] = make_pipeline(FrozenEstimator(other), StandardScaler(),
                                                           LogisticRegression(max_iter=2000))
        redshift[f"{name} frozen + ridge"] = make_pipeline(FrozenEstimator(other), StandardScaler(), Ridge(alpha=1.0))
    morph["supervised CNN"] = FineTunedClassifier(None, **scratch, **ft)
    morph["raw-pixel PCA + logistic"] = pixel_pca(LogisticRegression(max_iter=2000))
    redshift["supervised CNN photo-z head"] = PhotoZRegressor(None, n_bins=photoz_bins, **scratch, **ft)
    redshift["raw-pixel PCA + ridge"] = pixel_pca(Ridge(alpha=1.0))

    timings = {}
    if catalogue_baselines:
        from .features import _catalogue_baselines

        t0 = time.perf_counter()
        base_morph, table = _catalogue_baselines(images, "classification", bands=bands, random_state=random_state,
                                                 n_jobs=n_jobs)
        base_z, _ = _catalogue_baselines(images, "regression", bands=bands, random_state=random_state,
                                         features=table)
        timings["features"] = time.perf_counter() - t0
        morph.update(base_morph)
        redshift.update(base_z)

    common = dict(n_labels=list(n_labels), test_size=test_size, n_repeats=n_repeats, random_state=random_state,
                  keep_predictions=keep_predictions, progress=progress, verbose=verbose)
    t0 = time.perf_counter()
    morph_res = label_efficiency(morph, images, catalogue[class_column].to_numpy(), scoring={"accuracy": "accuracy"},
                                 task="classification", **common)
    timings["morphology"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    z_res = label_efficiency(redshift, images, catalogue[redshift_column].to_numpy(), scoring=_raw_photoz_scoring(),
                             task="regression", **common)
    timings["redshift"] = time.perf_counter() - t0
    figures = {
        "morphology_accuracy": plot_label_efficiency(morph_res, "accuracy", title="Morphology"),
        "redshift_sigma_mad": plot_label_efficiency(z_res, "sigma_mad", title="Photo-z",
                                                    ylabel=r"$\sigma_{\rm MAD}$"),
        "redshift_outlier_fraction": plot_label_efficiency(z_res, "outlier_fraction",
                                                           title="Photo-z outliers |dz| > 0.05"),
    }
    return {"morphology": morph_res, "redshift": z_res, "morphology_summary": summarize_label_efficiency(morph_res),
            "redshift_summary": summarize_label_efficiency(z_res),
            "findings": _study_findings({"morphology": morph_res, "redshift": z_res},
                                        other_rows={"morphology": [f"{n} frozen + logistic" for n in other_embedders or {}],
                                                    "redshift": [f"{n} frozen + ridge" for n in other_embedders or {}]}),
            "figures": figures, "timings": timings}


def run_downstream_study(n_samples=600, image_size=32, *, n_labels=(20, 50, 100, 300), n_repeats=5,
                         test_size=0.25, pretrain_epochs=15, finetune_epochs=15, finetune_steps=None,
                         photoz_bins=180, width=16, batch_size=64, semi_supervised=True, catalogue_baselines=True,
                         n_jobs=None, random_state=0, verbose=0) -> dict:
    """The label-efficiency study on :func:`sklearn_ssl.datasets.make_galaxy_survey`.

    Simulates ``n_samples`` galaxies, pretrains one :class:`~sklearn_ssl.ContrastiveEmbedder`
    (SimCLR, :class:`~sklearn_ssl.encoders.SmallCNN` of ``width``, asinh normalisation) on
    all of them without labels, then runs :func:`downstream_study` (the other parameters
    are its own).

    Returns
    -------
    out : dict
        What :func:`downstream_study` returns, with ``"timings"`` also holding the survey
        and pretraining times, plus ``"n_samples"`` and ``"embedder"``.
    """
    from .datasets import make_galaxy_survey
    from .embedder import ContrastiveEmbedder
    from .encoders import SmallCNN

    timings = {}
    t0 = time.perf_counter()
    X, cat = make_galaxy_survey(n_samples, image_size=image_size, random_state=random_state)
    timings["survey"] = time.perf_counter() - t0
    keep = (cat["redshift"].to_numpy() >= 0) & (cat["redshift"].to_numpy() < 0.4)  # the photo-z head's range
    X, cat = X[keep], cat[keep].reset_index(drop=True)
    t0 = time.perf_counter()
    emb = ContrastiveEmbedder(encoder=SmallCNN(in_channels=X.shape[1], width=width), normalize="asinh",
                              max_epochs=pretrain_epochs, batch_size=batch_size, random_state=random_state).fit(X)
    timings["pretrain"] = time.perf_counter() - t0
    out = downstream_study(X, cat, emb, n_labels=n_labels, n_repeats=n_repeats, test_size=test_size,
                           finetune_epochs=finetune_epochs, finetune_steps=finetune_steps, photoz_bins=photoz_bins,
                           semi_supervised=semi_supervised, catalogue_baselines=catalogue_baselines,
                           bands="ugriz", n_jobs=n_jobs, random_state=random_state, verbose=verbose)
    out["timings"] = {**timings, **out["timings"]}
    return {**out, "n_samples": int(len(X)), "embedder": emb}
