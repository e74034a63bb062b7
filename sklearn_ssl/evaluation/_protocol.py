"""The label-efficiency protocol and similarity search.

This module holds the protocol (:func:`label_efficiency`, :func:`summarize_label_efficiency`)
and :class:`SimilaritySearch`; the studies built on them have modules of their own in this
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

import numbers
import sys
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .metrics import get_scorer

__all__ = ["label_efficiency", "summarize_label_efficiency", "SimilaritySearch", "held_out_split", "asinh_flatten"]


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
        photo-z names of :data:`sklearn_ssl.evaluation.metrics.PHOTOZ_SCORERS` (greater is better:
        errors negated); a dict maps a metric name to a name or a callable
        ``scorer(estimator, X, y)``. Each is checked by :func:`sklearn.metrics.check_scoring`
        before the first fit.
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
                for metric, scorer in scorers[name].items():
                    value = scorer(model, X_test, y_test)
                    rows.append({"estimator": name, "n_labels": n, "repeat": r, "metric": metric,
                                 "score": float(value), "fit_time": fit_time})
                if keep_predictions:
                    predictions[name, n, r] = np.asarray(model.predict(X_test))
                bar.update(1)
                if verbose:
                    print(f"[label_efficiency] {name} n_labels={n} repeat={r}: "
                          + ", ".join(f"{m}={row['score']:.4g}" for m, row in zip(scoring, rows[-len(scoring):])))
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
