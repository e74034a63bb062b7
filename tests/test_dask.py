"""Distributed model selection: GridSearchCV over a Pipeline with the embedder on a Dask cluster.

joblib's "dask" backend ships each (candidate, fold) fit to a worker of a
``dask.distributed`` cluster; with a fixed random_state the search must find exactly what
the sequential search finds.
"""
import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import joblib  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from sklearn_ssl import ContrastiveEmbedder  # noqa: E402


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    yy, xx = np.mgrid[-4:4, -4:4] + 0.5
    r2 = xx ** 2 + yy ** 2
    width = np.where(y == 0, 1.0, 2.5)[:, None, None]  # compact vs extended galaxies
    blob = np.exp(-r2[None] / (2 * width ** 2))
    X = blob[:, None] * np.array([1.0, 1.5, 2.0])[None, :, None, None]
    X = X + 0.3 * rng.standard_normal(X.shape)  # noisy enough that the scores are not all perfect
    return X.astype(np.float32), y


def _search():
    pipe = make_pipeline(
        ContrastiveEmbedder(max_epochs=1, batch_size=16, projection_dim=16, device="cpu", random_state=0),
        LogisticRegression(max_iter=200),
    )
    grid = {"contrastiveembedder__temperature": [0.1, 0.5], "logisticregression__C": [0.1, 10.0]}
    # log loss is continuous: equal scores mean the workers computed the same embeddings
    return GridSearchCV(pipe, grid, scoring="neg_log_loss", cv=StratifiedKFold(2, shuffle=True, random_state=0),
                        n_jobs=-1)


def test_grid_search_on_dask_cluster_matches_sequential():
    X, y = _data()
    sequential = _search().set_params(n_jobs=1).fit(X, y)
    # thread workers run fits concurrently in one process: this also checks that concurrent
    # fits stay reproducible (weight init holds a lock around torch's global generator).
    # On a GPU cluster use one process per GPU instead (docs/performance.rst).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            distributed = _search().fit(X, y)
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.run(lambda: True)  # the cluster was alive throughout
    assert distributed.best_params_ == sequential.best_params_
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(distributed.cv_results_[key], sequential.cv_results_[key], rtol=1e-5)
    np.testing.assert_allclose(distributed.best_score_, sequential.best_score_, rtol=1e-5)
    np.testing.assert_allclose(distributed.predict_proba(X), sequential.predict_proba(X), rtol=1e-5, atol=1e-7)
