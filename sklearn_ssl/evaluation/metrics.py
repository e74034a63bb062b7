"""Photometric-redshift metrics and scorers.

All metrics work on the normalised residual ``dz = (z_pred - z_true) / (1 + z_true)``:

- ``photoz_bias`` = mean(dz)
- ``sigma_mad`` = ``astropy.stats.mad_std(dz)``, the median absolute deviation scaled to a
  Gaussian's standard deviation: 1/Phi^-1(3/4) (about 1.4826) * median(|dz - median(dz)|)
- ``outlier_fraction`` = fraction of objects with |dz| > ``threshold`` (0.05 for SDSS-like
  low-z samples; 0.15 is the usual convention for deep, high-z surveys)

Arguments follow scikit-learn's order ``(y_true, y_pred)``.

Scorers
-------
:func:`photoz_scorer` is the one factory of photo-z scorers, with scikit-learn's sign
convention: greater is better, so an error is returned negated and named ``neg_...``, as
``"neg_mean_squared_error"`` is (:func:`sklearn.metrics.make_scorer` with
``greater_is_better=False``). ``"bias"`` (the signed mean dz) is not an error to minimise and
is returned as it is. scikit-learn has no public way to register new scorer *names*
globally, and this package does not patch its private registry; :func:`get_scorer` gives
the photo-z scorers by name and every other name to :func:`sklearn.metrics.get_scorer`, and
this package's own functions (``label_efficiency(scoring="neg_sigma_mad")``) use it:

>>> from sklearn_ssl.evaluation.metrics import photoz_scorer
>>> scorer = photoz_scorer("neg_sigma_mad")      # pass to cross_val_score / GridSearchCV

To tabulate the error itself, negate the score (``-cross_val_score(...)``), as with
scikit-learn's ``neg_*`` scorers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.stats import mad_std
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_consistent_length

__all__ = [
    "photoz_residuals", "photoz_bias", "sigma_mad", "outlier_fraction", "photoz_report",
    "photoz_scorer", "get_scorer", "PHOTOZ_SCORERS",
]

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
    """Normalised median absolute deviation of dz, ``astropy.stats.mad_std(dz)``.

    ``median(|dz - median(dz)|) / Phi^-1(3/4)`` (about 1.4826 times the MAD): the standard
    deviation of dz for a Gaussian, insensitive to catastrophic outliers.
    """
    return float(mad_std(photoz_residuals(y_true, y_pred)))


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
        "sigma_mad": [float(mad_std(dz))],
        "outlier_fraction": [float(np.mean(np.abs(dz) > threshold))],
        "rmse": [float(np.sqrt(np.mean(dz**2)))],
    })


def _abs_bias(y_true, y_pred) -> float:
    return abs(photoz_bias(y_true, y_pred))


#: Errors (lower is better): scored negated, under ``"neg_<name>"``.
_ERRORS = {"sigma_mad": sigma_mad, "outlier_fraction": outlier_fraction, "abs_bias": _abs_bias}

#: Photo-z scorer names understood by :func:`photoz_scorer` and :func:`get_scorer`: the
#: negated errors and the signed bias. The errors' names without ``"neg_"`` are accepted too
#: and give the same (negated) scorers.
PHOTOZ_SCORERS = ("neg_sigma_mad", "neg_outlier_fraction", "neg_abs_bias", "bias")


def photoz_scorer(name: str, **kwargs):
    """A scikit-learn scorer for a photo-z metric, greater is better (scikit-learn's convention).

    Parameters
    ----------
    name : {"neg_sigma_mad", "neg_outlier_fraction", "neg_abs_bias", "bias"}
        An error, negated (``"neg_abs_bias"`` is ``-|mean(dz)|``), or the signed bias
        ``mean(dz)`` returned as it is (for reports; not a quantity to maximise). An error's
        name without ``"neg_"`` (``"sigma_mad"``) gives the same negated scorer.
    **kwargs
        Passed to the metric, e.g. ``threshold=0.15`` for ``"neg_outlier_fraction"``.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``
        Made with :func:`sklearn.metrics.make_scorer`; for an error with
        ``greater_is_better=False``, so it returns ``-error`` and ``GridSearchCV`` picks the
        smallest error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> z = np.array([0.1, 0.2, 0.3, 0.4])
    >>> model = DummyRegressor(strategy="constant", constant=0.2).fit(z[:, None], z)
    >>> round(photoz_scorer("neg_outlier_fraction")(model, z[:, None], z), 2)  # 3 of 4 with |dz| > 0.05
    -0.75
    """
    if name == "bias":
        return make_scorer(photoz_bias, **kwargs)
    key = name[4:] if name.startswith("neg_") else name
    if key not in _ERRORS:
        raise ValueError(f"Unknown photo-z scorer {name!r}; use one of {list(PHOTOZ_SCORERS)}.")
    return make_scorer(_ERRORS[key], greater_is_better=False, **kwargs)


def _is_photoz_name(name: str) -> bool:
    return name == "bias" or (name[4:] if name.startswith("neg_") else name) in _ERRORS


def get_scorer(scoring):
    """Resolve ``scoring`` (a name, a scorer or None) to a scorer callable.

    Photo-z names (:data:`PHOTOZ_SCORERS`) give :func:`photoz_scorer`; other names go to
    :func:`sklearn.metrics.get_scorer`; callables are returned unchanged; None returns None
    (the estimator's ``score``, as :func:`sklearn.metrics.check_scoring` does).
    """
    if scoring is None or callable(scoring):
        return scoring
    if _is_photoz_name(scoring):
        return photoz_scorer(scoring)
    return _sklearn_get_scorer(scoring)
