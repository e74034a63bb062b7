import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.frozen import FrozenEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl.discovery import SimilaritySearch
from sklearn_ssl.evaluation import label_efficiency, summarize_label_efficiency
from sklearn_ssl.estimators._finetune import FineTunedClassifier
from sklearn_ssl.plotting import plot_label_efficiency, plot_similarity_search

matplotlib.use("Agg")

FITS = []


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Records the sample ids (column 0) it is fitted and scored on."""

    def fit(self, X, y):
        FITS.append(("fit", tuple(np.asarray(X)[:, 0].astype(int)), tuple(y)))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        FITS.append(("predict", tuple(np.asarray(X)[:, 0].astype(int)), ()))
        return np.full(len(X), self.classes_[0])


class CountingEmbedder(TransformerMixin, BaseEstimator):
    n_fits = 0

    def fit(self, X, y=None):
        type(self).n_fits += 1
        self.net_ = object()
        return self

    def transform(self, X):
        return np.asarray(X)[:, 1:]


def _data(n=120, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n // n_classes)
    X = np.column_stack([np.arange(n), y + rng.normal(0, 0.3, n), rng.normal(size=n)])
    return X, y


def test_budgets_splits_and_reproducibility():
    X, y = _data()
    FITS.clear()
    df = label_efficiency({"spy": SpyClassifier()}, X, y, n_labels=[3, 10, 40], n_repeats=2, test_size=30,
                          random_state=0)
    assert list(df.columns) == ["estimator", "n_labels", "repeat", "metric", "score", "fit_time"]
    assert len(df) == 6 and sorted(df["n_labels"].unique()) == [3, 10, 40]
    fits = [f for f in FITS if f[0] == "fit"]
    tests = {f[1] for f in FITS if f[0] == "predict"}
    assert len(tests) == 1  # one held-out split for every budget and repeat
    test_ids = set(next(iter(tests)))
    assert test_ids == set(df.attrs["test_index"]) and len(test_ids) == 30
    for (_, ids, labels), n in zip(fits, [3, 10, 40] * 2):
        assert len(ids) == n and not test_ids & set(ids)  # budget respected, no leakage
        assert set(labels) == {0, 1, 2}  # stratified subsets contain every class
    assert fits[0][1] != fits[3][1]  # repeats draw different subsets
    # the held-out split is stratified
    assert np.bincount(y[df.attrs["test_index"]]).tolist() == [10, 10, 10]
    first = list(FITS)
    FITS.clear()
    label_efficiency({"spy": SpyClassifier()}, X, y, n_labels=[3, 10, 40], n_repeats=2, test_size=30,
                     random_state=0)
    assert FITS == first  # reproducible


def test_budget_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="number of classes"):
        label_efficiency({"lr": LogisticRegression()}, X, y, n_labels=[2], random_state=0)
    with pytest.raises(ValueError, match="exceed"):
        label_efficiency({"lr": LogisticRegression()}, X, y, n_labels=[1000], random_state=0)


def test_regression_random_subsets_and_photoz_names():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    z = np.clip(0.2 + 0.05 * X[:, 0], 0, 0.39)
    df = label_efficiency({"lin": LinearRegression()}, X, z, n_labels=[5, 40], n_repeats=2,
                          scoring=["sigma_mad", "r2"], random_state=0)
    assert df.attrs["task"] == "regression"
    assert set(df["metric"]) == {"sigma_mad", "r2"}
    assert (df.loc[df.metric == "sigma_mad", "score"] <= 0).all()  # negated error
    summary = summarize_label_efficiency(df)
    assert set(summary.columns) == {"metric", "estimator", "n_labels", "mean", "std", "sem", "n_repeats"}
    np.testing.assert_allclose(summary["sem"], summary["std"] / np.sqrt(summary["n_repeats"]))
    fig = plot_label_efficiency(df, "r2")
    assert isinstance(fig, Figure) and fig.axes[0].get_xscale() == "log"


def test_pretrain_once_then_probe():
    X, y = _data()
    CountingEmbedder.n_fits = 0
    emb = CountingEmbedder().fit(X)
    net = emb.net_
    probe = make_pipeline(FrozenEstimator(emb), LogisticRegression())
    label_efficiency({"probe": probe}, X, y, n_labels=[6, 30, 60], n_repeats=2, random_state=0)
    assert CountingEmbedder.n_fits == 1 and emb.net_ is net


def test_finetuner_with_frozen_pretrained_survives_clone():
    from sklearn.base import clone

    from sklearn_ssl import ContrastiveEmbedder

    X, y = _data(42)
    emb = ContrastiveEmbedder(max_epochs=1, batch_size=20, random_state=0).fit(X)
    net = emb.net_
    df = label_efficiency({"ft": FineTunedClassifier(FrozenEstimator(emb), max_epochs=1, random_state=0)},
                          X, y, n_labels=[6], n_repeats=1, test_size=10, random_state=0)
    assert len(df) == 1 and emb.net_ is net
    with pytest.raises(Exception, match="FrozenEstimator"):
        clone(FineTunedClassifier(emb, max_epochs=1)).fit(X, y)


def test_similarity_search_cosine():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(50, 8))
    Z[1] = 3.0 * Z[0]  # same direction: cosine distance 0
    search = SimilaritySearch(n_neighbors=3).fit(Z)
    dist, idx = search.kneighbors(Z[:1])
    assert idx.shape == (1, 3) and set(idx[0, :2]) == {0, 1}
    np.testing.assert_allclose(dist[0, :2], 0.0, atol=1e-12)
    dist, idx = search.kneighbors()  # indexed points as queries, self excluded
    assert idx[0, 0] == 1 and idx[1, 0] == 0
    with pytest.raises(ValueError, match="features"):
        search.kneighbors(Z[:1, :4])


def test_plot_similarity_search():
    rng = np.random.default_rng(0)
    images = rng.gamma(2.0, 1.0, size=(6, 3, 8, 8)).astype(np.float32)
    fig = plot_similarity_search(images, 0, [3, 1, 2], "gri", distances=[0.01, 0.1, 0.2])
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.images]) == 4


@parametrize_with_checks([SimilaritySearch(n_neighbors=3)])
def test_similarity_search_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_downstream_study_has_every_row_and_budget():
    from sklearn_ssl.evaluation import run_downstream_study

    res = run_downstream_study(120, 16, n_labels=(10, 30), n_repeats=1, pretrain_epochs=1, finetune_epochs=1,
                               finetune_steps=2, photoz_bins=20, width=4, batch_size=32, tune=False)
    morph, z = res["morphology"], res["redshift"]
    catalogue = {"photometry + GB", "morphology + GB", "photometry + morphology + GB"}
    assert set(morph["estimator"]) == {"SSL frozen + logistic", "semi-supervised SSL + logistic",
                                       "supervised CNN", "raw-pixel PCA + logistic",
                                       "constant (majority class)"} | catalogue
    assert set(z["estimator"]) == {"SSL frozen + ridge", "semi-supervised SSL + ridge",
                                   "SSL fine-tuned photo-z head", "supervised CNN photo-z head",
                                   "raw-pixel PCA + ridge", "constant (median redshift)"} | catalogue
    assert set(z["metric"]) == {"sigma_mad", "bias", "outlier_fraction"}
    for table in (morph, z):
        assert sorted(set(table["n_labels"])) == [10, 30]
        assert np.isfinite(table["score"]).all()
    assert morph.query("metric == 'accuracy'")["score"].between(0, 1).all()
    assert set(res["figures"]) == {"morphology_accuracy", "redshift_sigma_mad", "redshift_outlier_fraction"}
    # one repeat: the findings compare nothing
    assert res["findings"] and all("too few to compare" in line for line in res["findings"])
    assert "sem" in res["morphology_summary"] and res["timings"]["features"] > 0


def test_label_efficiency_keeps_test_predictions():
    X, y = make_classification(120, random_state=0)
    res = label_efficiency({"logistic": LogisticRegression()}, X, y, [10, 40], n_repeats=2, random_state=0,
                           keep_predictions=True)
    preds = res.attrs["predictions"]
    test = res.attrs["test_index"]
    assert set(preds) == {("logistic", n, r) for n in (10, 40) for r in (0, 1)}
    for (name, n, r), pred in preds.items():
        acc = res.query("n_labels == @n and repeat == @r")["score"].item()
        assert pred.shape == (len(test),) and np.mean(pred == y[test]) == pytest.approx(acc)
    assert "predictions" not in label_efficiency({"logistic": LogisticRegression()}, X, y, [10],
                                                 n_repeats=1, random_state=0).attrs


def test_downstream_study_of_a_given_embedder_without_semi_supervised_rows():
    from sklearn_ssl import ContrastiveEmbedder
    from sklearn_ssl.datasets import make_galaxy_survey
    from sklearn_ssl.evaluation import downstream_study

    X, cat = make_galaxy_survey(100, image_size=16, random_state=0)
    emb = ContrastiveEmbedder(encoder="small", max_epochs=1, batch_size=32, random_state=0).fit(X)
    res = downstream_study(X, cat, emb, n_labels=(12, 40), n_repeats=1, finetune_epochs=1, finetune_steps=2,
                           photoz_bins=20, semi_supervised=False, catalogue_baselines=False, keep_predictions=True)
    assert not any("semi" in name for name in res["morphology"]["estimator"])
    test = res["redshift"].attrs["test_index"]
    pred = res["redshift"].attrs["predictions"]["SSL frozen + ridge", 40, 0]
    sigma = res["redshift"].query("estimator == 'SSL frozen + ridge' and n_labels == 40 and metric == 'sigma_mad'")
    from sklearn_ssl.evaluation.metrics import sigma_mad

    assert sigma_mad(cat["redshift"].to_numpy()[test], pred) == pytest.approx(sigma["score"].item())
    # every row but the constants was a search over three settings, on the budget's labels only
    for table in (res["morphology"], res["redshift"]):
        searched = table[~table["estimator"].str.startswith("constant")]
        assert (searched["n_candidates"] == 3).all() and (searched["params"] != "").all()
        assert (table["se_test"] > 0).all()


def test_downstream_study_choices_do_not_see_the_test_labels():
    """Issue 27: replacing the test labels by random ones leaves every chosen setting unchanged."""
    from sklearn_ssl import ContrastiveEmbedder
    from sklearn_ssl.datasets import make_galaxy_survey
    from sklearn_ssl.evaluation import downstream_study

    X, cat = make_galaxy_survey(90, image_size=12, random_state=1)
    cat = cat.assign(redshift=cat["redshift"].clip(0, 0.39))
    embs = [ContrastiveEmbedder(encoder="small", max_epochs=1, batch_size=32, random_state=0).fit(X)]
    test = np.arange(0, 90, 3)
    kw = dict(n_labels=(16,), n_repeats=1, finetune_epochs=1, finetune_steps=2, photoz_bins=10, semi_supervised=False,
              catalogue_baselines=False, test_index=test, test_bootstrap=0, random_state=0)
    res = downstream_study(X, cat, embs, **kw)
    rng = np.random.default_rng(0)
    noisy = cat.copy()
    noisy.loc[test, "morphology_class"] = rng.permutation(noisy.loc[test, "morphology_class"].to_numpy())[::-1]
    noisy.loc[test, "redshift"] = rng.uniform(0, 0.39, test.size)
    res_noisy = downstream_study(X, noisy, embs, **kw)
    for task in ("morphology", "redshift"):
        assert res[task]["params"].tolist() == res_noisy[task]["params"].tolist()
        assert not np.allclose(res[task]["score"], res_noisy[task]["score"])
        assert np.array_equal(res[task].attrs["test_index"], test)


def test_label_efficiency_progress_bar_or_lines_count_every_fit(capsys, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    X, y = make_classification(80, random_state=0)
    estimators = {"a": LogisticRegression(), "b": LogisticRegression(C=0.1)}
    label_efficiency(estimators, X, y, [10, 30], n_repeats=2, random_state=0, progress=True)
    lines = capsys.readouterr().err.splitlines()  # stderr redirected (not a terminal): a line per fit, no bar
    assert len(lines) == 8 and "\r" not in "".join(lines)
    assert lines[0].strip().startswith("label budgets 1/8: a, 10 labels, repeat 1/2 (")
    assert "about" in lines[0] and "left)" in lines[0] and lines[-1].endswith("elapsed, done)")
    label_efficiency(estimators, X, y, [10], n_repeats=1, random_state=0, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys, "stderr", Terminal())
    label_efficiency(estimators, X, y, [10, 30], n_repeats=2, random_state=0, progress=True)
    err = sys.stderr.getvalue()
    assert "label budgets" in err and "8/8" in err


def test_evaluate_embeddings_photoz_rows_match_a_hand_computation():
    """The baseline column (the training mean, fold by fold) computed by hand: errors tabulated as errors."""
    from sklearn.model_selection import KFold

    from sklearn_ssl.evaluation import evaluate_embeddings
    from sklearn_ssl.evaluation.metrics import outlier_fraction, photoz_bias, sigma_mad

    rng = np.random.default_rng(0)
    z = rng.uniform(0.02, 0.3, 60)
    Z = np.c_[z, rng.normal(size=60)]
    table = evaluate_embeddings(Z, z, task="photoz", cv=3, random_state=0)
    assert list(table.index) == ["r2", "rmse", "bias", "sigma_mad", "outlier_fraction"]
    by_hand = {m: [] for m in table.index}
    for train, test in KFold(3, shuffle=True, random_state=0).split(Z):
        pred = np.full(len(test), z[train].mean())
        by_hand["rmse"].append(np.sqrt(np.mean((z[test] - pred) ** 2)))
        by_hand["bias"].append(photoz_bias(z[test], pred))
        by_hand["sigma_mad"].append(sigma_mad(z[test], pred))
        by_hand["outlier_fraction"].append(outlier_fraction(z[test], pred))
    for metric in ("rmse", "bias", "sigma_mad", "outlier_fraction"):
        assert table.loc[metric, "baseline"] == pytest.approx(np.mean(by_hand[metric]), rel=1e-12)
    assert table.loc["sigma_mad", "mean"] > 0 and table.loc["rmse", "mean"] < table.loc["rmse", "baseline"]


class _RecordingEmbedder(TransformerMixin, BaseEstimator):
    """Records the images and labels it is pretrained on; embeds an image as its first pixels."""

    def fit(self, X, y=None):
        self.seen_, self.labels_ = np.asarray(X).copy(), np.asarray(y).copy()
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float).reshape(len(X), -1)[:, :4]


def test_semi_supervised_probe_sees_each_labelled_image_once_and_no_test_image():
    """The pool is the training split; the labelled images are in it, and pretraining sees them once."""
    from sklearn.base import is_classifier, is_regressor
    from sklearn.linear_model import Ridge

    from sklearn_ssl.evaluation._downstream import _SemiSupervisedProbe, _training_pool

    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 2, 4, 4)).astype(np.float32)
    y = np.arange(40) % 2
    pool = _training_pool(images, y, 0.25, True, 0)
    test = label_efficiency({"spy": SpyClassifier()}, np.c_[np.arange(40)], y, [4], n_repeats=1,
                            test_size=0.25, random_state=0).attrs["test_index"]
    keys = {img.tobytes() for img in pool}
    assert len(pool) == 30 and not keys & {images[i].tobytes() for i in test}
    labelled = np.setdiff1d(np.arange(40), test)[:6]
    probe = _SemiSupervisedProbe(_RecordingEmbedder(), LogisticRegression(), unlabelled=pool)
    probe.fit(images[labelled], y[labelled])
    seen = [img.tobytes() for img in probe.embedder_.seen_]
    assert len(seen) == len(set(seen)) == 30  # every training image once, labelled or not
    assert set(seen) == keys
    assert (probe.embedder_.labels_[:6] == y[labelled]).all() and (probe.embedder_.labels_[6:] == -1).all()
    assert is_classifier(probe) and list(probe.classes_) == [0, 1] and probe.predict_proba(images[:3]).shape == (3, 2)
    z = rng.uniform(0, 0.3, 40)
    pool_z = _training_pool(images, z, 0.25, False, 0)  # not stratified: another split
    reg = _SemiSupervisedProbe(_RecordingEmbedder(), Ridge(), unlabelled=pool_z)
    reg.fit(pool_z[:6], z[:6])
    assert is_regressor(reg) and np.isnan(reg.embedder_.labels_[6:]).all() and len(reg.embedder_.seen_) == 30


def test_the_evaluation_package_exports_each_study_from_its_module():
    """evaluation is a subpackage: each public name is the object of the private module that holds it."""
    from sklearn_ssl import demo, evaluation
    from sklearn_ssl.demo import _run
    from sklearn_ssl.evaluation import _downstream, _evaluate, _survey_pair

    assert demo.run_demo is _run.run_demo and demo.DEMO_SETTINGS is _run.DEMO_SETTINGS
    assert evaluation.evaluate_embeddings is _evaluate.evaluate_embeddings
    assert evaluation.downstream_study is _downstream.downstream_study
    assert evaluation.run_downstream_study is _downstream.run_downstream_study
    assert evaluation.make_survey_pair is _survey_pair.make_survey_pair
    for name in evaluation.__all__:
        assert hasattr(evaluation, name), name
    with pytest.raises(ImportError):  # the report shim is gone (see the changelog)
        from sklearn_ssl import report  # noqa: F401


def test_label_efficiency_in_parallel_gives_the_rows_of_a_one_thread_run(monkeypatch):
    """n_jobs=2: fits in two processes, each with one torch thread, give exactly the scores (and row
    order) of the sequential study run with one torch thread."""
    import pandas as pd
    import torch
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 2, 8, 8)).astype(np.float32)
    y = (X[:, 0].mean(axis=(1, 2)) > 0).astype(int)
    X[y == 1, 1] += 0.5
    estimators = {"cnn": FineTunedClassifier(None, encoder="small", max_epochs=2, batch_size=8, random_state=0),
                  "logistic": make_pipeline(FunctionTransformer(_flat),
                                            LogisticRegression())}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sequential = label_efficiency(estimators, X, y, [8, 16], n_repeats=2, random_state=0)
    finally:
        torch.set_num_threads(threads)
    parallel = label_efficiency(estimators, X, y, [8, 16], n_repeats=2, random_state=0, n_jobs=2)
    assert torch.get_num_threads() == threads  # the caller's setting is left alone
    cols = ["estimator", "n_labels", "repeat", "metric", "score"]
    pd.testing.assert_frame_equal(parallel[cols], sequential[cols])
    assert parallel["estimator"].tolist()[:2] == ["cnn", "logistic"]


def _flat(X):
    return X.reshape(len(X), -1)
