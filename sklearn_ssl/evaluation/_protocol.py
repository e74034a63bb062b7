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

import json
import numbers
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
from ._tuning import bootstrap_scores, tuned
from ..utils import WorkProgress
from .metrics import get_scorer

__all__ = ["label_efficiency", "summarize_label_efficiency", "held_out_split", "asinh_flatten", "with_seed"]


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
                     selection="random", selection_features=None, selection_params=None, param_grids=None,
                     inner_cv=3, seed_per_repeat=False, test_index=None, test_bootstrap=0, random_state=None,
                     keep_predictions=False, n_jobs=None, progress=False, verbose=0):
    """Score estimators trained on increasing numbers of labels, on a fixed held-out split.

    Parameters
    ----------
    estimators : dict of str -> estimator or list of estimators
        Estimators or Pipelines, cloned before every fit. Use
        ``make_pipeline(FrozenEstimator(fitted_embedder), model)`` to pretrain once on all
        images and only fit ``model`` at each budget. A list (e.g. probes on embedders
        pretrained with different seeds) gives repeat ``r`` its ``r % len(list)``-th entry,
        so that the repeats also vary the pretraining.
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
    param_grids : dict of str -> dict or list of dicts, or None, default=None
        Tune these rows: each named row becomes a :class:`~sklearn.model_selection.GridSearchCV`
        over its grid (:func:`~sklearn_ssl.evaluation.tuned`), cross-validated inside the
        budget's own labels (:class:`~sklearn_ssl.evaluation.BudgetCV`, at most ``inner_cv``
        folds) on the first metric of ``scoring`` and refitted on all of them; the held-out
        split is used once, to score the refitted model. The chosen setting of every fit is
        in the ``params`` column. Give every row grids of the same size for a fair comparison
        (the ``n_candidates`` column counts them).
    inner_cv : int, default=3
        Folds of the inner cross-validation of ``param_grids`` (fewer where the rarest class
        of a budget has fewer labels; at least 2).
    seed_per_repeat : bool, default=False
        Give every ``random_state`` parameter of each estimator (nested ones included, except
        inside a :class:`~sklearn.frozen.FrozenEstimator`) a seed drawn per repeat and
        budget, the same for every estimator of that repeat: repeats then vary the network
        initialisation and training order as well as the label subset. False keeps each
        estimator's own seeds.
    test_index : array-like of int or None, default=None
        The held-out split's sample indices; None draws it (``test_size``, stratified for
        classification). Fixing it lets a study of the same objects be re-run with other
        test labels and nothing else changed.
    test_bootstrap : int, default=0
        With a positive number, the standard error of each score due to the test set's own
        sampling: the standard deviation of the score over that many bootstrap resamples of
        the test objects (:func:`~sklearn_ssl.evaluation.bootstrap_scores`), in the
        ``se_test`` column.
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out split, the subsets, the per-repeat seeds and the inner folds: an
        integer makes all reproducible.
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
        metric. With ``param_grids`` also ``params`` (the chosen setting, as JSON; empty for
        untuned rows) and ``n_candidates``; with ``test_bootstrap`` also ``se_test``. ``results.attrs["test_index"]`` holds the held-out sample indices,
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
    estimators = {name: list(est) if isinstance(est, (list, tuple)) else [est] for name, est in estimators.items()}
    if any(not est for est in estimators.values()):
        raise ValueError("a list of estimators must not be empty.")
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}.")
    param_grids = dict(param_grids or {})
    unknown = sorted(set(param_grids) - set(estimators))
    if unknown:
        raise ValueError(f"param_grids names rows that are not among the estimators: {unknown}.")
    if not (isinstance(test_bootstrap, numbers.Integral) and test_bootstrap >= 0):
        raise ValueError(f"test_bootstrap must be a non-negative integer, got {test_bootstrap!r}.")
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
    if test_index is None:
        train_idx, test_idx = held_out_split(y, test_size, classification, rng)
    else:
        train_idx, test_idx = _given_split(test_index, len(y))
    too_big = [n for n in budgets if n > len(train_idx)]
    if too_big:
        raise ValueError(f"n_labels {too_big} exceed the {len(train_idx)} samples of the training split.")
    take = (lambda a, i: a.iloc[i]) if hasattr(X, "iloc") else (lambda a, i: a[i])
    X_test, y_test = take(X, test_idx), y[test_idx]
    scoring = _scoring(scoring)
    first = next(iter(scoring))
    scorers = {name: {m: check_scoring(est[0], scoring=spec) for m, spec in scoring.items()}  # bad names fail here
               for name, est in estimators.items()}
    seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    fit_seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    rows, predictions, subsets, tasks, chosen = [], {}, {}, [], {}
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
            for name, versions in estimators.items():
                est = versions[r % len(versions)]
                if seed_per_repeat:
                    est = with_seed(est, int(fit_seeds[r, b]))
                if name in param_grids:
                    est = tuned(est, param_grids[name], scoring=scorers[name][first], cv=inner_cv,
                                random_state=int(fit_seeds[r, b]))
                tasks.append((name, n, r, sub, est))
    bar = WorkProgress(len(tasks), progress if isinstance(progress, str) else "label budgets", enabled=bool(progress))
    boot = [(test_bootstrap, int(s)) for s in rng.randint(np.iinfo(np.int32).max, size=len(tasks))]
    fits = fit_in_parallel(((est, take(X, sub), y[sub], {"test": (X_test, y_test)}, scorers[name],
                             keep_predictions, _search_result, False, boot[i]) for i, (name, n, r, sub, est)
                            in enumerate(tasks)), n_jobs)
    for (name, n, r, _, _), (scores, fit_time, prediction, info) in zip(tasks, fits):
        se = info.pop("se_test", {}).get("test", {})
        scores = scores["test"]
        extra = {}
        if param_grids:
            extra = {"params": json.dumps(info["params"], sort_keys=True, default=str) if info["params"] else "",
                     "n_candidates": info["n_candidates"]}
            chosen[name, n, r] = info["params"]
        rows += [{"estimator": name, "n_labels": n, "repeat": r, "metric": metric, "score": value,
                  "fit_time": fit_time, **extra, **({"se_test": se[metric]} if test_bootstrap else {})}
                 for metric, value in scores.items()]
        if keep_predictions:
            predictions[name, n, r] = prediction
        bar.update(f"{name}, {n} labels, repeat {r + 1}/{n_repeats}", fit_time)
        if verbose:
            print(f"[label_efficiency] {name} n_labels={n} repeat={r}: "
                  + ", ".join(f"{m}={v:.4g}" for m, v in scores.items())
                  + (f" ({extra['params']})" if extra.get("params") else ""))
    bar.close()
    columns = ["estimator", "n_labels", "repeat", "metric", "score", "fit_time"]
    columns += ["params", "n_candidates"] if param_grids else []
    columns += ["se_test"] if test_bootstrap else []
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["test_index"] = test_idx
    out.attrs["task"] = task
    out.attrs["selection"] = selection
    out.attrs["subsets"] = subsets
    if param_grids:
        out.attrs["best_params"] = chosen
    if keep_predictions:
        out.attrs["predictions"] = predictions
    return out


def _given_split(test_index, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices from the held-out indices a caller gives."""
    test = np.unique(np.asarray(test_index))
    if test.size == 0 or test.dtype.kind not in "iu" or test.min() < 0 or test.max() >= n:
        raise ValueError(f"test_index must hold sample indices in [0, {n}), got {np.asarray(test_index)[:5]}...")
    if test.size == n:
        raise ValueError("test_index holds every sample, which leaves none to train on.")
    return np.setdiff1d(np.arange(n), test), test


def with_seed(estimator, seed: int):
    """A clone of ``estimator`` with every ``random_state`` parameter set to ``seed``.

    Nested parameters (``step__random_state``) are set too, except inside a
    :class:`~sklearn.frozen.FrozenEstimator` (whose fitted model is kept as it is).
    """
    from sklearn.frozen import FrozenEstimator

    est = clone(estimator)
    if isinstance(est, FrozenEstimator):
        return est
    params = est.get_params(deep=True)
    new = {}
    for key in params:
        if key != "random_state" and not key.endswith("__random_state"):
            continue
        parts = key.split("__")[:-1]
        frozen = any(isinstance(params.get("__".join(parts[:i + 1])), FrozenEstimator) for i in range(len(parts)))
        if not frozen:
            new[key] = seed
    return est.set_params(**new) if new else est


def _search_result(model) -> dict:
    """The chosen setting and the number of candidates of a search (empty for an untuned model)."""
    if hasattr(model, "best_params_"):
        return {"params": dict(model.best_params_), "n_candidates": len(model.cv_results_["params"])}
    return {"params": {}, "n_candidates": 1}


def _fit_and_score(estimator, X_train, y_train, tests, scorers, keep_predictions=False, describe=None,
                   one_thread=False, bootstrap=(0, None)):
    """Fit a clone on one subset and score it on each test set.

    ``tests`` maps a name to ``(X, y)``, or to ``(X, y, pick)`` where ``pick(model)`` is the
    model scored on that set (e.g. the unadapted source model of a
    :class:`~sklearn_ssl.estimators.BatchNormAdapter`); returns ``({test: {metric: score}}, fit
    time, the predictions on the first test set or None, describe(model) or None)``. ``one_thread``:
    torch uses one thread (a worker of a parallel study), so that every fit computes the
    same whatever the number of workers. ``bootstrap`` is ``(n_resamples, seed)``: with
    ``n_resamples > 0`` the info (a dict) also holds ``"se_test"``, ``{test: {metric: standard
    error over bootstrap resamples of its objects}}``.
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
        if bootstrap[0]:
            info = dict(info or {}, se_test={
                test: bootstrap_scores(pick[0](model) if pick else model, X, y, scorers, bootstrap[0], bootstrap[1])
                for test, (X, y, *pick) in tests.items()})
    finally:
        torch.set_num_threads(threads)
    return scores, fit_time, prediction, info


def fit_in_parallel(tasks, n_jobs):
    """``_fit_and_score(*task)`` for each task, in joblib processes with ``n_jobs`` (in order, lazily).

    A task is ``(estimator, X_train, y_train, tests, scorers[, keep_predictions[, describe[,
    one_thread[, bootstrap]]]])``; ``one_thread`` is set here (True with more than one worker).
    """
    one_thread = effective_n_jobs(n_jobs) > 1
    return Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_and_score)(*task[:7], one_thread=one_thread, **({"bootstrap": task[8]} if len(task) > 8 else {}))
        for task in tasks)


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
    (``std / sqrt(n_repeats)``: the spread of the repeats) and ``n_repeats``; where the
    results have ``se_test`` (``label_efficiency(test_bootstrap=...)``) also ``se_test``, its
    mean over the repeats: the standard error that the test set's own sampling adds to a
    score (every repeat is scored on the same test objects, so it does not shrink with them).
    """
    out = (results.groupby(["metric", "estimator", "n_labels"], sort=False)["score"]
           .agg(mean="mean", std="std", n_repeats="count").reset_index())
    out.insert(out.columns.get_loc("std") + 1, "sem", out["std"] / np.sqrt(out["n_repeats"]))
    if "se_test" in results:  # the test set's sampling error of one score, the same test set in every repeat
        se_test = results.groupby(["metric", "estimator", "n_labels"], sort=False)["se_test"].mean().to_numpy()
        out.insert(out.columns.get_loc("sem") + 1, "se_test", se_test)
    return out
