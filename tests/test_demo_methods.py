"""The demo's "beyond SimCLR" section: held-out mask, rare-object ranking, retrieval, extra frozen rows."""

import numpy as np
import pandas as pd
import pytest

from sklearn_ssl.demo._methods import held_out_galaxies, rare_object_search, retrieval
from sklearn_ssl.evaluation._downstream import _study_findings
from sklearn_ssl.evaluation import label_efficiency

from _verdicts import verdicts


def test_held_out_mask_is_the_union_of_both_tasks_test_splits():
    from sklearn.dummy import DummyClassifier, DummyRegressor

    rng = np.random.default_rng(0)
    catalog = pd.DataFrame({"morphology_class": rng.integers(0, 4, 200), "redshift": rng.uniform(0, 0.3, 200)})
    X = np.zeros((200, 1))
    morph = label_efficiency({"d": DummyClassifier()}, X, catalog.morphology_class, [20], test_size=0.3,
                             n_repeats=1, task="classification", random_state=3)
    z = label_efficiency({"d": DummyRegressor()}, X, catalog.redshift, [20], test_size=0.3, n_repeats=1,
                         task="regression", random_state=3)
    mask = held_out_galaxies(catalog, 0.3, 3)
    expected = np.zeros(200, bool)
    expected[morph.attrs["test_index"]] = True
    expected[z.attrs["test_index"]] = True
    np.testing.assert_array_equal(mask, expected)
    assert 60 < mask.sum() < 120  # two different 60-galaxy splits


def test_rare_object_search_finds_planted_outliers_and_not_in_noise():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 8)) * 0.05 + np.array([1.0] + [0.0] * 7)  # one tight cluster
    rare = np.zeros(400, bool)
    rare[:4] = True
    Z[:4] = rng.normal(size=(4, 8))  # four objects in other directions
    noise = rng.normal(size=(400, 8))  # an embedding that knows nothing
    table = rare_object_search({"good": Z, "noise": noise}, rare)
    good, bad = table.set_index("embedding").loc["good"], table.set_index("embedding").loc["noise"]
    assert good["precision at top 1% (4)"] == 1.0 and good["ROC AUC"] == 1.0
    assert bad["precision at top 1% (4)"] <= 0.25 and bad["ROC AUC"] < 0.8
    assert list(table.columns) == ["embedding", "precision at top 1% (4)", "precision at top 5% (20)", "ROC AUC"]


def test_retrieval_counts_the_rank_of_the_own_spectrum():
    class Aligned:
        def transform(self, X, Y):
            return X, Y

    eye = np.eye(10)
    assert retrieval(Aligned(), eye, eye) == {"n": 10, "top1": 1.0, "top5": 1.0, "chance_top1": 0.1,
                                              "chance_top5": 0.5}
    shifted = np.roll(eye, 1, axis=0)  # every image's best match is another's spectrum
    assert retrieval(Aligned(), eye, shifted)["top1"] == 0.0


def test_downstream_study_scores_other_embedders_with_the_same_frozen_probes():
    from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey
    from sklearn_ssl.evaluation import downstream_study

    X, cat = make_galaxy_survey(60, image_size=16, random_state=0)
    small = dict(max_epochs=1, batch_size=32, random_state=0, encoder="small")
    emb = ContrastiveEmbedder(**small).fit(X)
    other = ContrastiveEmbedder(method="byol", **small).fit(X)
    res = downstream_study(X, cat, emb, n_labels=[20], n_repeats=1, finetune_epochs=1, finetune_steps=1,
                           photoz_bins=10, semi_supervised=False, catalogue_baselines=False,
                           other_embedders={"BYOL": other})
    assert "BYOL frozen + logistic" in set(res["morphology"].estimator)
    assert "BYOL frozen + ridge" in set(res["redshift"].estimator)
    # the same probe on the same embeddings gives the same score as an explicit pipeline
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = cat.morphology_class.to_numpy()
    direct = label_efficiency({"x": make_pipeline(FrozenEstimator(other), StandardScaler(),
                                                  LogisticRegression(max_iter=2000))},
                              X, y, [20], test_size=0.25, n_repeats=1, task="classification", random_state=0,
                              scoring={"accuracy": "accuracy"})
    ours = res["morphology"].query("estimator == 'BYOL frozen + logistic'").score.item()
    assert ours == pytest.approx(direct.score.item())
    assert any(line.startswith("morphology") and "BYOL frozen + logistic vs SSL frozen + logistic" in line
               for line in res["findings"])


def test_findings_compare_other_rows_with_the_main_frozen_row():
    noise = np.array([0.01, -0.01, 0.02, -0.02, 0.0])
    rows = [dict(estimator=m, n_labels=10, repeat=r, metric="accuracy", score=v + np.roll(noise, k)[r])
            for k, (m, v) in enumerate({"SSL frozen + logistic": 0.6, "BYOL frozen + logistic": 0.8,
                                        "supervised CNN": 0.7}.items()) for r in range(5)]
    res = {"morphology": pd.DataFrame(rows), "redshift": pd.DataFrame(columns=rows[0].keys())}
    lines = _study_findings(res, other_rows={"morphology": ["BYOL frozen + logistic"]})
    vs_main = [line for line in lines if line.startswith("morphology (accuracy), BYOL frozen + logistic vs SSL")]
    assert len(vs_main) == 1
    assert verdicts(vs_main[0]) == {(10, "BYOL frozen + logistic", "SSL frozen + logistic"): (0.8, ">", 0.6)}
