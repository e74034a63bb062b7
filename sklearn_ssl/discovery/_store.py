"""Saving and loading a fitted SimilaritySearch with its object ids: one file, written atomically, no pickle.

The file is a zip archive (stored, not compressed: faiss codes do not compress) of

- ``meta.json``: format version, the estimator's parameters, the algorithm used, the
  faiss settings, sizes, the source file;
- ``ids.npy``: the object ids (when there are ids);
- ``index.faiss`` (faiss's own serialisation, streamed into the archive) or, for exact
  search, ``embeddings.npy`` (the indexed vectors).

Nothing in it is unpickled, so loading a file from elsewhere runs no code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..utils import atomic_path
from . import _index
from ._index import FAISS_ALGORITHMS

__all__ = ["save_index", "load_index", "INDEX_SUFFIXES"]

INDEX_SUFFIXES = (".index",)
_FORMAT = "sklearn-ssl similarity index"
_VERSION = 1


def save_index(search, path) -> Path:
    """Write a fitted :class:`~sklearn_ssl.discovery.SimilaritySearch` and its ids to ``path`` (``.index``).

    The file appears complete or not at all (a temporary file renamed into place).

    Parameters
    ----------
    search : SimilaritySearch
        Fitted. A callable ``metric`` cannot be saved (pickle the estimator instead).
    path : str or path
        Ends with ``.index``.

    Returns
    -------
    path : pathlib.Path
    """
    from sklearn.utils.validation import check_is_fitted

    from ..io import check_output_path

    check_is_fitted(search, "index_")
    if callable(search.metric):
        raise ValueError("a SimilaritySearch with a callable metric cannot be saved to an index file; use a named "
                         "metric, or joblib.dump the estimator.")
    path = check_output_path(path, INDEX_SUFFIXES, "index")
    params = search.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a RandomState instance: it only drew the (finished) training sample
    meta = {
        "format": _FORMAT, "version": _VERSION, "params": params, "algorithm": search.algorithm_,
        "index_params": search.index_params_, "n_samples": int(search.n_samples_fit_),
        "n_features": int(search.n_features_in_),
        "feature_names": None if not hasattr(search, "feature_names_in_") else list(map(str, search.feature_names_in_)),
        "source": None if search.source_ is None else str(search.source_),
        "has_ids": search.ids_ is not None,
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("meta.json", json.dumps(meta, indent=1, default=_json_default))
        if search.ids_ is not None:
            with archive.open("ids.npy", "w", force_zip64=True) as fh:
                np.save(fh, search.ids_, allow_pickle=False)
        if search.algorithm_ in FAISS_ALGORITHMS:
            faiss = _index.import_faiss("saving a faiss index")
            with archive.open("index.faiss", "w", force_zip64=True) as fh:
                faiss.write_index(search.index_, faiss.PyCallbackIOWriter(fh.write))
        else:
            with archive.open("embeddings.npy", "w", force_zip64=True) as fh:
                np.save(fh, np.asarray(search._X), allow_pickle=False)
    return path


def load_index(path):
    """Read a :class:`~sklearn_ssl.discovery.SimilaritySearch` written by :func:`save_index`.

    A faiss index needs faiss (``pip install 'sklearn-ssl[search]'``). The file's
    ``source`` (the embeddings it was built from) is used for exact query vectors when it
    still exists, else the index's own.
    """
    from sklearn.neighbors import NearestNeighbors

    from ._search import SimilaritySearch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory.")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not an index file.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: not an index written by 'sklearn-ssl index' or save_index ({exc}).") from exc
    with archive:
        try:
            meta = json.loads(archive.read("meta.json"))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not an index written by 'sklearn-ssl index' or save_index (no valid "
                             "meta.json).") from exc
        if meta.get("format") != _FORMAT or meta.get("version", 0) > _VERSION:
            raise ValueError(f"{path}: index format {meta.get('format')!r} version {meta.get('version')!r} is not "
                             f"one this sklearn-ssl reads ({_FORMAT!r} up to version {_VERSION}); upgrade "
                             "sklearn-ssl or rebuild the index.")
        search = SimilaritySearch(**meta["params"])
        algorithm = meta["algorithm"]
        if algorithm in FAISS_ALGORITHMS:
            faiss = _index.import_faiss(f"loading {path} (a faiss {algorithm} index)")
            with archive.open("index.faiss") as fh:
                search.index_ = faiss.read_index(faiss.PyCallbackIOReader(fh.read))
            _index.set_search_settings(search.index_, algorithm, meta["index_params"])
        else:
            with archive.open("embeddings.npy") as fh:
                X = np.load(fh, allow_pickle=False)
            search._X = X
            search.index_ = NearestNeighbors(n_neighbors=min(search.n_neighbors, len(X)), metric=search.metric,
                                             algorithm=algorithm, n_jobs=search.n_jobs).fit(X)
        ids = None
        if meta["has_ids"]:
            with archive.open("ids.npy") as fh:
                ids = np.load(fh, allow_pickle=False)
    search.algorithm_, search.index_params_ = algorithm, meta["index_params"]
    search.n_samples_fit_, search.n_features_in_ = meta["n_samples"], meta["n_features"]
    if meta.get("feature_names"):
        search.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
    search.source_ = None if meta["source"] is None else Path(meta["source"])
    search.ids_, search._lookup = ids, None
    return search


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"parameter value {value!r} cannot be saved in an index file; use plain numbers and strings.")
