"""Settings chosen on training labels only, repeats that vary the seeds, and the test set's bootstrap (issue 27)."""

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl.evaluation import (
    BudgetCV, bootstrap_scores, label_efficiency, n_candidates, summarize_label_efficiency, tuned, with_seed,
)

GRID = {"logisticregression__C": [0.001, 1.0, 1000.0]}


def _data():
    return make_classification(300, n_features=8, n_informative=4, n_classes=3, random_state=0)


def _probe():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def test_budget_cv_uses_as_many_stratified_folds_as_the_rarest_class_allows():
    y = np.array([0] * 10 + [1] * 2 + [2] * 5)
    cv = BudgetCV(3, random_state=0)
    assert cv.get_n_splits(y=y) == 2
    for train, test in cv.split(np.zeros((len(y), 1)), y):
        assert set(y[train]) == set(y[test]) == {0, 1, 2}  # every fold holds every class
    single = np.array([0] * 10 + [1])  # a class with one label cannot be stratified: plain k-fold
    assert BudgetCV(3).get_n_splits(y=single) == 3
    assert BudgetCV(3).get_n_splits(y=np.linspace(0, 1, 5)) == 3  # continuous target
    assert BudgetCV(5).get_n_splits(y=np.array([0.1, 0.2])) == 2
    with pytest.raises(ValueError, match="at least 2"):
        BudgetCV(3).get_n_splits(y=np.array([1.0]))
    with pytest.raises(ValueError, match="n_splits"):
        BudgetCV(1)


def test_tuned_is_the_grid_search_a_user_would_write():
    X, y = _data()
    search = tuned(_probe(), GRID, scoring="accuracy", random_state=0).fit(X[:60], y[:60])
    by_hand = GridSearchCV(_probe(), GRID, scoring="accuracy", cv=BudgetCV(3, random_state=0)).fit(X[:60], y[:60])
    assert search.best_params_ == by_hand.best_params_
    assert n_candidates(GRID) == 3 == len(search.cv_results_["params"])
    assert n_candidates([{"a": [1, 2]}, {"b": [3]}]) == 3


def test_bootstrap_standard_error_matches_the_binomial_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    model = DummyClassifier(strategy="constant", constant=0).fit(np.zeros((400, 1)), y)
    se = bootstrap_scores(model, np.zeros((400, 1)), y, {"accuracy": check_scoring(model, "accuracy")},
                          n_resamples=400, random_state=0)
    p = np.mean(y == 0)
    assert se["accuracy"] == pytest.approx(np.sqrt(p * (1 - p) / 400), rel=0.15)


def test_bootstrap_asks_the_model_once_per_response_method():
    X, y = _data()
    calls = []

    class Counting(LogisticRegression):
        def predict_proba(self, X):
            calls.append(len(X))
            return super().predict_proba(X)

    model = Counting(max_iter=500).fit(X[:200], y[:200])
    scorers = {m: check_scoring(model, m) for m in ("neg_log_loss", "roc_auc_ovr")}
    se = bootstrap_scores(model, X[200:], y[200:], scorers, n_resamples=30, random_state=0)
    assert calls == [100] and all(0 < v < 0.2 for v in se.values())


def test_shuffled_test_labels_leave_every_chosen_setting_unchanged():
    """The test split is used once, at the end: what each row chose cannot depend on its labels."""
    X, y = _data()
    rows = {"logistic": _probe(), "dummy": DummyClassifier(strategy="most_frequent")}
    test = np.arange(0, 300, 3)
    kw = dict(n_repeats=3, param_grids={"logistic": GRID}, seed_per_repeat=True, test_index=test, random_state=0,
              scoring="accuracy")
    res = label_efficiency(rows, X, y, [15, 60], **kw)
    shuffled = y.copy()
    shuffled[test] = np.random.default_rng(1).integers(0, 3, test.size)
    res_shuffled = label_efficiency(rows, X, shuffled, [15, 60], **kw)
    assert res["params"].tolist() == res_shuffled["params"].tolist()
    assert not np.allclose(res["score"], res_shuffled["score"])  # the scores did see the new labels
    tuned_rows = res[res.estimator == "logistic"]
    assert (tuned_rows["n_candidates"] == 3).all() and (res[res.estimator == "dummy"]["n_candidates"] == 1).all()
    assert set(res.loc[res.estimator == "dummy", "params"]) == {""}
    # the chosen setting is the one a grid search on the same labels chooses
    n, r = 60, 1
    sub = res.attrs["subsets"][n, r]
    choice = res.attrs["best_params"]["logistic", n, r]
    assert json.loads(tuned_rows.query("n_labels == @n and repeat == @r")["params"].item()) == choice
    assert choice["logisticregression__C"] in GRID["logisticregression__C"]
    assert not set(sub) & set(test)


def test_test_index_fixes_the_held_out_split():
    X, y = _data()
    test = np.arange(250, 300)
    res = label_efficiency({"dummy": DummyClassifier()}, X, y, [20], n_repeats=1, test_index=test, random_state=0)
    assert np.array_equal(res.attrs["test_index"], test)
    with pytest.raises(ValueError, match="test_index must hold sample indices"):
        label_efficiency({"dummy": DummyClassifier()}, X, y, [20], test_index=[0, 300])
    with pytest.raises(ValueError, match="leaves none to train on"):
        label_efficiency({"dummy": DummyClassifier()}, X, y, [20], test_index=np.arange(300))
    with pytest.raises(ValueError, match="param_grids names rows"):
        label_efficiency({"dummy": DummyClassifier()}, X, y, [20], param_grids={"other": GRID})


def test_seed_per_repeat_varies_the_initialisation_and_spares_frozen_models():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data()
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, max_features=1, random_state=0))
    res = label_efficiency({"forest": forest}, X, y, [150], n_repeats=4, random_state=0, seed_per_repeat=True,
                           test_index=np.arange(150, 300))
    assert res["score"].nunique() > 1
    seeded = with_seed(forest, 7)
    assert seeded.get_params()["randomforestclassifier__random_state"] == 7
    assert forest.get_params()["randomforestclassifier__random_state"] == 0  # a clone was changed
    frozen_forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    probe = make_pipeline(FrozenEstimator(frozen_forest), LogisticRegression())
    assert with_seed(probe, 7).get_params()["frozenestimator__estimator"].random_state == 0


def test_a_list_of_estimators_gives_each_repeat_its_own_pretraining():
    X, y = _data()
    constants = [DummyClassifier(strategy="constant", constant=c) for c in (0, 1, 2)]
    test = np.arange(0, 300, 2)
    res = label_efficiency({"constant": constants}, X, y, [30], n_repeats=6, test_index=test, random_state=0)
    expected = [np.mean(y[test] == r % 3) for r in range(6)]
    assert res.sort_values("repeat")["score"].tolist() == pytest.approx(expected)
    with pytest.raises(ValueError, match="must not be empty"):
        label_efficiency({"none": []}, X, y, [30])


def test_summary_reports_the_test_sets_sampling_error():
    X, y = _data()
    res = label_efficiency({"logistic": _probe()}, X, y, [30, 100], n_repeats=3, test_bootstrap=50, random_state=0)
    summary = summarize_label_efficiency(res)
    assert "se_test" in res and "se_test" in summary
    n_test = len(res.attrs["test_index"])
    acc = summary["mean"].to_numpy()
    binomial = np.sqrt(acc * (1 - acc) / n_test)
    assert np.allclose(summary["se_test"], binomial, rtol=0.35)
    with pytest.raises(ValueError, match="test_bootstrap"):
        label_efficiency({"logistic": _probe()}, X, y, [30], test_bootstrap=-1)


def test_parallel_tuned_fits_choose_what_sequential_ones_do():
    X, y = _data()
    kw = dict(n_repeats=2, param_grids={"logistic": GRID}, seed_per_repeat=True, test_bootstrap=20, random_state=0)
    one = label_efficiency({"logistic": _probe()}, X, y, [30], **kw)
    two = label_efficiency({"logistic": _probe()}, X, y, [30], n_jobs=2, **kw)
    assert one["params"].tolist() == two["params"].tolist()
    assert np.allclose(one["score"], two["score"]) and np.allclose(one["se_test"], two["se_test"])
