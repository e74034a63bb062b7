"""faiss indexes for :class:`~sklearn_ssl.discovery.SimilaritySearch`: choice, defaults, out-of-core input.

This module knows three things and nothing about estimators:

- which algorithm ``"auto"`` means for a given number of embeddings, and the usual
  defaults of each faiss index by size (:func:`resolve_algorithm`, :func:`index_settings`,
  :func:`make_index`);
- how to read embeddings a chunk at a time from what ``sklearn-ssl embed`` and
  :func:`sklearn_ssl.io.distributed.embed` write: a ``.npy`` file (a memory map; ids from
  ``<name>.ids.npy`` beside it, if any), a Parquet table (an ``id`` column, then
  ``emb0, emb1, ...``, read one record batch at a time) or a CSV table
  (:class:`EmbeddingSource`);
- the one error raised when faiss is missing (:func:`import_faiss`).

faiss is an optional dependency (``pip install 'sklearn-ssl[search]'``); exact search
(``algorithm="brute"``) is scikit-learn's and needs no faiss.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["ALGORITHMS", "FAISS_ALGORITHMS", "EXACT_BELOW", "import_faiss", "resolve_algorithm",
           "index_settings", "make_index", "EmbeddingSource", "prepare"]

#: ``algorithm`` values: ``"auto"``, exact (scikit-learn) and approximate (faiss).
ALGORITHMS = ("auto", "brute", "ivfpq", "hnsw")
FAISS_ALGORITHMS = ("ivfpq", "hnsw")
#: ``algorithm="auto"`` is exact brute force below this many embeddings.
EXACT_BELOW = 100_000
#: ``algorithm="auto"`` is HNSW below this many embeddings (when faiss is installed), IVF-PQ from it on:
#: HNSW keeps every vector (~770 bytes per 128-d object), IVF-PQ a code of ``pq_m`` bytes.
HNSW_BELOW = 2_000_000
#: faiss metrics: cosine distances are computed as squared L2 on unit vectors (``|a-b|^2 / 2``).
FAISS_METRICS = ("cosine", "euclidean")


def import_faiss(what: str = "approximate search"):
    """The faiss module, or an ImportError naming the extra that installs it."""
    try:
        import faiss
    except ImportError:
        raise ImportError(f"{what} needs faiss: pip install 'sklearn-ssl[search]' (or pip install faiss-cpu); "
                          "algorithm='brute' (exact) works without it.") from None
    return faiss


def faiss_available() -> bool:
    try:
        import_faiss()
    except ImportError:
        return False
    return True


def resolve_algorithm(algorithm: str, n_samples: int) -> str:
    """The algorithm ``algorithm`` means for ``n_samples`` embeddings.

    ``"auto"``: exact brute force below :data:`EXACT_BELOW` embeddings (or when faiss is
    not installed), HNSW below :data:`HNSW_BELOW`, IVF-PQ beyond (memory per object: a
    few tens of bytes instead of the whole vector).
    """
    if algorithm != "auto":
        return algorithm
    if n_samples < EXACT_BELOW or not faiss_available():
        return "brute"
    return "hnsw" if n_samples < HNSW_BELOW else "ivfpq"


def _power_of_two(x: float) -> int:
    return 2 ** max(0, round(math.log2(max(x, 1.0))))


def _pq_m(d: int) -> int:
    """Sub-quantizers of IVF-PQ: about one per two dimensions (64 bytes for 128-d), a divisor of ``d``."""
    target = max(1, d // 2)
    return max(m for m in range(1, target + 1) if d % m == 0)


def index_settings(algorithm: str, n_samples: int, n_features: int, *, nlist=None, nprobe=None, pq_m=None,
                   pq_nbits=8, hnsw_m=32, ef_construction=64, ef_search=None, training_size=None) -> dict:
    """The settings of a faiss index: the given ones, and defaults by size for those left None.

    IVF-PQ: ``nlist`` about sqrt(n) (a power of two, at least 16 and at most n/39 so that
    every list gets the 39 training points faiss asks for), ``nprobe`` = nlist/128 (at
    least 8), ``pq_m`` about d/2 sub-quantizers of ``pq_nbits`` bits, trained on
    ``training_size`` = max(64 * nlist, 2**pq_nbits * 39) sampled rows (at most n). HNSW:
    ``hnsw_m`` links per node, ``ef_construction``, ``ef_search`` = 128.
    """
    n, d = int(n_samples), int(n_features)
    if algorithm == "hnsw":
        return {"hnsw_m": int(hnsw_m), "ef_construction": int(ef_construction),
                "ef_search": int(ef_search) if ef_search is not None else 128}
    if algorithm != "ivfpq":
        return {}
    if nlist is None:
        nlist = min(_power_of_two(math.sqrt(n)), _power_of_two(n / 39 / 2) if n >= 78 else 1)
        nlist = max(nlist, min(16, max(1, n // 39)))
    nlist = int(nlist)
    m = int(pq_m) if pq_m is not None else _pq_m(d)
    if d % m:
        raise ValueError(f"pq_m={m} must divide the embedding dimension {d}; e.g. pq_m={_pq_m(d)}.")
    if nprobe is None:
        nprobe = min(nlist, max(8, nlist // 128))
    if training_size is None:
        training_size = max(64 * nlist, 39 * 2 ** int(pq_nbits))
    training_size = min(int(training_size), n)
    need = max(nlist, 2 ** int(pq_nbits))
    if training_size < need:
        raise ValueError(f"IVF-PQ with nlist={nlist} and pq_nbits={pq_nbits} needs at least {need} embeddings to "
                         f"train on, got {training_size} (n_samples={n}); lower nlist or pq_nbits, or use algorithm='hnsw' or "
                         "'brute'.")
    return {"nlist": nlist, "nprobe": int(min(nprobe, nlist)), "pq_m": m, "pq_nbits": int(pq_nbits),
            "training_size": training_size}


def make_index(algorithm: str, n_features: int, settings: dict):
    """An empty faiss index (squared L2; cosine is L2 on unit vectors) with ``settings`` applied."""
    faiss = import_faiss(f"algorithm={algorithm!r}")
    d = int(n_features)
    if algorithm == "hnsw":
        index = faiss.IndexHNSWFlat(d, settings["hnsw_m"])
        index.hnsw.efConstruction = settings["ef_construction"]
        index.hnsw.efSearch = settings["ef_search"]
        return index
    if algorithm == "ivfpq":
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFPQ(quantizer, d, settings["nlist"], settings["pq_m"], settings["pq_nbits"])
        index.own_fields = True  # the index owns (and frees, and serialises) its coarse quantizer
        quantizer.this.disown()
        index.nprobe = settings["nprobe"]
        index.do_polysemous_training = False  # only for polysemous search, which is not used; slow to train
        index.pq.cp.max_points_per_centroid = 39  # each sub-quantizer's k-means on <= 39 * 2**nbits points
        return index
    raise ValueError(f"algorithm={algorithm!r} is not a faiss index; use one of {FAISS_ALGORITHMS}.")


def set_search_settings(index, algorithm: str, settings: dict) -> None:
    """Apply the query-time knobs (``nprobe``, ``ef_search``) to a built index."""
    if algorithm == "hnsw":
        index.hnsw.efSearch = settings["ef_search"]
    elif algorithm == "ivfpq":
        import_faiss().extract_index_ivf(index).nprobe = settings["nprobe"]


def prepare(chunk, metric: str) -> np.ndarray:
    """A C-contiguous float32 copy of ``chunk`` as faiss takes it (unit rows for cosine; zero rows stay zero)."""
    chunk = np.array(chunk, dtype=np.float32, order="C", copy=True)
    if metric == "cosine":
        norms = np.linalg.norm(chunk, axis=1, keepdims=True)
        np.divide(chunk, norms, out=chunk, where=norms > 0)
    return chunk


def distances_from_faiss(D: np.ndarray, metric: str) -> np.ndarray:
    """faiss's squared L2 distances as the metric's distances (cosine: |a-b|^2/2 on unit vectors)."""
    D = np.maximum(np.asarray(D, dtype=np.float64), 0.0)
    return D / 2.0 if metric == "cosine" else np.sqrt(D)


class EmbeddingSource:
    """Embeddings read a chunk at a time: an array (or memory map), a ``.npy``, ``.parquet`` or ``.csv`` file.

    Attributes
    ----------
    n, dim : int
        Rows and features.
    ids : ndarray of shape (n,) or None
        Object ids: a table's ``id`` column, or ``<name>.ids.npy`` beside a ``.npy`` file.
    path : pathlib.Path or None
        The file (also for a memory map of a whole ``.npy`` file), else None.
    """

    def __init__(self, data=None, *, parquet=None, columns=None, path=None, ids=None):
        self._data, self._parquet, self._columns = data, parquet, columns
        self.path, self.ids = path, ids
        if data is not None:
            self.n, self.dim = int(data.shape[0]), int(data.shape[1])
        else:
            self.n, self.dim = int(parquet.metadata.num_rows), len(columns)

    @classmethod
    def from_array(cls, X) -> EmbeddingSource:
        """An in-memory array or a memory map (read where it is)."""
        path = None
        if isinstance(X, np.memmap) and getattr(X, "filename", None):
            candidate = Path(X.filename)
            if candidate.suffix.lower() == ".npy":
                whole = np.load(candidate, mmap_mode="r", allow_pickle=False)
                path = candidate.resolve() if whole.shape == X.shape and whole.dtype == X.dtype else None
        data = X if isinstance(X, np.ndarray) else np.asarray(X)
        if data.ndim != 2:
            raise ValueError(f"expected embeddings of shape (n_samples, n_features); got shape {data.shape}.")
        return cls(data, path=path)

    @classmethod
    def open(cls, path) -> EmbeddingSource:
        """Open an embeddings file without reading it whole (CSV tables are read whole)."""
        from ..io import ids_path, load_embeddings, parquet_engine

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory.")
        name = path.name.lower()
        if name.endswith(".npy"):
            try:
                data = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: cannot be read as a .npy array ({' '.join(str(exc).split())}).") from exc
            if data.ndim != 2 or 0 in data.shape or data.dtype.kind not in "fiu":
                raise ValueError(f"{path}: expected a non-empty numeric (n_samples, n_features) array; got "
                                 f"shape {data.shape}, dtype {data.dtype}.")
            ids = None
            if ids_path(path).exists():
                ids = np.load(ids_path(path), allow_pickle=False)
                if ids.shape != (len(data),):
                    raise ValueError(f"{ids_path(path)}: {ids.shape} ids for {len(data)} embeddings; delete or "
                                     "rewrite it.")
            return cls(data, path=path.resolve(), ids=ids)
        if name.endswith(".parquet"):
            parquet_engine()
            import pyarrow.parquet as pq

            try:
                parquet = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises its own ArrowInvalid for a file that is not Parquet
                raise ValueError(f"{path}: cannot be read as Parquet ({' '.join(str(exc).split())}).") from exc
            schema = parquet.schema_arrow
            columns = [f.name for f in schema if f.name != "id"]
            bad = [f.name for f in schema if f.name != "id" and not (
                str(f.type).startswith(("float", "double", "int", "uint", "halffloat")))]
            if bad or not columns or parquet.metadata.num_rows == 0:
                raise ValueError(f"{path}: expected a non-empty table of numeric embedding columns (and an 'id' "
                                 f"column); non-numeric columns: {bad[:5]}, rows: {parquet.metadata.num_rows}.")
            ids = parquet.read(columns=["id"]).column("id").to_numpy() if "id" in schema.names else None
            return cls(parquet=parquet, columns=columns, path=path.resolve(), ids=ids)
        Z, ids = load_embeddings(path)  # .csv (and the message for any other suffix)
        return cls(Z, ids=ids)

    def chunks(self, chunk_size: int):
        """Yield ``(start, rows)`` in order, ``chunk_size`` rows at a time."""
        if self._data is not None:
            for start in range(0, self.n, chunk_size):
                yield start, np.asarray(self._data[start:start + chunk_size])
            return
        start = 0
        for batch in self._parquet.iter_batches(batch_size=chunk_size, columns=self._columns):
            rows = np.column_stack([batch.column(i).to_numpy(zero_copy_only=False)
                                    for i in range(batch.num_columns)])
            yield start, rows
            start += len(rows)

    def rows(self, positions: np.ndarray, chunk_size: int = 65536) -> np.ndarray:
        """The rows at sorted ``positions`` (one pass over a Parquet file)."""
        positions = np.asarray(positions, dtype=np.int64)
        if self._data is not None:
            return np.asarray(self._data[positions])
        parts = []
        for start, rows in self.chunks(chunk_size):
            lo, hi = np.searchsorted(positions, [start, start + len(rows)])
            parts.append(rows[positions[lo:hi] - start])
        return np.concatenate(parts) if parts else np.empty((0, self.dim))
