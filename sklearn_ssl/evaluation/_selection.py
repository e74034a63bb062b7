"""Choosing which galaxies to label: scikit-activeml's query strategies on embeddings.

In the few-label regime, labelling typical and diverse examples (TypiClust, Hacohen et al.
2022; ProbCover, Yehuda et al. 2022) can beat labelling a random subset. :func:`select_labels`
asks one of scikit-activeml's strategies (the optional extra ``select``) for exactly
``budget`` galaxies of a pool, from their embeddings;
:func:`sklearn_ssl.evaluation.label_efficiency` takes the same names as ``selection=``.

Protocol, the same for every strategy (and the one :func:`label_efficiency` uses for
``"random"``): for classification, a random seed of one galaxy per class is labelled first
(a classifier cannot be fitted on fewer classes); then

- ``"typiclust"``, ``"probcover"``, ``"coreset"`` query the remaining ``budget - n_classes``
  labels in **one batch**, given the seed as labelled;
- ``"uncertainty"`` queries them **one at a time** (least-confident sampling), refitting a
  logistic regression on the selection features after every label.

Features are L2-normalised rows before any strategy sees them (the cosine geometry of
:class:`~sklearn_ssl.SimilaritySearch`; ProbCover's ball radii, 0.05 to 2, are distances
between unit vectors).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["SELECTION_STRATEGIES", "select_labels"]

#: The names :func:`select_labels` and ``label_efficiency(selection=...)`` take.
SELECTION_STRATEGIES = ("random", "typiclust", "probcover", "coreset", "uncertainty")

#: ProbCover holds the pool's full distance matrix: 8 bytes per pair.
_PROBCOVER_MAX_POOL = 20_000


def _skactiveml():
    try:
        import skactiveml.pool  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed where the tests run
        raise ImportError("label selection strategies other than 'random' need scikit-activeml: "
                          "pip install 'sklearn-ssl[select]' (or pip install scikit-activeml).") from exc
    return skactiveml.pool


def _check_strategy(strategy) -> str:
    if not isinstance(strategy, str) or strategy not in SELECTION_STRATEGIES:
        raise ValueError(f"selection must be one of {list(SELECTION_STRATEGIES)}, got {strategy!r}.")
    return strategy


def _seed(y, classification: bool, rng) -> np.ndarray:
    """One random position per class (none for regression): the labels every strategy starts from."""
    if not classification:
        return np.empty(0, dtype=int)
    return np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)], dtype=int)


def select_labels(features, budget: int, *, strategy: str = "typiclust", y=None, classification: bool = True,
                  strategy_params=None, random_state=None) -> np.ndarray:
    """Positions of the ``budget`` pool members a query strategy asks to label.

    Parameters
    ----------
    features : array-like of shape (n_pool, n_features)
        Embeddings (or any features) of the pool, the galaxies that may be labelled; never
        include held-out test galaxies.
    budget : int
        Labels to choose, at most ``n_pool``.
    strategy : {"random", "typiclust", "probcover", "coreset", "uncertainty"}, default="typiclust"
        ``"random"`` draws uniformly (after the seed); the others are scikit-activeml's
        :class:`~skactiveml.pool.TypiClust`, :class:`~skactiveml.pool.ProbCover`,
        :class:`~skactiveml.pool.CoreSet` (batch queries) and
        :class:`~skactiveml.pool.UncertaintySampling` (least confident, iterative, with a
        logistic regression refitted after each label).
    y : array-like of shape (n_pool,) or None
        The pool's labels: the oracle. Only the labels of the seed and of the galaxies already
        queried are read (by the seed and by uncertainty sampling), never the others'. Needed
        for classification and for ``"uncertainty"``.
    classification : bool, default=True
        Classification starts from a random seed of one galaxy per class (see the module);
        regression has no seed, and ``"uncertainty"`` is not defined for it.
    strategy_params : dict or None, default=None
        Parameters of the scikit-activeml strategy, replacing this function's defaults:
        TypiClust ``k=5``, ``cluster_algo_dict={"n_init": 1}``; ProbCover
        ``n_classes`` (default: the classes of ``y``, 2 for regression; ProbCover picks its
        ball radius as the largest of ``deltas`` (default 0.05 to 2 in steps of 0.05) whose
        balls stay pure for a K-means with that many clusters, so pass the number of kinds of
        galaxy you expect where it exceeds the classes), ``alpha=0.95``; CoreSet
        ``metric="euclidean"``; uncertainty sampling ``method="least_confident"``.
    random_state : int, RandomState instance or None

    Returns
    -------
    positions : ndarray of shape (budget,)
        Sorted distinct positions into ``features``.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(200, 8))
    >>> y = np.arange(200) % 2
    >>> select_labels(Z, 10, strategy="typiclust", y=y, random_state=0).shape
    (10,)
    """
    strategy = _check_strategy(strategy)
    Z = np.asarray(features, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"features must be 2-D (n_pool, n_features), got shape {Z.shape}; pass embeddings, "
                         "e.g. embedder.transform(images).")
    if not np.isfinite(Z).all():
        raise ValueError("features contain NaN or infinite values; impute or drop those galaxies first.")
    n = len(Z)
    if not 1 <= int(budget) <= n:
        raise ValueError(f"budget must be between 1 and the pool size {n}, got {budget}.")
    budget = int(budget)
    if (classification or strategy == "uncertainty") and y is None:
        raise ValueError("y (the pool's labels, read only where queried) is needed for classification and "
                         "for 'uncertainty'.")
    if strategy == "uncertainty" and not classification:
        raise ValueError("selection='uncertainty' needs class probabilities; use it for classification, or "
                         "'typiclust', 'probcover' or 'coreset' for regression.")
    if strategy == "probcover" and n > _PROBCOVER_MAX_POOL:
        raise ValueError(f"selection='probcover' holds the pool's {n} x {n} distance matrix "
                         f"({8 * n * n / 2**30:.1f} GiB); use a pool of at most {_PROBCOVER_MAX_POOL} "
                         "(a random subsample) or 'typiclust'.")
    y = None if y is None else np.asarray(y)
    if y is not None and len(y) != n:
        raise ValueError(f"features and y have different numbers of samples: {n} and {len(y)}.")
    rng = check_random_state(random_state)
    seed = _seed(y, classification, rng)
    if budget < len(seed):
        raise ValueError(f"budget={budget} is smaller than the number of classes ({len(seed)}); the labels must "
                         "contain every class.")
    k = budget - len(seed)
    if k == 0:
        return np.sort(seed)
    if strategy == "random":
        rest = np.setdiff1d(np.arange(n), seed)
        return np.sort(np.concatenate([seed, rng.choice(rest, size=k, replace=False)]))
    Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    pool = _skactiveml()
    state = int(rng.randint(np.iinfo(np.int32).max))
    if classification:
        classes, codes = np.unique(y, return_inverse=True)
    labelled = np.full(n, np.nan)  # scikit-activeml's missing label
    if len(seed):
        labelled[seed] = codes[seed]
    params = dict(strategy_params or {})
    if strategy == "uncertainty":
        chosen = _uncertainty(pool, Z, labelled, codes, len(classes), k, state, params)
    else:
        if strategy == "typiclust":
            qs = pool.TypiClust(**{"cluster_algo_dict": {"n_init": 1}, **params, "random_state": state})
        elif strategy == "coreset":
            qs = pool.CoreSet(**{**params, "random_state": state})
        else:
            qs = pool.ProbCover(**{"n_classes": len(classes) if classification else None,
                                   "deltas": np.round(np.arange(0.05, 2.001, 0.05), 2),
                                   "cluster_algo_dict": {"n_init": 1}, **params, "random_state": state})
        with warnings.catch_warnings():  # ProbCover's purity warning; KMeans' memory-leak note on Windows
            warnings.simplefilter("ignore", UserWarning)
            chosen = np.asarray(qs.query(Z, labelled, batch_size=k), dtype=int)
    out = np.concatenate([seed, chosen])
    if len(np.unique(out)) != budget:  # a strategy must not ask for a labelled galaxy twice
        raise RuntimeError(f"selection={strategy!r} returned {len(np.unique(out))} distinct galaxies for a budget "
                           f"of {budget}.")
    return np.sort(out)


def _uncertainty(pool, Z, labelled, codes, n_classes, k, state, params) -> np.ndarray:
    """Least-confident sampling, one label at a time, a logistic regression refitted after each."""
    from sklearn.linear_model import LogisticRegression
    from skactiveml.classifier import SklearnClassifier

    clf = SklearnClassifier(LogisticRegression(max_iter=1000), classes=np.arange(n_classes), random_state=state)
    qs = pool.UncertaintySampling(**{"method": "least_confident", **params, "random_state": state})
    chosen = []
    for _ in range(k):
        i = int(qs.query(Z, labelled, clf, batch_size=1)[0])
        labelled[i] = codes[i]  # the oracle answers
        chosen.append(i)
    return np.asarray(chosen, dtype=int)
