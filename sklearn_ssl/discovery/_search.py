"""SimilaritySearch: look-alikes and a k-nearest-neighbour rarity score, exact or with a faiss index."""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.sparse import issparse
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..utils import Interval, StrOptions
from . import _index
from ._index import FAISS_ALGORITHMS, EmbeddingSource

__all__ = ["SimilaritySearch"]

_SKLEARN_TREES = ("ball_tree", "kd_tree")  # exact, scikit-learn's; kept for code written before faiss


class SimilaritySearch(BaseEstimator):
    """Nearest neighbours of embeddings (Stein et al. 2022's look-alike search), exact or approximate,
    and a k-nearest-neighbour outlier score for rare-object searches (:meth:`score_samples`).

    Exact search is scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`, fine for a
    few 10^5 embeddings. Beyond, a faiss index (``pip install 'sklearn-ssl[search]'``)
    answers in a fraction of the time: HNSW (a graph over the vectors, ~770 bytes per
    128-d object) or IVF-PQ (a coarse quantizer and a product-quantised code, a few tens
    of bytes per object, for 10^8 objects). See :doc:`/search_at_scale`.

    Parameters
    ----------
    n_neighbors : int, default=8
        Neighbours returned by :meth:`kneighbors` and averaged by :meth:`score_samples`.
    metric : str or callable, default="cosine"
        Exact search: any metric of :class:`sklearn.neighbors.NearestNeighbors`. faiss
        indexes: ``"cosine"`` or ``"euclidean"``.
    algorithm : {"auto", "brute", "ivfpq", "hnsw", "ball_tree", "kd_tree"}, default="auto"
        ``"brute"``: exact (scikit-learn; ``"ball_tree"``/``"kd_tree"`` are its exact trees).
        ``"hnsw"``, ``"ivfpq"``: faiss. ``"auto"``: exact below 100,000 embeddings or
        without faiss, HNSW below 2,000,000, IVF-PQ beyond.
    nlist, nprobe : int or None, default=None
        IVF-PQ: inverted lists (default about sqrt(n), a power of two) and lists visited
        per query (default nlist/128, at least 8). More ``nprobe``: better recall, slower.
        ``nprobe`` and ``ef_search`` may be changed with ``set_params`` after ``fit``: the
        next query uses them, without rebuilding the index.
    pq_m, pq_nbits : int or None, int, default=None, 8
        IVF-PQ: sub-quantizers (must divide the dimension; default about d/2) and bits per
        code; an object takes ``pq_m * pq_nbits / 8`` bytes.
    hnsw_m, ef_construction, ef_search : int or None, default=32, 64, None
        HNSW: links per node, candidate list while building, candidate list per query
        (default 128; more: better recall, slower).
    training_size : int or None, default=None
        IVF-PQ: embeddings sampled (without replacement) to train the quantizers;
        default max(64 * nlist, 39 * 2**pq_nbits).
    chunk_size : int, default=65536
        Embeddings added to a faiss index, or queried, at a time: the memory that
        building and scoring take beyond the index itself.
    n_jobs : int or None, default=None
        Threads (exact search: scikit-learn's ``n_jobs``; faiss: its OpenMP threads, during
        the call only). None: the library's default.
    random_state : int, RandomState instance or None, default=None
        Draws the IVF-PQ training sample and seeds its k-means.

    Attributes
    ----------
    algorithm_ : str
        The algorithm used ("auto" resolved).
    index_ : faiss.Index or sklearn.neighbors.NearestNeighbors
        The fitted index.
    index_params_ : dict
        The faiss settings used (defaults filled in); empty for exact search.
    n_samples_fit_ : int
        Indexed embeddings.
    ids_ : ndarray of shape (n_samples_fit_,) or None
        Object ids given to :meth:`fit` (or read from its file), used by
        :meth:`kneighbors_of_ids`, :meth:`search` and :func:`~sklearn_ssl.discovery.save_index`.
    source_ : pathlib.Path or None
        The ``.npy`` or Parquet file the embeddings were read from, when there was one:
        queries by id read the exact vector from it (a faiss IVF-PQ index holds only an
        approximate one).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(100, 16))
    >>> search = SimilaritySearch(n_neighbors=3).fit(Z)
    >>> dist, idx = search.kneighbors(Z[:1])
    >>> int(idx[0, 0])
    0
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "algorithm": [StrOptions({*_index.ALGORITHMS, *_SKLEARN_TREES})],
        "nlist": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "nprobe": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "pq_m": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "pq_nbits": [Interval(numbers.Integral, 1, 16, closed="both")],
        "hnsw_m": [Interval(numbers.Integral, 2, None, closed="left")],
        "ef_construction": [Interval(numbers.Integral, 1, None, closed="left")],
        "ef_search": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "training_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
    }

    def __init__(self, n_neighbors=8, metric="cosine", algorithm="auto", *, nlist=None, nprobe=None, pq_m=None,
                 pq_nbits=8, hnsw_m=32, ef_construction=64, ef_search=None, training_size=None, chunk_size=65536,
                 n_jobs=None, random_state=None):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.algorithm = algorithm
        self.nlist = nlist
        self.nprobe = nprobe
        self.pq_m = pq_m
        self.pq_nbits = pq_nbits
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.training_size = training_size
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y=None, *, ids=None):
        """Index embeddings ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), numpy.memmap, or str/path
            Embeddings; a memory map or a file (``.npy``, ``.parquet``, ``.csv``, as written
            by ``sklearn-ssl embed`` or :func:`sklearn_ssl.io.distributed.embed`) is read
            ``chunk_size`` rows at a time by the faiss indexes, never whole.
        y : None
            Ignored.
        ids : array-like of shape (n_samples,) or None
            Object ids (unique); default: a file's ids (a table's ``id`` column, or
            ``<name>.ids.npy`` beside a ``.npy`` file), else none (positions are the ids).

        Returns
        -------
        self : SimilaritySearch
        """
        self._validate_params()
        source = EmbeddingSource.open(X) if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__") else None
        n = source.n if source is not None else _n_rows(X)
        algorithm = _index.resolve_algorithm(self.algorithm, n)
        if (self.algorithm == "auto" and algorithm == "brute" and n >= _index.EXACT_BELOW
                and not _index.faiss_available()):
            warnings.warn(f"{n} embeddings: exact search without faiss; for an approximate index that answers much "
                          "faster, pip install 'sklearn-ssl[search]'.", UserWarning, stacklevel=2)
        if algorithm in FAISS_ALGORITHMS:
            _index.import_faiss(f"algorithm={algorithm!r}")
            if self.metric not in _index.FAISS_METRICS:
                raise ValueError(f"metric={self.metric!r}: the faiss indexes (algorithm={algorithm!r}) compute "
                                 f"{' or '.join(map(repr, _index.FAISS_METRICS))} distances; use "
                                 "algorithm='brute' for other metrics.")
            if source is None:
                first = X if issparse(X) else X.iloc[:2] if hasattr(X, "iloc") else X[:2]  # sparse: refused here
                validate_data(self, first, reset=True)  # feature names and count; chunks are checked as added
                source = EmbeddingSource.from_array(X.to_numpy() if hasattr(X, "iloc") else X)
            else:
                validate_data(self, source.rows(np.arange(min(source.n, 2))), reset=True)
            self._fit_faiss(source, algorithm)
        else:
            if source is not None:
                X = source.rows(np.arange(source.n))
            X = validate_data(self, X, reset=True)
            self.index_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(X)), metric=self.metric,
                                           algorithm=algorithm, n_jobs=self.n_jobs).fit(X)
            self._X = X  # the indexed vectors, for queries by id (the same array NearestNeighbors holds)
            self.index_params_, self.n_samples_fit_ = {}, len(X)
        self.algorithm_ = algorithm
        self.source_ = None if source is None else source.path
        ids = source.ids if ids is None and source is not None else ids
        self.ids_ = None if ids is None else _check_ids(ids, self.n_samples_fit_)
        self._lookup = None
        return self

    def _fit_faiss(self, source: EmbeddingSource, algorithm: str) -> None:
        n, d = source.n, source.dim
        settings = _index.index_settings(
            algorithm, n, d, nlist=self.nlist, nprobe=self.nprobe, pq_m=self.pq_m, pq_nbits=self.pq_nbits,
            hnsw_m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=self.ef_search,
            training_size=self.training_size)
        index = _index.make_index(algorithm, d, settings)
        with self._threads():
            if algorithm == "ivfpq":
                rng = check_random_state(self.random_state)
                sample = np.sort(rng.choice(n, size=settings["training_size"], replace=False))
                train = _index.prepare(self._checked(source.rows(sample)), self.metric)
                index.cp.seed = index.pq.cp.seed = int(rng.randint(np.iinfo(np.int32).max))  # k-means seeds
                index.train(train)
                del train
            for _, chunk in source.chunks(self.chunk_size):
                index.add(_index.prepare(self._checked(chunk), self.metric))
            if algorithm == "ivfpq":
                index.make_direct_map()  # reconstruct(i): an indexed object's (approximate) vector, for queries by id
        self.index_, self.index_params_, self.n_samples_fit_ = index, settings, int(index.ntotal)

    def _checked(self, chunk) -> np.ndarray:
        return check_array(chunk, dtype=[np.float32, np.float64], input_name="X")

    @contextlib.contextmanager
    def _threads(self):
        """faiss's OpenMP threads set to ``n_jobs`` for the duration of a call."""
        if self.n_jobs is None:
            yield
            return
        faiss = _index.import_faiss()
        before = faiss.omp_get_max_threads()
        if self.n_jobs is not None:
            faiss.omp_set_num_threads(int(self.n_jobs) if self.n_jobs > 0 else max(1, before + 1 + self.n_jobs))
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)

    # -- queries ---------------------------------------------------------------------------------
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Distances and positions of the nearest indexed embeddings to each query.

        With ``X=None`` the indexed points are the queries and each point is not its own
        neighbour (scikit-learn's convention). A faiss index is approximate: it may miss
        some true neighbours, and IVF-PQ distances are estimates from the compressed
        codes.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None
        n_neighbors : int or None
            Default: ``n_neighbors``.
        return_distance : bool, default=True

        Returns
        -------
        dist : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance``; nearest first. A faiss index that finds fewer
            than ``n_neighbors`` candidates (a small ``nprobe``) pads with ``inf``.
        ind : ndarray of shape (n_queries, n_neighbors)
            Positions in the indexed embeddings (``-1`` with an ``inf`` distance for padding).
        """
        check_is_fitted(self, "index_")
        if X is not None:
            X = validate_data(self, X, reset=False)
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        available = self.n_samples_fit_ - (X is None)  # a point is not its own neighbour
        if k < 1 or k > available:
            raise ValueError(
                f"n_neighbors={k} but only {available} indexed embeddings can be returned"
                f"{' (the queries are the indexed points, each excluded from its own neighbours)' if X is None else ''}; "
                f"ask for between 1 and {available}, or index more embeddings."
            )
        if self.algorithm_ not in FAISS_ALGORITHMS:
            return self.index_.kneighbors(X, n_neighbors=k, return_distance=return_distance)
        if X is None:
            dist, ind = self._faiss_self_neighbors(k)
        else:
            dist, ind = self._faiss_search(X, k)
        return (dist, ind) if return_distance else ind

    def _faiss_search(self, X, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """faiss search of ``X`` in chunks; ``exclude`` (positions, one per query) drops each query's own row."""
        dists, inds = [], []
        extra = 0 if exclude is None else 1
        settings = dict(self.index_params_)  # nprobe / ef_search set after fit apply to queries without a refit
        settings.update({key: value for key, value in (("nprobe", self.nprobe), ("ef_search", self.ef_search))
                         if value is not None and key in settings})
        _index.set_search_settings(self.index_, self.algorithm_, settings)
        with self._threads():
            for start in range(0, len(X), self.chunk_size):
                D, I = self.index_.search(_index.prepare(X[start:start + self.chunk_size], self.metric), k + extra)
                if exclude is not None:
                    D, I = _drop_self(D, I, np.asarray(exclude[start:start + self.chunk_size]))
                dists.append(D)
                inds.append(I)
        D, I = np.concatenate(dists), np.concatenate(inds).astype(np.intp)
        dist = _index.distances_from_faiss(D, self.metric)
        dist[I < 0] = np.inf
        return dist, I

    def _faiss_self_neighbors(self, k: int):
        parts = [self._faiss_search(self._vectors(np.arange(a, min(a + self.chunk_size, self.n_samples_fit_))), k,
                                    exclude=np.arange(a, min(a + self.chunk_size, self.n_samples_fit_)))
                 for a in range(0, self.n_samples_fit_, self.chunk_size)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _vectors(self, positions: np.ndarray) -> np.ndarray:
        """Indexed embeddings at sorted ``positions``: exact from the source file when it is still there
        (and the same size), else reconstructed by the faiss index (IVF-PQ: approximately)."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.algorithm_ not in FAISS_ALGORITHMS:
            return self._X[positions]
        source = self._source()
        if source is not None:
            return np.asarray(source.rows(positions), dtype=np.float32)
        out = np.empty((len(positions), self.n_features_in_), np.float32)
        for j, p in enumerate(positions):
            out[j] = self.index_.reconstruct(int(p))
        return out

    def _source(self):
        path = getattr(self, "source_", None)
        if path is None:
            return None
        try:
            source = EmbeddingSource.open(path)
        except (OSError, ValueError, ImportError):
            return None
        return source if (source.n, source.dim) == (self.n_samples_fit_, self.n_features_in_) else None

    def score_samples(self, X=None):
        """Typicality of each query: minus its mean distance to its ``n_neighbors`` nearest indexed points.

        scikit-learn's outlier convention (as
        :meth:`sklearn.neighbors.LocalOutlierFactor.score_samples`): the lower, the more
        abnormal. Sorting a survey's embeddings by this score (ascending) ranks the
        objects least like any other first, a k-nearest-neighbour distance anomaly score
        (Ramaswamy et al. 2000) as used for rare-object searches in contrastive embeddings.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None
            Queries; None scores the indexed points themselves, each without counting
            itself as a neighbour.

        Returns
        -------
        scores : ndarray of shape (n_queries,)
        """
        dist, _ = self.kneighbors(X)
        return -dist.mean(axis=1)

    # -- ids -------------------------------------------------------------------------------------
    def positions_of(self, ids) -> np.ndarray:
        """Positions of object ``ids`` in the index; a ValueError names ids that are not indexed."""
        check_is_fitted(self, "index_")
        ids = np.atleast_1d(np.asarray(ids, dtype=object if not hasattr(ids, "dtype") else None))
        if self.ids_ is None:
            try:
                pos = np.asarray(ids, dtype=np.int64)
            except (TypeError, ValueError):
                raise ValueError(f"ids {list(ids[:5])} are unknown: the index has no ids (its objects are "
                                 f"numbered 0 to {self.n_samples_fit_ - 1}).") from None
            bad = ids[(pos < 0) | (pos >= self.n_samples_fit_)]
        else:
            if getattr(self, "_lookup", None) is None:
                self._lookup = pd.Index(self.ids_)
            pos = self._lookup.get_indexer(_like(ids, self.ids_))
            bad = ids[pos < 0]
        if len(bad):
            shown = ", ".join(repr(_plain(b)) for b in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise ValueError(f"unknown id(s) {shown}: not among the {self.n_samples_fit_} indexed objects.")
        return pos.astype(np.intp)

    def kneighbors_of_ids(self, ids, n_neighbors=None):
        """Look-alikes of indexed objects, by id: each object is not its own neighbour.

        Returns
        -------
        dist, ind : ndarray of shape (len(ids), n_neighbors)
            As :meth:`kneighbors`; ``ind`` are positions (``ids_[ind]`` are the ids).
        """
        pos = self.positions_of(ids)
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        if k < 1 or k > self.n_samples_fit_ - 1:
            raise ValueError(f"n_neighbors={k} but only {self.n_samples_fit_ - 1} other objects are indexed; ask "
                             f"for between 1 and {self.n_samples_fit_ - 1}.")
        order = np.argsort(pos, kind="stable")
        vectors = np.empty((len(pos), self.n_features_in_), np.float64)
        vectors[order] = self._vectors(pos[order])
        if self.algorithm_ in FAISS_ALGORITHMS:
            return self._faiss_search(vectors, k, exclude=pos)
        D, I = self.index_.kneighbors(vectors, n_neighbors=k + 1)
        D, I = _drop_self(D, I, pos)
        return D, I

    def search(self, query=None, *, ids=None, n_neighbors=None) -> pd.DataFrame:
        """Look-alikes as a table: of embedding vectors (``query``) or of indexed objects (``ids``).

        Returns
        -------
        table : pandas.DataFrame
            Columns ``query`` (the query's id, or its row number in ``query``), ``rank``
            (1 = nearest), ``id`` (the neighbour's id, or its position when the index has
            no ids) and ``distance``; ``n_neighbors`` rows per query.
        """
        if (query is None) == (ids is None):
            raise ValueError("give either query (embedding vectors) or ids (indexed objects), not both or neither.")
        if ids is not None:
            dist, ind = self.kneighbors_of_ids(ids, n_neighbors)
            names = np.atleast_1d(np.asarray(ids, dtype=object))
        else:
            dist, ind = self.kneighbors(np.atleast_2d(query), n_neighbors)
            names = np.arange(len(ind))
        k = ind.shape[1]
        found = ind >= 0
        labels = np.where(found, ind, 0) if self.ids_ is None else self.ids_[np.where(found, ind, 0)]
        table = pd.DataFrame({"query": np.repeat(names, k), "rank": np.tile(np.arange(1, k + 1), len(ind)),
                              "id": labels.ravel(), "distance": dist.ravel()})
        return table[found.ravel()].reset_index(drop=True)

    # -- pickling: a faiss index is serialised to bytes ------------------------------------------
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_lookup", None)
        if getattr(self, "algorithm_", None) in FAISS_ALGORITHMS and "index_" in state:
            state["index_"] = _index.import_faiss().serialize_index(state["index_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        if state.get("algorithm_") in FAISS_ALGORITHMS and isinstance(state.get("index_"), np.ndarray):
            state["index_"] = _index.import_faiss("loading a faiss index").deserialize_index(state["index_"])
        state["_lookup"] = None
        super().__setstate__(state) if hasattr(super(), "__setstate__") else self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _n_rows(X) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def _drop_self(D: np.ndarray, I: np.ndarray, own: np.ndarray):
    """Each row's neighbours without the row's own position (or, when not found, without the farthest)."""
    mask = I == own[:, None]
    missing = ~mask.any(axis=1)
    mask[missing, -1] = True
    first = mask.cumsum(axis=1).cumsum(axis=1) == 1  # only the first match is dropped
    keep = ~(mask & first)
    n, k = I.shape
    return D[keep].reshape(n, k - 1), I[keep].reshape(n, k - 1)


def _check_ids(ids, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) != n:
        raise ValueError(f"{len(ids) if ids.ndim == 1 else ids.shape} ids for {n} embeddings; give one id per row.")
    if ids.dtype.kind == "O":
        ids = ids.astype(str)
    series = pd.Series(ids)
    repeated = series[series.duplicated()].unique()
    if len(repeated):
        shown = ", ".join(repr(_plain(v)) for v in repeated[:5]) + (", ..." if len(repeated) > 5 else "")
        raise ValueError(f"{len(repeated)} id(s) appear more than once ({shown}); each object must have one id.")
    return ids


def _like(query: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Query ids in the dtype of the stored ids (the command line gives strings: "42" finds 42)."""
    if ids.dtype.kind in "iu":
        out = np.full(len(query), -1 if ids.dtype.kind == "i" else 0, dtype=np.int64)
        ok = np.zeros(len(query), bool)
        for j, q in enumerate(query):
            try:
                value = int(str(q)) if not isinstance(q, (numbers.Integral, np.integer)) else int(q)
            except ValueError:
                continue
            out[j], ok[j] = value, True
        return np.where(ok, out, np.iinfo(np.int64).min).astype(object) if not ok.all() else out
    return np.asarray([str(q) for q in query], dtype=object) if ids.dtype.kind in "UO" else query


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
