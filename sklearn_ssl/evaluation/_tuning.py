"""Settings chosen on training labels only, and the test set's own sampling error.

Issue 27 asks that every row of a study be tuned the same way, by a scikit-learn search
cross-validated inside the budget's own labels, with the test split used once at the end;
and that the uncertainty of a score include the test set's sampling error. This module
holds the pieces :func:`~sklearn_ssl.evaluation.label_efficiency` uses for both:

- :class:`BudgetCV`, the inner cross-validation of a label budget: stratified k-fold with as
  many folds as the rarest class allows (at least 2), plain shuffled k-fold where a class has
  a single label;
- :func:`tuned`, a :class:`~sklearn.model_selection.GridSearchCV` over a stated grid with it;
- :func:`bootstrap_scores`, the standard error of each score over bootstrap resamples of the
  test objects, from one set of predictions (the model is not asked again per resample).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, StratifiedKFold
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target

__all__ = ["BudgetCV", "tuned", "n_candidates", "bootstrap_scores"]


class BudgetCV:
    """Inner cross-validation of a small label budget.

    Stratified k-fold (shuffled) with ``min(n_splits, labels of the rarest class)`` folds
    for class labels, so that every fold holds every class where the budget allows; plain
    shuffled k-fold where the rarest class has a single label, and for continuous targets.
    Never fewer than 2 folds.

    Parameters
    ----------
    n_splits : int, default=3
        Folds at most.
    random_state : int or None, default=None
        Seeds the shuffling.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0] * 5 + [1] * 2)
    >>> BudgetCV(3, random_state=0).get_n_splits(y=y)
    2
    """

    def __init__(self, n_splits: int = 3, random_state=None):
        if not (isinstance(n_splits, numbers.Integral) and n_splits >= 2):
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}.")
        self.n_splits = n_splits
        self.random_state = random_state

    def _splitter(self, y):
        y = np.asarray(y)
        if len(y) < 2:
            raise ValueError(f"inner cross-validation needs at least 2 labels, got {len(y)}.")
        k = min(self.n_splits, len(y))
        if type_of_target(y) in ("binary", "multiclass"):
            rarest = int(np.unique(y, return_counts=True)[1].min())
            if rarest >= 2:
                return StratifiedKFold(min(k, rarest), shuffle=True, random_state=self.random_state)
        return KFold(k, shuffle=True, random_state=self.random_state)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        if y is None:
            return self.n_splits
        return self._splitter(y).get_n_splits(X, y)

    def split(self, X, y=None, groups=None):
        if y is None:
            raise ValueError("BudgetCV needs the labels y to choose its folds.")
        return self._splitter(y).split(X, y)

    def __repr__(self) -> str:
        return f"BudgetCV(n_splits={self.n_splits}, random_state={self.random_state!r})"


def n_candidates(param_grid) -> int:
    """The number of settings a grid (a dict or a list of dicts) holds."""
    return len(ParameterGrid(param_grid))


def tuned(estimator, param_grid, *, scoring=None, cv: int = 3, random_state=None) -> GridSearchCV:
    """``estimator`` tuned over ``param_grid`` by :class:`BudgetCV`, refitted on all its labels.

    Parameters
    ----------
    estimator : estimator
    param_grid : dict or list of dicts
        Parameter names as :class:`~sklearn.model_selection.GridSearchCV` takes them
        (``"logisticregression__C"`` for a step of a Pipeline).
    scoring : str, callable or None, default=None
        What the search maximises (None: the estimator's ``score``).
    cv : int, default=3
        Folds at most (:class:`BudgetCV`).
    random_state : int or None, default=None
        Seeds the folds.

    Returns
    -------
    search : GridSearchCV
        Unfitted; ``error_score="raise"`` so that a failing candidate is not silently scored NaN.
    """
    return GridSearchCV(estimator, param_grid, scoring=scoring, cv=BudgetCV(cv, random_state=random_state),
                        refit=True, error_score="raise")


class _Responses:
    """A fitted model's answers on the test objects, looked up by row number.

    Scorers call ``predict``, ``predict_proba`` or ``decision_function`` on ``X``; here ``X``
    is an array of row numbers of the test set and each method returns the stored answers
    for those rows (each computed once, on first use, from the model).
    """

    def __init__(self, model, X_test):
        model = getattr(model, "best_estimator_", model)  # a refitted search predicts as its best estimator
        self._model, self._X, self._cache = model, X_test, {}
        if hasattr(model, "classes_"):
            self.classes_ = model.classes_

    def __sklearn_tags__(self):
        return get_tags(self._model)

    def _answer(self, method, rows):
        if method not in self._cache:
            self._cache[method] = np.asarray(getattr(self._model, method)(self._X))
        return self._cache[method][np.asarray(rows).ravel()]

    @available_if(lambda self: hasattr(self._model, "predict"))
    def predict(self, rows):
        return self._answer("predict", rows)

    @available_if(lambda self: hasattr(self._model, "predict_proba"))
    def predict_proba(self, rows):
        return self._answer("predict_proba", rows)

    @available_if(lambda self: hasattr(self._model, "decision_function"))
    def decision_function(self, rows):
        return self._answer("decision_function", rows)

    def score(self, rows, y):
        """What a classifier's or regressor's default ``score`` gives (accuracy, R^2), from the stored answers."""
        from sklearn.base import is_classifier, is_regressor
        from sklearn.metrics import accuracy_score, r2_score

        if is_classifier(self._model):
            return accuracy_score(y, self.predict(rows))
        if is_regressor(self._model):
            return r2_score(y, self.predict(rows))
        raise ValueError("test_bootstrap needs a scoring for a model that is neither a classifier nor a regressor.")


def bootstrap_scores(model, X_test, y_test, scorers: dict, n_resamples: int = 200, random_state=None) -> dict:
    """Standard error of each score from the test set's own sampling: bootstrap over test objects.

    Parameters
    ----------
    model : fitted estimator
    X_test, y_test : the test set
    scorers : dict of str -> scorer
        ``scorer(estimator, X, y)`` as :func:`sklearn.metrics.check_scoring` returns them.
    n_resamples : int, default=200
        Bootstrap resamples (objects drawn with replacement, as many as the test set).
    random_state : int, RandomState or None

    Returns
    -------
    se : dict of str -> float
        The standard deviation (ddof=1) of each score over the resamples. The model predicts
        the test set once; each resample re-scores those predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.metrics import check_scoring
    >>> y = np.array([0, 1] * 50)
    >>> model = DummyClassifier(strategy="constant", constant=0).fit(np.zeros((100, 1)), y)
    >>> se = bootstrap_scores(model, np.zeros((100, 1)), y, {"accuracy": check_scoring(model, "accuracy")},
    ...                       random_state=0)
    >>> 0.03 < se["accuracy"] < 0.07     # sqrt(0.5 * 0.5 / 100) = 0.05
    True
    """
    y_test = np.asarray(y_test)
    rng = check_random_state(random_state)
    responses = _Responses(model, X_test)
    n = len(y_test)
    draws = {m: [] for m in scorers}
    for _ in range(n_resamples):
        rows = rng.randint(n, size=n)
        for metric, scorer in scorers.items():
            draws[metric].append(float(scorer(responses, rows.reshape(-1, 1), y_test[rows])))
    return {m: float(np.std(v, ddof=1)) for m, v in draws.items()}
