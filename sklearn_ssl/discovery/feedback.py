"""Anomaly ranking with a person's feedback (the idea of Astronomaly, Lochner & Bassett 2021).

An unsupervised anomaly score ranks first whatever is unlike the rest: strong lenses, but also
artefacts, blends and odd but dull galaxies. Astronomaly lets a person mark a few top-ranked
objects "interesting" or "boring" and re-ranks the survey so that look-alikes of the
interesting ones rise and look-alikes of the boring ones sink. :func:`rerank` does this on
embeddings; it is not Astronomaly's formula (which fits a random-forest regressor to the
user's 0-5 scores) but the same idea with a kernel vote that needs no model fit:

- ``abnormality``: each object's rank by ``scores`` as a fraction in [0, 1] (1 = most
  abnormal; scikit-learn's outlier convention, lower ``scores`` = more abnormal);
- ``relevance`` in (-1, 1): a Gaussian-kernel vote of the labelled examples by cosine
  distance, ``(sum_interesting k - sum_boring k) / (sum_labelled k + prior)``, with a
  bandwidth of the median distance of the objects to their ``n_neighbors``-th neighbour;
  ``prior`` (a pseudo-example of relevance 0) keeps objects far from every labelled one
  near 0;
- the new score is ``-(abnormality + weight * relevance)``: lower = show first, as before.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["rerank"]


def _positions(labels, ids, n: int, what: str) -> np.ndarray:
    """Positions of the marked objects: ``labels`` are positions, or ids looked up in ``ids``."""
    labels = list(labels) if labels is not None else []
    if ids is None:
        pos = np.asarray(labels, dtype=float).astype(int) if labels else np.empty(0, dtype=int)
        if not np.array_equal(pos, np.asarray(labels, dtype=float)) or (pos < 0).any() or (pos >= n).any():
            raise ValueError(f"{what} must be positions 0..{n - 1} when ids is not given, got {labels[:5]}.")
        return pos
    lookup = {v: i for i, v in enumerate(np.asarray(ids).tolist())}
    missing = [v for v in np.asarray(labels).tolist() if v not in lookup]
    if missing:
        raise ValueError(f"{what} holds ids that are not in ids: {missing[:5]}; pass ids of the scored objects.")
    return np.array([lookup[v] for v in np.asarray(labels).tolist()], dtype=int)


def rerank(scores, embeddings, interesting=(), boring=(), *, ids=None, weight: float = 1.0, n_neighbors: int = 10,
           prior: float = 0.1) -> np.ndarray:
    """Anomaly scores re-ranked by "interesting" and "boring" labels of a few objects.

    Parameters
    ----------
    scores : array-like of shape (n_objects,)
        Anomaly scores, lower = more abnormal (e.g. :meth:`SimilaritySearch.score_samples
        <sklearn_ssl.SimilaritySearch.score_samples>`).
    embeddings : array-like of shape (n_objects, n_features)
        The objects' embeddings; look-alikes are judged by cosine distance in them.
    interesting, boring : sequence
        Objects a person marked: positions into ``scores``, or object ids when ``ids`` is
        given. An object may not be in both.
    ids : array-like of shape (n_objects,) or None
        Object ids of the rows (e.g. the catalogue's ``id``).
    weight : float, default=1.0
        How far feedback can move an object: the relevance (-1 to 1) is added to an
        abnormality rank between 0 and 1, so at 1 a close look-alike of an interesting
        object (relevance near 1) moves ahead of almost every object without feedback.
    n_neighbors : int, default=10
        The kernel's bandwidth is the median cosine distance to the ``n_neighbors``-th
        nearest object.
    prior : float, default=0.1
        Weight of the pseudo-example of relevance 0 (see the module): an object as close to
        one interesting example as that example itself gets relevance ``1 / (1 + prior)``.

    Returns
    -------
    new_scores : ndarray of shape (n_objects,)
        Lower = show first; ``np.argsort(new_scores)`` is the new order. Without feedback the
        order of ``scores`` is kept.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.r_[np.tile([1.0, 0.0], (5, 1)), np.tile([0.0, 1.0], (5, 1))]
    >>> Z = Z + np.random.default_rng(0).normal(scale=0.05, size=Z.shape)
    >>> scores = -np.r_[np.zeros(5), np.ones(5)]    # the second group looks more abnormal
    >>> new = rerank(scores, Z, interesting=[0], boring=[9], n_neighbors=3)
    >>> sorted(np.argsort(new)[:5].tolist())        # the first group's look-alikes now lead
    [0, 1, 2, 3, 4]
    """
    from sklearn.neighbors import NearestNeighbors

    s = np.asarray(scores, dtype=float).ravel()
    Z = np.asarray(embeddings, dtype=float)
    n = len(s)
    if Z.ndim != 2 or len(Z) != n:
        raise ValueError(f"embeddings must have shape (n_objects, n_features) with n_objects={n} "
                         f"(one row per score), got {Z.shape}.")
    if not (np.isfinite(s).all() and np.isfinite(Z).all()):
        raise ValueError("scores and embeddings must be finite.")
    if not (np.isfinite(weight) and weight >= 0 and prior > 0 and int(n_neighbors) >= 1):
        raise ValueError(f"need weight >= 0, prior > 0 and n_neighbors >= 1, got {weight}, {prior}, {n_neighbors}.")
    if ids is not None and len(ids) != n:
        raise ValueError(f"ids has {len(ids)} entries for {n} scores.")
    good, bad = _positions(interesting, ids, n, "interesting"), _positions(boring, ids, n, "boring")
    both = np.intersect1d(good, bad)
    if both.size:
        raise ValueError(f"objects at positions {both.tolist()[:5]} are both interesting and boring; keep one label.")
    abnormality = (rankdata(-s) - 1) / max(n - 1, 1)  # 1 = most abnormal
    if good.size + bad.size == 0:
        return -abnormality
    U = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    k = min(int(n_neighbors), n - 1)
    if k >= 1:
        dist, _ = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(U).kneighbors(U)
        bandwidth = max(float(np.median(dist[:, k])), 1e-6)
    else:
        bandwidth = 1.0
    labelled = np.concatenate([good, bad])
    sign = np.r_[np.ones(len(good)), -np.ones(len(bad))]
    d = np.clip(1.0 - U @ U[labelled].T, 0.0, 2.0)  # cosine distances, (n, n_labelled)
    kern = np.exp(-0.5 * (d / bandwidth) ** 2)
    relevance = (kern @ sign) / (kern.sum(axis=1) + prior)
    return -(abnormality + weight * relevance)
