"""Choosing which galaxies to label (label_efficiency(selection=...)) and anomalies with feedback."""

import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from sklearn_ssl.discovery import SELECTION_STRATEGIES, rerank, select_labels
from sklearn_ssl.evaluation import label_efficiency

pytest.importorskip("skactiveml")

STRATEGIES = [s for s in SELECTION_STRATEGIES if s != "random"]


def _blobs(n_blobs=8, per_blob=40, dim=16, seed=0):
    """Well-separated clusters whose class is the cluster's parity: a 1-NN probe needs a label in every cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dim)) * 5
    X = np.concatenate([c + rng.normal(scale=0.3, size=(per_blob, dim)) for c in centres])
    blob = np.repeat(np.arange(n_blobs), per_blob)
    return X, blob % 2, blob


@pytest.mark.parametrize("strategy", SELECTION_STRATEGIES)
@pytest.mark.parametrize("budget", [2, 7, 30])
def test_select_labels_returns_budget_distinct_positions_with_every_class(strategy, budget):
    X, y, _ = _blobs(per_blob=10)
    pos = select_labels(X, budget, strategy=strategy, y=y, random_state=0)
    assert len(pos) == budget and len(np.unique(pos)) == budget
    assert pos.min() >= 0 and pos.max() < len(X)
    assert set(y[pos]) == {0, 1}  # the seed: one galaxy per class


@pytest.mark.parametrize("strategy", ["typiclust", "probcover", "coreset"])
def test_select_labels_regression_has_no_seed_and_needs_no_labels(strategy):
    X, _, _ = _blobs(per_blob=10)
    pos = select_labels(X, 5, strategy=strategy, classification=False, random_state=0)
    assert len(np.unique(pos)) == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_label_efficiency_selection_uses_training_rows_only(strategy):
    X, y, _ = _blobs(per_blob=12)
    res = label_efficiency({"logistic": LogisticRegression()}, X, y, [4, 10], n_repeats=2, selection=strategy,
                           scoring="accuracy", random_state=0)
    assert len(res) == 4 and res["score"].between(0, 1).all()
    test = set(res.attrs["test_index"].tolist())
    assert res.attrs["selection"] == strategy
    for (n, _), sub in res.attrs["subsets"].items():
        assert len(sub) == n and len(np.unique(sub)) == n
        assert not test & set(sub.tolist())


def test_random_selection_is_the_default_and_unchanged():
    X, y, _ = _blobs(per_blob=12)
    est = {"logistic": LogisticRegression()}
    a = label_efficiency(est, X, y, [6, 20], n_repeats=2, random_state=3)
    b = label_efficiency(est, X, y, [6, 20], n_repeats=2, random_state=3, selection="random")
    assert a["score"].tolist() == b["score"].tolist()
    for key, sub in a.attrs["subsets"].items():
        np.testing.assert_array_equal(sub, b.attrs["subsets"][key])


@pytest.mark.parametrize("strategy, params", [("typiclust", None), ("probcover", {"n_classes": 8})])
def test_typical_and_covering_selection_beat_random_where_random_misses_clusters(strategy, params):
    # 8 clusters, 8 labels: a random subset misses about 8 * (7/8)^8 = 2.7 clusters, whose galaxies a 1-NN probe
    # then labels from another cluster; TypiClust and ProbCover put one label in each cluster. ProbCover is told
    # that there are 8 kinds of object (its ball radius comes from a K-means of that many clusters).
    X, y, blob = _blobs()
    common = dict(n_repeats=5, scoring="accuracy", random_state=0, test_size=0.5)
    knn = {"1-NN": KNeighborsClassifier(n_neighbors=1)}
    chosen = label_efficiency(knn, X, y, [8], selection=strategy, selection_params=params, **common)
    random = label_efficiency(knn, X, y, [8], **common)
    assert chosen["score"].mean() > random["score"].mean() + 0.05
    assert chosen["score"].mean() > 0.95
    covered = [len(set(blob[sub])) for sub in chosen.attrs["subsets"].values()]
    assert min(covered) == 8


def test_selection_features_for_images():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(60, 1, 4, 4))
    y = np.arange(60) % 2
    est = {"logistic": LogisticRegression()}
    with pytest.raises(ValueError, match="selection_features"):
        label_efficiency(est, images, y, [6], n_repeats=1, selection="typiclust", random_state=0)
    with pytest.raises(ValueError, match="selection_features must have shape"):
        label_efficiency(est, images.reshape(60, -1), y, [6], n_repeats=1, selection="typiclust",
                         selection_features=np.ones((10, 2)), random_state=0)
    with pytest.raises(ValueError, match="selection must be one of"):
        label_efficiency(est, images.reshape(60, -1), y, [6], n_repeats=1, selection="typical", random_state=0)


def test_select_labels_errors():
    X, y, _ = _blobs(per_blob=5)
    with pytest.raises(ValueError, match="needs class probabilities"):
        select_labels(X, 5, strategy="uncertainty", y=y.astype(float), classification=False)
    with pytest.raises(ValueError, match="budget must be between"):
        select_labels(X, len(X) + 1, y=y)
    with pytest.raises(ValueError, match="smaller than the number of classes"):
        select_labels(X, 1, y=y)
    with pytest.raises(ValueError, match="y .the pool's labels"):
        select_labels(X, 5)


def test_missing_scikit_activeml_names_the_extra(monkeypatch):
    X, y, _ = _blobs(per_blob=5)
    monkeypatch.setitem(sys.modules, "skactiveml.pool", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"sklearn-ssl\[select\]"):
        select_labels(X, 5, strategy="typiclust", y=y)
    assert len(select_labels(X, 5, strategy="random", y=y)) == 5  # random needs no extra


# -- anomalies with feedback -------------------------------------------------------------------
def _anomalies(seed=0):
    """A bulk of 200 ordinary objects and two groups of 10 anomalies, the boring group ranked more abnormal."""
    rng = np.random.default_rng(seed)
    bulk = rng.normal(size=8) * 6 + rng.normal(size=(200, 8))  # off the origin: cosine distances separate groups
    lens = rng.normal(size=8) * 6 + rng.normal(scale=0.3, size=(10, 8))
    artefact = rng.normal(size=8) * 6 + rng.normal(scale=0.3, size=(10, 8))
    Z = np.concatenate([bulk, lens, artefact])
    scores = np.r_[-rng.uniform(0, 1, 200), -rng.uniform(2, 3, 10), -rng.uniform(3, 4, 10)]  # lower = odder
    return Z, scores, np.arange(200, 210), np.arange(210, 220)


def test_feedback_moves_look_alikes_of_interesting_objects_up():
    Z, scores, lens, artefact = _anomalies()
    top10 = set(np.argsort(scores)[:10].tolist())
    assert top10 == set(artefact.tolist())  # before: the boring group leads
    new = rerank(scores, Z, interesting=[lens[0]], boring=[artefact[0]])
    order = np.argsort(new)
    assert set(order[:10].tolist()) == set(lens.tolist())  # after one label each: the lenses lead
    rank = np.argsort(order)
    assert rank[artefact].min() > 150  # the boring look-alikes sink below most of the bulk (220 objects)


def test_feedback_by_ids_and_without_feedback():
    Z, scores, lens, artefact = _anomalies()
    ids = np.arange(len(scores)) + 1000
    by_pos = rerank(scores, Z, interesting=[lens[0]], boring=[artefact[0]])
    by_id = rerank(scores, Z, interesting=[ids[lens[0]]], boring=[ids[artefact[0]]], ids=ids)
    np.testing.assert_array_equal(by_pos, by_id)
    np.testing.assert_array_equal(np.argsort(rerank(scores, Z), kind="stable"), np.argsort(scores, kind="stable"))
    with pytest.raises(ValueError, match="both interesting and boring"):
        rerank(scores, Z, interesting=[1], boring=[1])
    with pytest.raises(ValueError, match="not in ids"):
        rerank(scores, Z, interesting=[5], ids=ids)
    with pytest.raises(ValueError, match="one row per score"):
        rerank(scores, Z[:5], interesting=[1])


def test_downstream_study_trains_every_row_on_the_chosen_labels():
    from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey
    from sklearn_ssl.evaluation import downstream_study

    X, cat = make_galaxy_survey(60, image_size=16, random_state=0)
    emb = ContrastiveEmbedder(encoder="small", max_epochs=1, batch_size=32, random_state=0).fit(X)
    res = downstream_study(X, cat, emb, n_labels=[12], n_repeats=1, finetune_epochs=1, finetune_steps=1,
                           photoz_bins=10, semi_supervised=False, catalogue_baselines=False, selection="typiclust")
    morph = res["morphology"]
    assert morph.attrs["selection"] == "typiclust" and res["redshift"].attrs["selection"] == "typiclust"
    sub = morph.attrs["subsets"][12, 0]
    assert not set(sub.tolist()) & set(morph.attrs["test_index"].tolist())
    y = cat["morphology_class"].to_numpy()
    train = np.setdiff1d(np.arange(len(y)), morph.attrs["test_index"])
    assert len(np.unique(sub)) == 12 and set(y[sub]) == set(y[train])  # every class (the seed)


def test_label_selection_benchmark_writes_rows_and_meta(tmp_path):
    """The benchmark script end to end on a tiny survey with raw-pixel PCA features (no pretraining)."""
    import json
    import os
    import subprocess

    import pandas as pd

    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "label_selection.py")
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..")}
    proc = subprocess.run([sys.executable, script, "synthetic", "--features", "pca", "--n-samples", "160",
                           "--image-size", "8", "--budgets", "8,16", "--n-repeats", "2",
                           "--strategies", "random,typiclust", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "synthetic" / "rows.csv")
    assert set(rows["selection"]) == {"random", "typiclust"} and len(rows) == 2 * 2 * 2
    comps = pd.read_csv(tmp_path / "synthetic" / "comparisons.csv")
    assert comps[["selection", "n_labels"]].values.tolist() == [["typiclust", 8], ["typiclust", 16]]
    meta = json.loads((tmp_path / "synthetic" / "meta.json").read_text())
    assert {"command", "commit", "date", "machine"} <= set(meta)


def test_demo_selection_rows_pair_with_random_and_make_a_report_table():
    from sklearn_ssl.demo._selection import selection_rows, selection_section

    X, y, _ = _blobs(per_blob=15)
    rows = selection_rows(X, y, [6, 20], test_fraction=0.3, n_repeats=2, random_state=0,
                          selections=("random", "typiclust"))
    assert set(rows["selection"]) == {"random", "typiclust"} and len(rows) == 2 * 2 * 2
    md = selection_section(rows)
    table = next(x for x in md if hasattr(x, "columns"))
    assert list(table.columns) == ["selection", "n=6", "n=20"] and list(table["selection"]) == ["random", "typiclust"]
    assert "scikit-activeml" in " ".join(selection_section(None))
