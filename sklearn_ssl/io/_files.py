"""File helpers for the command line and the report: images, embeddings, models.

Every writer goes through :func:`~sklearn_ssl.utils.atomic_path` (re-exported here with
:func:`~sklearn_ssl.utils.atomic_dir`): the output is first written to a hidden temporary
file next to the target and renamed into place with :func:`os.replace` only once complete,
so a failure or Ctrl-C never leaves a half-written file under the target's name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import file_suffix, atomic_path
from ..estimators import ContrastiveEmbedder
from ..estimators import PixelImputer
from .storage import _require

EMBEDDING_SUFFIXES = (".parquet", ".csv", ".npy")
MODEL_SUFFIXES = (".joblib", ".pkl")
METRICS_SUFFIXES = (".csv", ".json", ".md")


def check_output_path(path, suffixes, what: str) -> Path:
    """Check, before any work, that ``path`` has a known suffix and an existing parent folder."""
    path = Path(path)
    if file_suffix(path) not in suffixes:
        raise ValueError(f"{path}: unsupported {what} file extension {file_suffix(path) or '(none)'!r}; "
                         f"use one of {', '.join(suffixes)}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{path}: the output folder {parent} does not exist.")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file name.")
    check_writable_dir(parent, f"{path}: cannot write into the output folder {parent}")
    return path


def check_writable_dir(folder, context: str) -> None:
    """Create and remove a hidden file in ``folder`` (an existing directory), or raise an OSError
    starting with ``context``: permissions, a read-only file system and the like are found
    before any work rather than after it."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".sklearn-ssl-write-test.", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise OSError(exc.errno, f"{context} ({exc.strerror or exc}).") from None


def parse_bands(text: str) -> list[str]:
    """Band names from the command line, in order.

    Comma-separated names (``"u,g,r,i,z"``, ``"HSC-G,HSC-R"``, ``"F115W,F150W"``) as in the
    ``BANDS`` header keyword; a word of letters without a comma (``"ugriz"``) is one band per
    letter; any other single word (``"HSC-G"``) is one band. A single band named by several
    letters takes a trailing comma: ``"Ks,"``.
    """
    text = str(text).strip()
    if "," in text:
        names = [b.strip() for b in text.split(",") if b.strip()]
    elif text.isalpha():
        names = list(text)
    else:
        names = [text] if text else []
    if not names or len(set(names)) != len(names):
        raise ValueError(f"bands {text!r}: give each band once, comma-separated (e.g. u,g,r,i,z or HSC-G,HSC-R).")
    return names


def impute_images(images, strategy: str):
    """Fill NaN and infinite pixels with :class:`~sklearn_ssl.PixelImputer`.

    Returns the filled float32 images and the number of pixels that were filled; the
    imputer is fitted on ``images`` themselves (``"local"``: each image band's own median).
    """
    images = np.array(images, dtype=np.float32)  # a copy: the input may be a read-only memory map
    bad = ~np.isfinite(images)
    n_bad = int(bad.sum())
    if n_bad:
        images[bad] = np.nan
        images = PixelImputer(strategy=strategy).fit_transform(images).astype(np.float32, copy=False)
    return images, n_bad


def embedding_frame(Z, ids=None, prefix="emb") -> pd.DataFrame:
    """Embeddings as a DataFrame: an ``id`` column (if ids are given) then ``emb0, emb1, ...``."""
    frame = pd.DataFrame(np.asarray(Z), columns=[f"{prefix}{j}" for j in range(Z.shape[1])])
    if ids is not None:
        frame.insert(0, "id", np.asarray(ids))
    return frame


def parquet_engine():
    for mod in ("pyarrow", "fastparquet"):
        try:
            __import__(mod)
            return mod
        except ImportError:
            continue
    raise ValueError("writing or reading .parquet needs pyarrow: pip install 'sklearn-ssl[parquet]' "
                     "(or pip install pyarrow), or use .csv or .npy instead.")


def save_embeddings(path, Z, ids=None) -> Path:
    """Write embeddings atomically to ``.parquet``, ``.csv`` (with an ``id`` column) or ``.npy``."""
    path = check_output_path(path, EMBEDDING_SUFFIXES, "embeddings")
    suffix = file_suffix(path)
    engine = parquet_engine() if suffix == ".parquet" else None
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(Z), allow_pickle=False)
        elif suffix == ".csv":
            embedding_frame(Z, ids).to_csv(tmp, index=False)
        else:
            embedding_frame(Z, ids).to_parquet(tmp, index=False, engine=engine)
    return path


def load_embeddings(path):
    """Read embeddings written by :func:`save_embeddings` (or any numeric table/array).

    Returns
    -------
    Z : ndarray of shape (n, d)
    ids : ndarray of shape (n,) or None
        The ``id`` column of a table, if any.
    """
    path = _require(path)
    suffix = file_suffix(path)
    try:
        if suffix == ".npy":
            Z, ids = np.load(path, allow_pickle=False), None
        elif suffix in (".csv", ".parquet"):
            frame = (pd.read_csv(path) if suffix == ".csv"
                     else pd.read_parquet(path, engine=parquet_engine()))
            ids = frame.pop("id").to_numpy() if "id" in frame.columns else None
            bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
            if bad:
                raise ValueError(f"{path}: non-numeric columns {bad[:5]} (only an 'id' column may be).")
            Z = frame.to_numpy(dtype=np.float64)
        else:
            raise ValueError(f"{path}: unsupported embeddings file extension {suffix or '(none)'!r}; use one of "
                             f"{', '.join(EMBEDDING_SUFFIXES)}.")
    except (OSError, EOFError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if str(exc).startswith(str(path)) or "pyarrow" in str(exc):
            raise
        raise ValueError(f"{path}: cannot be read as embeddings ({' '.join(str(exc).split())})") from exc
    if Z.ndim != 2 or Z.shape[0] == 0 or Z.shape[1] == 0:
        raise ValueError(f"{path}: expected a non-empty (n_samples, n_features) table; got shape {Z.shape}.")
    return Z, ids


def save_model(path, model) -> Path:
    """Write a fitted embedder with its own atomic :meth:`~sklearn_ssl.ContrastiveEmbedder.save`."""
    path = check_output_path(path, MODEL_SUFFIXES, "model")
    model.save(path)
    return path


def load_model(path, device=None):
    """Load a fitted embedder written by ``sklearn-ssl pretrain`` (a pickle: only load files you trust).

    ``device=None`` keeps the training device where it exists and falls back to the CPU.
    """
    path = _require(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a model file.")
    try:
        return ContrastiveEmbedder.load(path, device=device)
    except ValueError as exc:
        detail = " ".join(str(exc.__cause__ or exc).split())
        detail = detail if len(detail) < 80 else detail[:77] + "..."
        raise ValueError(f"{path}: not a model file written by 'sklearn-ssl pretrain' ({detail}).") from exc
