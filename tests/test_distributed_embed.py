"""Embedding on a Dask cluster: ``distributed.embed`` and ``sklearn-ssl embed --dask`` on a
LocalCluster of 2 processes give exactly ``transform`` on the whole array."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")
h5py = pytest.importorskip("h5py")

from dask.distributed import Client, LocalCluster  # noqa: E402

from sklearn_ssl import ContrastiveEmbedder, cli  # noqa: E402
from sklearn_ssl.io.distributed import embed  # noqa: E402


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask_embed")
    X = np.abs(np.random.default_rng(0).standard_normal((45, 3, 12, 12))).astype("float32")
    np.save(d / "x.npy", X)
    np.save(d / "x.ids.npy", np.array([f"obj{i}" for i in range(len(X))]))
    with h5py.File(d / "x.h5", "w") as f:
        f["images"] = X
    model = ContrastiveEmbedder(max_epochs=1, batch_size=8, random_state=0, device="cpu").fit(X)
    model.save(d / "model.joblib")
    return d, X, model, model.transform(X)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def test_embed_without_a_cluster_equals_transform(fitted):
    d, X, model, Z = fitted
    np.testing.assert_array_equal(embed(model, d / "x.npy", chunk_size=10), Z)  # rounded up to 16
    np.testing.assert_array_equal(embed(model, X), Z)


def test_embed_on_two_processes_equals_transform(fitted, client, tmp_path):
    d, X, model, Z = fitted
    np.testing.assert_array_equal(embed(model, d / "x.npy", client=client, chunk_size=16), Z)
    with h5py.File(d / "x.h5", "r") as f:  # workers reopen the file by name
        embed(model, f["images"], client=client, chunk_size=8, out=tmp_path / "z.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "z.npy"), Z)
    embed(model, np.load(d / "x.npy", mmap_mode="r"), client=client, chunk_size=24, out=tmp_path / "z.parquet")
    table = pd.read_parquet(tmp_path / "z.parquet")
    assert list(table["id"][:2]) == ["obj0", "obj1"]  # ids found beside the .npy
    np.testing.assert_array_equal(table.drop(columns="id").to_numpy(), Z)


def test_model_is_scattered_once_to_every_worker(fitted, client, monkeypatch):
    d, _, model, Z = fitted
    calls = []
    scatter = type(client).scatter

    def spy(self, data, **kwargs):
        calls.append(kwargs)
        return scatter(self, data, **kwargs)

    monkeypatch.setattr(type(client), "scatter", spy)
    np.testing.assert_array_equal(embed(model, d / "x.npy", client=client, chunk_size=8), Z)  # 6 blocks
    assert len(calls) == 1 and calls[0]["broadcast"] is True


def test_embed_errors(fitted, tmp_path):
    d, X, model, _ = fitted
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(3, 12, 12\)"):
        embed(model, X[:, :2])
    with pytest.raises(ValueError, match="unsupported embeddings file extension"):
        embed(model, X, out=tmp_path / "z.csv")
    with pytest.raises(ValueError, match="3 ids for 45 images"):
        embed(model, X, ids=[1, 2, 3])


def test_cli_embed_dask(fitted, client, tmp_path, capsys):
    d, _, _, Z = fitted
    out = tmp_path / "z.npy"
    rc = cli.main(["embed", "--model", str(d / "model.joblib"), "--images", str(d / "x.h5"), "--out", str(out),
                   "--dask", client.scheduler.address, "--chunk-size", "16"])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), Z)
    rc = cli.main(["embed", "--model", str(d / "model.joblib"), "--images", str(d / "x.h5"),
                   "--out", str(tmp_path / "z.csv"), "--dask", client.scheduler.address])
    assert rc == 1 and "write .npy or .parquet" in capsys.readouterr().err
