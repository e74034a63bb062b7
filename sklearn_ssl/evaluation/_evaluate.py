"""Cross-validated scores of embeddings for one catalogue column: the ``sklearn-ssl evaluate`` command.

:func:`evaluate_embeddings` and :func:`infer_task` are re-exported by :mod:`sklearn_ssl.evaluation`,
their public home.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import photoz_scorer

__all__ = ["evaluate_embeddings", "infer_task"]

_PHOTOZ_NAMES = ("z", "zspec", "z_spec", "specz", "spec_z", "redshift", "z_true")


def infer_task(y, name=None) -> str:
    """Guess the task for target ``y``: ``"classification"``, ``"photoz"`` or ``"regression"``.

    Non-numeric, boolean or integer targets with at most 20 distinct values are classes;
    a float column named like a redshift (``redshift``, ``z``, ``zspec``, ...) is photo-z;
    other numbers are regression.
    """
    y = pd.Series(np.asarray(y))
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= 20:
        return "classification"
    if name is not None and str(name).lower() in _PHOTOZ_NAMES:
        return "photoz"
    return "regression"


def _model(task: str, model: str, random_state):
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "auto":
        model = "logistic" if task == "classification" else "knn"
    if task == "classification":
        choices = {"logistic": lambda: LogisticRegression(max_iter=2000, random_state=random_state),
                   "knn": lambda: KNeighborsClassifier(n_neighbors=15)}
    else:
        choices = {"ridge": lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)),
                   "knn": lambda: KNeighborsRegressor(n_neighbors=15, weights="distance")}
    if model not in choices:
        raise ValueError(f"model={model!r} does not fit task {task!r}; use one of {['auto', *choices]}.")
    return model, make_pipeline(StandardScaler(), choices[model]())


def _scorers(task: str, n_classes: int, threshold: float) -> dict:
    """Metric name -> (scoring, sign) of :func:`evaluate_embeddings`: scikit-learn's scorer names and
    :func:`~sklearn_ssl.evaluation.metrics.photoz_scorer`; an error is scored negated (greater is better) and
    tabulated as the error itself (sign -1)."""
    if task == "classification":
        out = {m: (m, 1) for m in ("accuracy", "balanced_accuracy", "f1_macro")}
        out["roc_auc"] = ("roc_auc" if n_classes == 2 else "roc_auc_ovr", 1)
        return out
    out = {"r2": ("r2", 1), "rmse": ("neg_root_mean_squared_error", -1)}
    if task == "photoz":
        out.update(bias=(photoz_scorer("bias"), 1), sigma_mad=(photoz_scorer("neg_sigma_mad"), -1),
                   outlier_fraction=(photoz_scorer("neg_outlier_fraction", threshold=threshold), -1))
    return out


def evaluate_embeddings(Z, y, *, task="auto", model="auto", cv=5, threshold=0.05, name=None,
                        random_state=0, n_jobs=None) -> pd.DataFrame:
    """Cross-validate a simple model on embeddings and report standard metrics.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Embeddings (or any features).
    y : array-like of shape (n_samples,)
        Target: class labels or a number (e.g. spectroscopic redshift).
    task : {"auto", "classification", "regression", "photoz"}, default="auto"
        ``"auto"`` uses :func:`infer_task`. ``"photoz"`` is regression with the photo-z
        metrics of :mod:`sklearn_ssl.evaluation.metrics` (bias, sigma_MAD, outlier fraction) added.
    model : {"auto", "logistic", "knn", "ridge"}, default="auto"
        Standardised features then logistic regression (classification default), k
        nearest neighbours (k=15; regression default) or ridge regression.
    cv : int, default=5
        Number of (stratified, for classes) shuffled folds.
    threshold : float, default=0.05
        ``|dz|`` above which a photo-z is an outlier.
    name : str or None, default=None
        Target name, used by ``task="auto"`` and in the output.
    random_state : int, default=0
        Seeds the folds (and the logistic regression).
    n_jobs : int or None, default=None
        Folds run in parallel.

    Returns
    -------
    table : pandas.DataFrame
        One row per metric: ``mean`` and ``std`` over the folds for the model, and
        ``baseline`` for a prediction of the training prior (majority class, mean value).
        ``table.attrs`` holds ``task``, ``model``, ``n_samples``, ``cv``.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y)
    if Z.ndim != 2 or len(Z) != len(y):
        raise ValueError(f"need embeddings (n, d) and one target per row; got {Z.shape} and {y.shape}.")
    if task == "auto":
        task = infer_task(y, name)
    if task not in ("classification", "regression", "photoz"):
        raise ValueError(f"task={task!r}: use 'auto', 'classification', 'regression' or 'photoz'.")
    if task != "classification":
        try:
            y = y.astype(np.float64)
        except ValueError as exc:
            raise ValueError(f"task={task!r} needs a numeric target{f' ({name})' if name else ''}: {exc}") from exc
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2, got {cv!r}.")
    if len(y) < 2 * cv:
        raise ValueError(f"{len(y)} labelled rows are too few for {cv}-fold cross-validation.")
    model_name, estimator = _model(task, model, random_state)
    n_classes = len(np.unique(y)) if task == "classification" else 0
    if task == "classification":
        if n_classes < 2:
            raise ValueError(f"the target{f' {name!r}' if name else ''} has a single class; nothing to classify.")
        smallest = pd.Series(y).value_counts().min()
        if smallest < cv:
            raise ValueError(f"the rarest class has {smallest} member(s), fewer than cv={cv} folds; "
                             "lower --cv or drop rare classes.")
        folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
        dummy = DummyClassifier(strategy="prior")
    else:
        folds = KFold(cv, shuffle=True, random_state=random_state)
        dummy = DummyRegressor(strategy="mean")
    metrics = _scorers(task, n_classes, threshold)
    scoring = {m: spec for m, (spec, _) in metrics.items()}
    res = cross_validate(estimator, Z, y, cv=folds, scoring=scoring, n_jobs=n_jobs)
    base = cross_validate(dummy, Z, y, cv=folds, scoring=scoring)
    rows = [{"metric": m, "mean": sign * float(np.mean(res[f"test_{m}"])), "std": float(np.std(res[f"test_{m}"])),
             "baseline": sign * float(np.mean(base[f"test_{m}"]))} for m, (_, sign) in metrics.items()]
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs.update(task=task, model=model_name, n_samples=int(len(y)), cv=int(cv),
                       target=name, n_classes=n_classes)
    return table
