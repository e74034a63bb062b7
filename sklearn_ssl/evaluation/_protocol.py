"""The label-efficiency protocol.

This module holds the protocol (:func:`label_efficiency`, :func:`summarize_label_efficiency`)
(:class:`~sklearn_ssl.SimilaritySearch` lives in :mod:`sklearn_ssl.discovery`); the studies built on them have modules of their own in this
subpackage, and :mod:`sklearn_ssl.evaluation` exports them all.

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

import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from ._selection import SELECTION_STRATEGIES, select_labels
from ..utils import WorkProgress
from .metrics import get_scorer

__all__ = ["label_efficiency", "summarize_label_efficiency", "held_out_split", "asinh_flatten"]


def _scoring(scoring) -> dict:
    """``label_efficiency``'s ``scoring`` as a dict metric name -> what :func:`sklearn.metrics.check_scoring`
    takes: scikit-learn's scorer names, photo-z scorers (:func:`sklearn_ssl.evaluation.metrics.get_scorer`),
    callables, or None for the estimator's ``score``."""
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        name = "score" if scoring is None else (scoring if isinstance(scoring, str) else
                                                getattr(scoring, "__name__", "score"))
        scoring = {name: scoring}
    elif not isinstance(scoring, dict):
        scoring = {s: s for s in scoring}
    return {k: get_scorer(v) for k, v in scoring.items()}


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


def held_out_split(y, test_size, classification: bool, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices of :func:`label_efficiency`'s held-out split (stratified for
    classification); also used by the demo to know which galaxies are held out."""
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, random_state=rng,
                                           stratify=y if classification else None)
    return np.sort(train_idx), np.sort(test_idx)


def label_efficiency(estimators, X, y, n_labels, *, test_size=0.25, n_repeats=3, scoring=None, task="auto",
                     selection="random", selection_features=None, selection_params=None, random_state=None,
                     keep_predictions=False, n_jobs=None, progress=False, verbose=0):
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
        photo-z names of :data:`sklearn_ssl.evaluation.metrics.PHOTOZ_SCORERS` (greater is better:
        errors negated); a dict maps a metric name to a name or a callable
        ``scorer(estimator, X, y)``. Each is checked by :func:`sklearn.metrics.check_scoring`
        before the first fit.
    task : {"auto", "classification", "regression"}, default="auto"
        "auto" is "regression" for continuous targets, else "classification".
        Classification subsets are stratified and contain every class.
    selection : {"random", "typiclust", "probcover", "coreset", "uncertainty"}, default="random"
        How each budget's labels are chosen from the training split. ``"random"``: a random
        subset (stratified for classification), as before this parameter existed: the
        same subsets for the same ``random_state``. The others ask a query strategy of
        scikit-activeml (the optional extra ``select``) for the budget's labels, from
        ``selection_features`` of the training split only (never a test row), starting from
        one random galaxy per class (classification); see
        :func:`sklearn_ssl.discovery.select_labels`. The estimators are then trained on exactly
        those labels; every estimator gets the same subset in a repeat.
    selection_features : array-like of shape (n_samples, n_features) or None, default=None
        What the strategy sees, one row per sample of ``X`` (e.g. the embeddings,
        ``embedder.transform(X)``); None uses ``X`` itself when it is 2-D.
    selection_params : dict or None, default=None
        Parameters of the strategy (``strategy_params`` of
        :func:`~sklearn_ssl.discovery.select_labels`, e.g. ``{"n_classes": 8}`` for ProbCover).
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out split and the subsets: an integer makes both reproducible.
    keep_predictions : bool, default=False
        Also keep each fitted model's ``predict`` on the held-out split, in
        ``results.attrs["predictions"]``: a dict ``(estimator, n_labels, repeat) -> array``
        (for plots such as z_phot against z_spec).
    n_jobs : int or None, default=None
        Fits run in parallel (joblib processes; -1: every core). Each worker's torch then
        uses one thread, so that the scores do not depend on the number of workers (they
        may differ in the last digits from ``n_jobs=None``, where torch uses every core).
        The rows come out in the same order either way.
    progress : bool or str, default=False
        Show progress over the fits on stderr: a tqdm bar on a terminal, otherwise (a
        redirected log) one line per fit with its time and the estimated time left
        (:class:`~sklearn_ssl.utils.WorkProgress`). A string names the run in both.
    verbose : int, default=0
        Print one line per fit.

    Returns
    -------
    results : pandas.DataFrame
        Tidy table with columns ``estimator``, ``n_labels``, ``repeat``, ``metric``,
        ``score`` and ``fit_time`` (seconds); one row per estimator, budget, repeat and
        metric. ``results.attrs["test_index"]`` holds the held-out sample indices,
        ``results.attrs["selection"]`` the selection and ``results.attrs["subsets"]`` a dict
        ``(n_labels, repeat) -> sample indices`` of the labels each fit saw.

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
    features = _selection_features(selection, selection_features, X)
    rng = check_random_state(random_state)
    train_idx, test_idx = held_out_split(y, test_size, classification, rng)
    too_big = [n for n in budgets if n > len(train_idx)]
    if too_big:
        raise ValueError(f"n_labels {too_big} exceed the {len(train_idx)} samples of the training split.")
    take = (lambda a, i: a.iloc[i]) if hasattr(X, "iloc") else (lambda a, i: a[i])
    X_test, y_test = take(X, test_idx), y[test_idx]
    scoring = _scoring(scoring)
    scorers = {name: {m: check_scoring(est, scoring=spec) for m, spec in scoring.items()}  # bad names fail here
               for name, est in estimators.items()}
    seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    rows, predictions, subsets, tasks = [], {}, {}, []
    for r in range(n_repeats):
        for b, n in enumerate(budgets):
            sub_rng = np.random.RandomState(seeds[r, b])
            if selection == "random":
                sub = train_idx[_subset(y[train_idx], n, classification, sub_rng)]
            else:
                sub = train_idx[select_labels(features[train_idx], n, strategy=selection, y=y[train_idx],
                                              classification=classification, strategy_params=selection_params,
                                              random_state=sub_rng)]
            subsets[n, r] = sub
            tasks += [(name, n, r, sub) for name in estimators]
    bar = WorkProgress(len(tasks), progress if isinstance(progress, str) else "label budgets", enabled=bool(progress))
    fits = fit_in_parallel(((estimators[name], take(X, sub), y[sub], {"test": (X_test, y_test)}, scorers[name],
                             keep_predictions) for name, n, r, sub in tasks), n_jobs)
    for (name, n, r, _), (scores, fit_time, prediction, _) in zip(tasks, fits):
        scores = scores["test"]
        rows += [{"estimator": name, "n_labels": n, "repeat": r, "metric": metric, "score": value,
                  "fit_time": fit_time} for metric, value in scores.items()]
        if keep_predictions:
            predictions[name, n, r] = prediction
        bar.update(f"{name}, {n} labels, repeat {r + 1}/{n_repeats}", fit_time)
        if verbose:
            print(f"[label_efficiency] {name} n_labels={n} repeat={r}: "
                  + ", ".join(f"{m}={v:.4g}" for m, v in scores.items()))
    bar.close()
    out = pd.DataFrame(rows, columns=["estimator", "n_labels", "repeat", "metric", "score", "fit_time"])
    out.attrs["test_index"] = test_idx
    out.attrs["task"] = task
    out.attrs["selection"] = selection
    out.attrs["subsets"] = subsets
    if keep_predictions:
        out.attrs["predictions"] = predictions
    return out


def _fit_and_score(estimator, X_train, y_train, tests, scorers, keep_predictions=False, describe=None,
                   one_thread=False):
    """Fit a clone on one subset and score it on each test set.

    ``tests`` maps a name to ``(X, y)``, or to ``(X, y, pick)`` where ``pick(model)`` is the
    model scored on that set (e.g. the unadapted source model of a
    :class:`~sklearn_ssl.estimators.BatchNormAdapter`); returns ``({test: {metric: score}}, fit
    time, the predictions on the first test set or None, describe(model) or None)``. ``one_thread``:
    torch uses one thread (a worker of a parallel study), so that every fit computes the
    same whatever the number of workers.
    """
    import torch

    threads = torch.get_num_threads()
    if one_thread:
        torch.set_num_threads(1)
    try:
        model = clone(estimator)
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time = time.perf_counter() - t0
        scores = {}
        for test, (X, y, *pick) in tests.items():
            scored = pick[0](model) if pick else model
            scores[test] = {metric: float(scorer(scored, X, y)) for metric, scorer in scorers.items()}
        prediction = np.asarray(model.predict(next(iter(tests.values()))[0])) if keep_predictions else None
        info = describe(model) if describe is not None else None
    finally:
        torch.set_num_threads(threads)
    return scores, fit_time, prediction, info


def fit_in_parallel(tasks, n_jobs):
    """``_fit_and_score(*task)`` for each task, in joblib processes with ``n_jobs`` (in order, lazily)."""
    one_thread = effective_n_jobs(n_jobs) > 1
    return Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_and_score)(*task, one_thread=one_thread) for task in tasks)


def _selection_features(selection, selection_features, X):
    """The 2-D features a query strategy sees (None for ``"random"``), checked against ``X``."""
    if not isinstance(selection, str) or selection not in SELECTION_STRATEGIES:
        raise ValueError(f"selection must be one of {list(SELECTION_STRATEGIES)}, got {selection!r}.")
    if selection == "random":
        return None
    if selection_features is None:
        if getattr(X, "ndim", 2) != 2:
            raise ValueError(f"selection={selection!r} needs 2-D features, but X has shape {X.shape}; pass "
                             "selection_features, e.g. embedder.transform(X).")
        selection_features = X
    features = np.asarray(selection_features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(X):
        raise ValueError(f"selection_features must have shape (n_samples, n_features) with n_samples={len(X)}, "
                         f"got {features.shape}.")
    return features


# -- the downstream study on the synthetic survey (used by benchmarks/ and the CLI) ------------
def asinh_flatten(X):
    return np.arcsinh(np.asarray(X, dtype=np.float32) / 0.1).reshape(len(X), -1)


def summarize_label_efficiency(results) -> pd.DataFrame:
    """Mean, standard deviation and standard error of the mean over repeats.

    One row per metric, estimator and budget: ``mean``, ``std`` (ddof=1), ``sem``
    (``std / sqrt(n_repeats)``) and ``n_repeats``.
    """
    out = (results.groupby(["metric", "estimator", "n_labels"], sort=False)["score"]
           .agg(mean="mean", std="std", n_repeats="count").reset_index())
    out.insert(out.columns.get_loc("std") + 1, "sem", out["std"] / np.sqrt(out["n_repeats"]))
    return out
