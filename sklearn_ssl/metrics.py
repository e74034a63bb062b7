"""Photometric-redshift metrics and scorers.

All metrics work on the normalised residual ``dz = (z_pred - z_true) / (1 + z_true)``:

- ``photoz_bias`` = mean(dz)
- ``sigma_mad`` = 1.4826 * median(|dz - median(dz)|)  (equals ``astropy.stats.mad_std(dz)``)
- ``outlier_fraction`` = fraction of objects with |dz| > ``threshold`` (0.05 for SDSS-like
  low-z samples; 0.15 is the usual convention for deep, high-z surveys)

Arguments follow scikit-learn's order ``(y_true, y_pred)``.

Scorers
-------
scikit-learn has no public way to register new scorer *names* globally, and this package
does not patch its private registry. Instead it offers ready-made scorer objects, built
with :func:`sklearn.metrics.make_scorer` and ``greater_is_better=False`` (so that
model selection, which maximises, minimises the error):

>>> from sklearn_ssl.metrics import photoz_scorer
>>> scorer = photoz_scorer("sigma_mad")          # pass to cross_val_score / GridSearchCV

"By name" works in this package's own functions (``label_efficiency(scoring="sigma_mad")``)
through :func:`get_scorer`, which knows the photo-z names of :data:`PHOTOZ_SCORERS` and
falls back to :func:`sklearn.metrics.get_scorer` for every other name ("accuracy", "r2", ...).
As with scikit-learn's ``neg_*`` scorers, the scorer's value is the *negated* metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_consistent_length

__all__ = [
    "photoz_residuals", "photoz_bias", "sigma_mad", "outlier_fraction", "photoz_report",
    "photoz_scorer", "get_scorer", "PHOTOZ_SCORERS",
]

_MAD_TO_SIGMA = 1.4826


def photoz_residuals(y_true, y_pred) -> np.ndarray:
    """Normalised redshift residuals ``dz = (z_pred - z_true) / (1 + z_true)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Spectroscopic (true) redshifts, all > -1.
    y_pred : array-like of shape (n_samples,)
        Photometric (predicted) redshifts.

    Returns
    -------
    dz : ndarray of shape (n_samples,)
    """
    z_true = np.asarray(y_true, dtype=np.float64).ravel()
    z_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    check_consistent_length(z_true, z_pred)
    if z_true.size == 0:
        raise ValueError("photo-z metrics need at least one object; got empty arrays.")
    if not (np.isfinite(z_true).all() and np.isfinite(z_pred).all()):
        raise ValueError("photo-z metrics got NaN or infinite redshifts.")
    if np.any(z_true <= -1):
        raise ValueError("true redshifts must be > -1 (dz divides by 1 + z_true).")
    return (z_pred - z_true) / (1.0 + z_true)


def photoz_bias(y_true, y_pred) -> float:
    """Mean normalised residual, ``mean((z_pred - z_true) / (1 + z_true))``."""
    return float(np.mean(photoz_residuals(y_true, y_pred)))


def sigma_mad(y_true, y_pred) -> float:
    """Normalised median absolute deviation, ``1.4826 * median(|dz - median(dz)|)``.

    Identical to ``astropy.stats.mad_std(dz)``: the standard deviation of dz for a
    Gaussian, insensitive to catastrophic outliers.
    """
    dz = photoz_residuals(y_true, y_pred)
    return float(_MAD_TO_SIGMA * np.median(np.abs(dz - np.median(dz))))


def outlier_fraction(y_true, y_pred, threshold: float = 0.05) -> float:
    """Fraction of objects with ``|dz| > threshold`` (catastrophic outliers).

    Parameters
    ----------
    threshold : float, default=0.05
        0.05 for SDSS-like samples (Pasquet et al. 2019; Hayat et al. 2021); 0.15 is the
        convention for deep, high-redshift surveys.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}.")
    return float(np.mean(np.abs(photoz_residuals(y_true, y_pred)) > threshold))


def photoz_report(y_true, y_pred, threshold: float = 0.05) -> pd.DataFrame:
    """One-row summary: ``n``, ``bias``, ``sigma_mad``, ``outlier_fraction``, ``rmse``.

    ``rmse`` is the root mean square of dz (sensitive to outliers, unlike sigma_mad).
    """
    dz = photoz_residuals(y_true, y_pred)
    return pd.DataFrame({
        "n": [dz.size],
        "bias": [float(dz.mean())],
        "sigma_mad": [float(_MAD_TO_SIGMA * np.median(np.abs(dz - np.median(dz))))],
        "outlier_fraction": [float(np.mean(np.abs(dz) > threshold))],
        "rmse": [float(np.sqrt(np.mean(dz**2)))],
    })


def _abs_bias(y_true, y_pred) -> float:
    return abs(photoz_bias(y_true, y_pred))


_METRICS = {"sigma_mad": sigma_mad, "outlier_fraction": outlier_fraction, "abs_bias": _abs_bias}

#: Photo-z scorer names understood by :func:`photoz_scorer` and :func:`get_scorer`.
#: Each is an error (lower is better); the scorer returns its negation.
PHOTOZ_SCORERS = ("sigma_mad", "outlier_fraction", "abs_bias")


def photoz_scorer(name: str, **kwargs):
    """A scikit-learn scorer for a photo-z metric, with the sign model selection needs.

    Parameters
    ----------
    name : {"sigma_mad", "outlier_fraction", "abs_bias"}
        The metric; ``"abs_bias"`` is ``|mean(dz)|`` (the signed bias is not an error to
        minimise). A ``"neg_"`` prefix is accepted and ignored.
    **kwargs
        Passed to the metric, e.g. ``threshold=0.15`` for ``"outlier_fraction"``.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``
        Made with ``make_scorer(metric, greater_is_better=False)``: it returns
        ``-metric``, so ``GridSearchCV`` picks the smallest error.
    """
    key = name[4:] if name.startswith("neg_") else name
    if key not in _METRICS:
        raise ValueError(f"Unknown photo-z scorer {name!r}; use one of {list(PHOTOZ_SCORERS)}.")
    return make_scorer(_METRICS[key], greater_is_better=False, **kwargs)


def get_scorer(scoring):
    """Resolve ``scoring`` (a name, a scorer or None) to a scorer callable.

    Photo-z names (:data:`PHOTOZ_SCORERS`, optionally ``"neg_"``-prefixed) give
    :func:`photoz_scorer`; other names go to :func:`sklearn.metrics.get_scorer`;
    callables are returned unchanged; None returns None (the estimator's ``score``).
    """
    if scoring is None or callable(scoring):
        return scoring
    key = scoring[4:] if scoring.startswith("neg_") else scoring
    if key in _METRICS:
        return photoz_scorer(key)
    return _sklearn_get_scorer(scoring)
