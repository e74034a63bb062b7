"""The cross-survey study under the study protocol (issue 27, item 1): with ``tune=True`` every row's
settings are chosen by a grid search of three candidates inside each budget's labels of survey A, and
the test splits of A and B are used only to score the refitted models."""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import check_scoring
from threadpoolctl import threadpool_limits

from sklearn_ssl import BatchNormAdapter, FineTunedClassifier
from sklearn_ssl.evaluation import (
    cross_survey_augmentations, cross_survey_study, make_survey_pair, summarize_cross_survey, tuned,
)
from sklearn_ssl.evaluation import _cross_survey
from sklearn_ssl.evaluation._downstream import STUDY_GRIDS
from sklearn_ssl.evaluation._cross_survey import _OnSource, _knn_grid, _source_model

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(image_size=16, pretrain_epochs=1, finetune_steps=2, width=4, batch_size=16, random_state=0)
#: Redshift tertiles of 48 galaxies: 12 per class in A's training split; a budget of 9 holds 3 of each, so
#: the inner cross-validation has 3 stratified folds of 6 training labels (kNN: 1, 3 and 5 neighbours).
SMALL = dict(target="redshift", n_samples=48, n_labels=(9,), **TINY)

#: The parameter each row searches and its three settings.
GRIDS = {
    "SSL frozen + logistic (generic aug.)": STUDY_GRIDS["logistic"],
    "SSL frozen + kNN (generic aug.)": {"kneighborsclassifier__n_neighbors": [1, 3, 5]},
    "SSL fine-tuned (generic aug.)": STUDY_GRIDS["network on a pretrained encoder"],
    "supervised CNN": STUDY_GRIDS["network from scratch"],
    "supervised CNN + AdaBN": {"estimator__lr": STUDY_GRIDS["network from scratch"]["lr"]},
    "raw-pixel PCA + logistic": STUDY_GRIDS["logistic"],
    "photometry + morphology + GB": STUDY_GRIDS["gradient boosting (classes)"],
}


@pytest.fixture(autouse=True)
def one_thread():
    """One thread for torch and OpenMP: these networks and boosted trees are tiny, and on a shared 2-core CPU two
    threads waiting on each other made every optimiser step and every tree about 100 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def _chosen(results):
    """The chosen setting of every fit: (estimator, n_labels, repeat) -> params string (one per fit, A and B)."""
    per_fit = results.groupby(["estimator", "n_labels", "repeat"], sort=False)["params"]
    assert per_fit.nunique(dropna=False).eq(1).all()  # the A and B rows of a fit carry the same choice
    return per_fit.first().to_dict()


def test_tuned_rows_search_three_settings_of_their_grid():
    rows = [*GRIDS, "constant (majority class)"]
    out = cross_survey_study(n_repeats=1, methods=rows, tune=True, **SMALL)
    res = out["results"]
    assert list(res.columns) == ["estimator", "n_labels", "repeat", "test", "metric", "score", "fit_time", "n_steps",
                                 "params", "n_candidates"]
    assert list(dict.fromkeys(res["estimator"])) == rows
    for name, grid in GRIDS.items():
        fits = res[res["estimator"] == name]
        assert fits["n_candidates"].eq(3).all(), name
        for params in fits["params"]:
            (key, value), = json.loads(params).items()
            (expected, values), = grid.items()
            assert key == expected and value in values, (name, params)
    constant = res[res["estimator"] == "constant (majority class)"]
    assert constant["n_candidates"].eq(1).all() and constant["params"].eq("").all()
    # the refitted networks are found through their search: every one took the same number of optimiser steps
    networks = res[res["estimator"].str.contains("CNN|fine-tuned")]
    assert networks["n_steps"].notna().all() and networks["n_steps"].nunique() == 1
    assert res.loc[~res["estimator"].str.contains("CNN|fine-tuned"), "n_steps"].isna().all()
    assert res["score"].between(0, 1).all()
    assert len(out["summary"]) == len(rows) and isinstance(out["findings"], list)


def test_untuned_rows_report_no_search():
    out = cross_survey_study(n_repeats=2, methods=["raw-pixel PCA + logistic"], test_bootstrap=20, **SMALL)
    res = out["results"]
    assert res["params"].eq("").all() and res["n_candidates"].eq(1).all()
    assert list(res.columns)[-1] == "se_test" and res["se_test"].gt(0).all()
    summary = out["summary"]
    assert {"se_test_A", "se_test_B"} <= set(summary.columns)
    for test in "AB":  # the mean over repeats of the bootstrap standard errors
        assert summary[f"se_test_{test}"].iloc[0] == pytest.approx(res.loc[res["test"] == test, "se_test"].mean())
    # results without the new columns (older CSV files) are summarised as before
    plain = summarize_cross_survey(res.drop(columns=["params", "n_candidates", "se_test"]))
    assert "se_test_A" not in plain.columns and plain["mean_A"].equals(summary["mean_A"])
    with pytest.raises(ValueError, match="test_bootstrap"):
        cross_survey_study(test_bootstrap=-1)


def test_choices_never_see_the_test_labels(monkeypatch):
    """Random labels in place of A's and B's test labels leave every chosen setting as it was."""
    xa, xb, ca, cb = make_survey_pair(48, 16, "gri", random_state=0)
    y = _cross_survey._target(ca, "redshift")
    assert np.array_equal(y, _cross_survey._target(cb, "redshift"))  # the same galaxies
    aug = cross_survey_augmentations(ca, cb, "gri")
    # the held-out split is stratified on the labels: keep it the one drawn from the true labels
    split, held = _cross_survey._split, {}

    def fixed_split(labels, test_size, seed):
        held["train"], held["test"] = split(y, test_size, seed)
        return held["train"], held["test"]

    monkeypatch.setattr(_cross_survey, "_split", fixed_split)
    rows = ["SSL frozen + logistic (generic aug.)", "SSL frozen + kNN (generic aug.)", "supervised CNN + AdaBN",
            "raw-pixel PCA + logistic"]
    kw = dict(augmentations=aug, n_labels=(9,), n_repeats=2, methods=rows, catalogue_baselines=False, tune=True,
              **{k: v for k, v in TINY.items() if k != "image_size"})
    first = cross_survey_study((xa, y), (xb, y), **kw)
    rng = np.random.default_rng(1)
    ya, yb = y.copy(), y.copy()
    ya[held["test"]] = rng.integers(0, 3, size=len(held["test"]))
    yb[held["test"]] = rng.integers(0, 3, size=len(held["test"]))
    assert np.array_equal(ya[held["train"]], y[held["train"]]) and (ya != y).sum() >= 4 and (yb != y).sum() >= 4
    second = cross_survey_study((xa, ya), (xb, yb), embedder=first["embedders"], **kw)
    chosen = _chosen(first["results"])
    assert all(chosen.values()) and len(chosen) == len(rows) * 2
    assert _chosen(second["results"]) == chosen
    # the test labels did change the scores: they are used, once, to score the refitted models
    assert not np.array_equal(first["results"]["score"], second["results"]["score"])


def test_adabn_row_tuned_scores_a_with_the_network_fitted_on_a():
    rows = ["supervised CNN", "supervised CNN + AdaBN"]
    out = cross_survey_study(n_repeats=2, methods=rows, catalogue_baselines=False, tune=True, **SMALL)
    res = out["results"]
    # the same search as the supervised CNN's (same folds, candidates and inner scores: the network as fitted on A),
    # so the same choice, and on A the same refitted network
    chosen = _chosen(res)
    for (name, n, r), params in chosen.items():
        if name == "supervised CNN + AdaBN":
            assert json.loads(params)["estimator__lr"] == json.loads(chosen["supervised CNN", n, r])["lr"]
    on_a = res[res["test"] == "A"].pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
    assert on_a["supervised CNN + AdaBN"].equals(on_a["supervised CNN"])


def test_adabn_inner_scores_do_not_depend_on_b():
    """The AdaBN row's search scores each candidate with the network as fitted on A: B's images (hence its
    statistics) do not change a single inner score, while the adapted copy does predict otherwise on A."""
    xa, xb, ca, _ = make_survey_pair(36, 16, "gri", random_state=2)
    y = _cross_survey._target(ca, "redshift")
    cnn = FineTunedClassifier(None, encoder="small", augmentations=None, max_epochs=1, min_steps=2, batch_size=16,
                              random_state=0)
    scorer = check_scoring(scoring="accuracy")
    searches = [tuned(BatchNormAdapter(cnn, target_images=images), {"estimator__lr": [3e-4, 1e-3, 3e-3]},
                      scoring=_OnSource(scorer), cv=3, random_state=0).fit(xa, y)
                for images in (xb, 3 * xb + 1)]
    np.testing.assert_array_equal(*(s.cv_results_["mean_test_score"] for s in searches))
    assert searches[0].best_params_ == searches[1].best_params_
    best = searches[1]
    assert _source_model(best) is best.best_estimator_.estimator_
    assert not np.allclose(best.predict_proba(xa), _source_model(best).predict_proba(xa), atol=1e-4)


@pytest.mark.parametrize("labels, expected", [([0, 0, 1, 1], [1, 2, 2]),  # 2 folds of 2 training labels
                                              ([0, 0, 1, 1, 2, 2], [1, 2, 3]),  # 2 folds of 3
                                              ([0, 1, 2] * 3, [1, 3, 5]),  # 3 folds of 6
                                              ([0, 1] * 20, [1, 3, 5])])
def test_knn_grid_is_capped_at_the_smallest_inner_training_fold(labels, expected):
    grid = _knn_grid(np.array(labels), 3, 0)["kneighborsclassifier__n_neighbors"]
    assert grid == expected


def test_benchmark_passes_tune_through(monkeypatch):
    spec = importlib.util.spec_from_file_location("cross_survey_benchmark", ROOT / "benchmarks" / "cross_survey.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calls = []
    monkeypatch.setattr(bench, "run", lambda target, config, args, out, embedders: calls.append((config, out)))
    bench.main(["--quick", "--tune"])
    bench.main(["--quick"])
    bench.main(["--tune", "--out", "elsewhere"])
    (tuned_config, tuned_out), (plain_config, plain_out), (_, given_out) = calls
    assert tuned_config["tune"] is True and plain_config["tune"] is False
    assert tuned_out == os.path.join("benchmarks", "results", "cross_survey_tuned")  # not over the untuned run
    assert plain_out == os.path.join("benchmarks", "results", "cross_survey") and given_out == "elsewhere"


def test_seed_per_repeat_gives_each_repeat_its_own_seed_shared_by_its_rows(monkeypatch):
    """seed_per_repeat: the networks' (and other rows') seeds vary between repeats, not between rows of one."""
    from sklearn_ssl.evaluation import _protocol

    fitted = []
    real = _protocol.fit_in_parallel

    def spy(jobs, n_jobs):
        jobs = list(jobs)
        fitted.append([job[0] for job in jobs])
        return real(jobs, n_jobs)

    monkeypatch.setattr(_protocol, "fit_in_parallel", spy)
    kwargs = dict(SMALL, methods=["supervised CNN", "raw-pixel PCA + logistic"], n_repeats=2,
                  catalogue_baselines=False)
    plain = cross_survey_study(**kwargs)["results"]
    varied = cross_survey_study(**kwargs, seed_per_repeat=True)["results"]

    def seeds(est):
        return {v for k, v in est.get_params().items() if k == "random_state" or k.endswith("__random_state")}

    assert [seeds(est) - {None} for est in fitted[0]] == [{0}] * 4  # tasks: repeat, budget, then row
    cnn0, pca0, cnn1, pca1 = (seeds(est) for est in fitted[1])
    assert cnn0 == pca0 and cnn1 == pca1 and cnn0 != cnn1 and len(cnn0) == len(cnn1) == 1 and cnn0 != {0}
    # the label subsets are those of the plain study: the constant part of each repeat is unchanged
    assert plain[["estimator", "n_labels", "repeat", "test"]].equals(varied[["estimator", "n_labels", "repeat", "test"]])
