"""SimilaritySearch with faiss indexes: recall, out-of-core builds, ids, save/load, the CLI, and life without faiss."""

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from sklearn_ssl import SimilaritySearch, cli
from sklearn_ssl.discovery import _index, load_index, save_index

# small settings: a few thousand 16-d points; 6-bit PQ codes of each dimension train on 39 * 64 points.
# One thread: OpenMP threads spin-waiting on a busy shared machine make tiny builds 50x slower.
IVFPQ = {"algorithm": "ivfpq", "nlist": 16, "nprobe": 8, "pq_m": 16, "pq_nbits": 6, "random_state": 0, "n_jobs": 1}
HNSW = {"algorithm": "hnsw", "n_jobs": 1}


def clustered(n=2000, d=16, k=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    return (centres[rng.integers(k, size=n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def recall(found, truth):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)])


@pytest.fixture
def faiss():
    return pytest.importorskip("faiss")


@pytest.mark.parametrize("params", [IVFPQ, HNSW], ids=["ivfpq", "hnsw"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_recall_against_exact_search(faiss, params, metric):
    X, Q = clustered(), clustered(200, seed=1)
    exact = SimilaritySearch(n_neighbors=10, metric=metric, algorithm="brute").fit(X)
    approx = SimilaritySearch(n_neighbors=10, metric=metric, **params).fit(X)
    D0, I0 = exact.kneighbors(Q)
    D, I = approx.kneighbors(Q)
    assert approx.algorithm_ == params["algorithm"] and approx.n_samples_fit_ == len(X)
    assert recall(I, I0) >= 0.9
    # distances are the metric's (IVF-PQ: estimated from the codes)
    np.testing.assert_allclose(D[:, 0], D0[:, 0], atol=0.05 if params is IVFPQ else 1e-4, rtol=0.05)
    # the indexed points as queries: each is not its own neighbour (scikit-learn's convention)
    D_self, I_self = approx.kneighbors()
    assert I_self.shape == (len(X), 10) and not (I_self == np.arange(len(X))[:, None]).any()
    assert recall(I_self[:200], exact.kneighbors()[1][:200]) >= 0.9
    scores = approx.score_samples()
    np.testing.assert_allclose(scores, -D_self.mean(axis=1))


def test_auto_chooses_by_size(faiss, monkeypatch):
    assert _index.resolve_algorithm("auto", 50_000) == "brute"
    assert _index.resolve_algorithm("auto", 500_000) == "hnsw"
    assert _index.resolve_algorithm("auto", 50_000_000) == "ivfpq"
    settings = _index.index_settings("ivfpq", 10**8, 128)
    assert settings["nlist"] == 8192 and settings["pq_m"] == 64 and settings["nprobe"] == 64
    monkeypatch.setattr(_index, "EXACT_BELOW", 100)
    assert SimilaritySearch().fit(clustered(300)).algorithm_ == "hnsw"
    assert SimilaritySearch().fit(clustered(50)).algorithm_ == "brute"


def test_without_faiss_the_error_names_the_extra_and_exact_search_works(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    X = clustered(300)
    for algorithm in ("hnsw", "ivfpq"):
        with pytest.raises(ImportError, match=r"pip install 'sklearn-ssl\[search\]'"):
            SimilaritySearch(algorithm=algorithm).fit(X)
    exact = SimilaritySearch(algorithm="brute", n_neighbors=3).fit(X)
    assert exact.kneighbors(X[:2])[1].shape == (2, 3)
    monkeypatch.setattr(_index, "EXACT_BELOW", 100)  # "auto" on a large set falls back to exact, and says so
    with pytest.warns(UserWarning, match=r"sklearn-ssl\[search\]"):
        assert SimilaritySearch().fit(X).algorithm_ == "brute"


def test_faiss_index_needs_a_faiss_metric(faiss):
    with pytest.raises(ValueError, match="algorithm='brute'"):
        SimilaritySearch(algorithm="hnsw", metric="manhattan").fit(clustered(100))


def test_out_of_core_build_from_a_memmap_or_parquet_equals_the_in_memory_build(faiss, tmp_path):
    X = clustered(1000)
    np.save(tmp_path / "emb.npy", X)
    ids = np.array([f"obj{i}" for i in range(len(X))])
    np.save(tmp_path / "emb.ids.npy", ids)  # as `sklearn-ssl convert` writes ids beside a .npy file
    pd.DataFrame(X, columns=[f"emb{j}" for j in range(16)]).assign(id=ids)[
        ["id", *[f"emb{j}" for j in range(16)]]].to_parquet(tmp_path / "emb.parquet", row_group_size=300)
    Q = clustered(50, seed=2)
    memory = SimilaritySearch(**IVFPQ).fit(X)
    from_npy = SimilaritySearch(chunk_size=256, **IVFPQ).fit(tmp_path / "emb.npy")  # a path: read in chunks
    from_memmap = SimilaritySearch(chunk_size=256, **IVFPQ).fit(np.load(tmp_path / "emb.npy", mmap_mode="r"))
    from_parquet = SimilaritySearch(chunk_size=256, **IVFPQ).fit(str(tmp_path / "emb.parquet"))
    D, I = memory.kneighbors(Q)
    for built in (from_npy, from_memmap, from_parquet):
        D2, I2 = built.kneighbors(Q)
        np.testing.assert_array_equal(I2, I)
        np.testing.assert_allclose(D2, D, rtol=1e-6)
    assert memory.ids_ is None and memory.source_ is None
    np.testing.assert_array_equal(from_npy.ids_, ids)
    np.testing.assert_array_equal(from_parquet.ids_, ids)
    assert from_memmap.source_ == (tmp_path / "emb.npy").resolve()


@pytest.mark.parametrize("params", [IVFPQ, HNSW, {"algorithm": "brute"}], ids=["ivfpq", "hnsw", "brute"])
def test_save_load_round_trip_keeps_ids_and_answers(faiss, tmp_path, params):
    X, Q = clustered(1000), clustered(20, seed=3)
    ids = np.array([f"SDSS J{i:06d}" for i in range(len(X))])
    search = SimilaritySearch(n_neighbors=5, **params).fit(X, ids=ids)
    path = save_index(search, tmp_path / "survey.index")
    assert [p.name for p in tmp_path.iterdir()] == ["survey.index"]  # no temporary file left behind
    loaded = load_index(path)
    assert loaded.get_params() == search.get_params() and loaded.algorithm_ == search.algorithm_
    np.testing.assert_array_equal(loaded.ids_, ids)
    for a, b in zip(loaded.kneighbors(Q), search.kneighbors(Q)):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(loaded.search(ids=["SDSS J000007"]), search.search(ids=["SDSS J000007"]))
    # pickling (joblib, clone) works too, faiss index included
    unpickled = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(unpickled.kneighbors(Q)[1], search.kneighbors(Q)[1])
    assert clone(search).get_params() == search.get_params()


def test_query_by_id_excludes_the_object_and_matches_exact_search(faiss):
    X = clustered(1000)
    ids = np.arange(len(X)) * 10 + 5
    exact = SimilaritySearch(n_neighbors=6, algorithm="brute").fit(X, ids=ids)
    approx = SimilaritySearch(n_neighbors=6, ef_search=256, **HNSW).fit(X, ids=ids)
    for search in (exact, approx):
        table = search.search(ids=[15, "25"])  # the command line gives strings
        assert list(table.columns) == ["query", "rank", "id", "distance"]
        assert len(table) == 12 and not (table["query"].astype(str) == table["id"].astype(str)).any()
        assert (np.diff(table["distance"].to_numpy().reshape(2, 6), axis=1) >= -1e-7).all()
    D0, I0 = exact.kneighbors(X[[1, 2]], n_neighbors=7)  # the vectors themselves: first hit is the object
    np.testing.assert_array_equal(approx.kneighbors_of_ids([15, 25])[1], I0[:, 1:])
    with pytest.raises(ValueError, match=r"unknown id\(s\) 7, 'x'"):
        approx.search(ids=[7, "x"])
    with pytest.raises(ValueError, match="either query"):
        approx.search()


def test_query_by_id_uses_the_exact_vector_from_the_source_file(faiss, tmp_path):
    X = clustered(1000)
    np.save(tmp_path / "emb.npy", X)
    search = SimilaritySearch(n_neighbors=5, metric="euclidean", **IVFPQ).fit(tmp_path / "emb.npy")
    np.testing.assert_array_equal(search._vectors(np.array([3, 4])), X[[3, 4]])
    (tmp_path / "emb.npy").unlink()  # gone: the index's own (approximate) vectors are used
    approx = search._vectors(np.array([3, 4]))
    assert not np.array_equal(approx, X[[3, 4]]) and np.allclose(approx, X[[3, 4]], atol=0.5)
    assert search.search(ids=[3]).shape == (5, 4)


def test_cli_index_then_search(faiss, tmp_path, capsys):
    from sklearn_ssl.io import save_embeddings

    X = clustered(1200)
    ids = np.array([f"gal{i}" for i in range(len(X))])
    save_embeddings(tmp_path / "emb.parquet", X, ids)
    out = tmp_path / "emb.index"
    assert cli.main(["index", "--embeddings", str(tmp_path / "emb.parquet"), "--out", str(out), "--algorithm",
                     "hnsw"]) == 0
    assert "indexed 1200 embeddings of 16 features with hnsw" in capsys.readouterr().out
    assert cli.main(["search", "--index", str(out), "--id", "gal3", "--id", "gal4", "-k", "4", "--csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    exact = SimilaritySearch(n_neighbors=4, algorithm="brute").fit(X, ids=ids).search(ids=["gal3", "gal4"])
    assert list(table["id"]) == list(exact["id"]) and list(table["rank"]) == [1, 2, 3, 4] * 2
    np.testing.assert_allclose(table["distance"], exact["distance"], atol=1e-5)
    assert cli.main(["search", "--index", str(out), "--id", "gal3", "-k", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["query", "rank", "id", "distance"] and len(printed) == 3
    # errors: one line, exit status 1
    assert cli.main(["search", "--index", str(out), "--id", "nope", "-k", "2"]) == 1
    assert capsys.readouterr().err.strip() == (
        "sklearn-ssl: error: unknown id(s) 'nope': not among the 1200 indexed objects.")
    assert cli.main(["search", "--index", str(tmp_path / "missing.index"), "--id", "gal1"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["index", "--embeddings", str(tmp_path / "emb.parquet"), "--out", str(tmp_path / "x.npy")]) == 1
    assert "unsupported index file extension" in capsys.readouterr().err
    assert cli.main(["index", "--embeddings", str(tmp_path / "emb.parquet"), "--out", str(out)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_bad_input_names_the_problem(faiss, tmp_path):
    X = clustered(200)
    with pytest.raises(ValueError, match="appear more than once"):
        SimilaritySearch(**HNSW).fit(X, ids=np.zeros(len(X)))
    with pytest.raises(ValueError, match="199 ids for 200 embeddings"):
        SimilaritySearch(**HNSW).fit(X, ids=np.arange(199))
    bad = X.copy()
    bad[150, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SimilaritySearch(chunk_size=64, **HNSW).fit(bad)
    with pytest.raises(ValueError, match="pq_m=5 must divide the embedding dimension 16"):
        SimilaritySearch(algorithm="ivfpq", pq_m=5).fit(X)
    (tmp_path / "junk.index").write_text("not an index")
    with pytest.raises(ValueError, match="not an index"):
        load_index(tmp_path / "junk.index")


@pytest.mark.slow
def test_benchmark_script_writes_rows_and_meta(faiss, tmp_path):
    """benchmarks/similarity_index.py end to end on a tiny set (HNSW only: IVF-PQ's 64 sub-quantizers take long)."""
    import json
    import os
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "similarity_index.py")
    proc = subprocess.run([sys.executable, script, "--n", "3000", "--queries", "20", "--sklearn-queries", "5",
                           "--n-clusters", "10", "--algorithms", "hnsw", "--ef-search", "16",
                           "--workdir", str(tmp_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "out" / "rows_n3000.csv")
    assert list(rows["algorithm"]) == ["exact (faiss IndexFlatL2)", "exact (SimilaritySearch brute, scikit-learn)",
                                       "hnsw", "hnsw"]
    assert (rows["recall_at_10"] > 0.5).all() and (rows["queries_per_s"] > 0).all()
    meta = json.loads((tmp_path / "out" / "meta_n3000.json").read_text())
    assert {"command", "git_commit", "date_utc", "machine"} <= set(meta)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the embeddings file was temporary


@pytest.mark.parametrize("params", [HNSW, IVFPQ], ids=["hnsw", "ivfpq"])
def test_faiss_indexes_are_scikit_learn_estimators(faiss, params):
    from sklearn.utils.estimator_checks import check_estimator

    params = {**params, "nlist": 2, "pq_m": 1, "pq_nbits": 2} if params is IVFPQ else params  # 4 codes: tiny data
    results = check_estimator(SimilaritySearch(n_neighbors=3, **params), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert failed == {}
