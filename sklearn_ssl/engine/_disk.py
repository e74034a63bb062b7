"""Image collections larger than memory: disk-backed arrays read in chunks, with read-ahead.

Two kinds of input are read a batch at a time instead of being loaded whole:

- ``numpy.memmap`` (e.g. ``np.load("x.npy", mmap_mode="r")``), the file format written
  by ``sklearn-ssl convert``;
- *lazy arrays*: an ``h5py.Dataset`` of shape ``(n, bands, H, W)`` (e.g.
  ``h5py.File("survey.h5")["images"]``), or a ``dask.array.Array``. Anything whose rows
  are read with ``X[start:stop]`` and ``X[sorted_int_array]`` and returned as numpy.

A contiguous HDF5 dataset is read through a memory map of its bytes in the file
(:func:`mapped_hdf5`), as fast as a ``.npy`` file; chunked or compressed ones through h5py.

Batches are gathered on the host in a background thread one or two ahead of the batch
being computed (:func:`read_ahead`): the gather (page faults, HDF5 reads) overlaps with
the encoder's work, since torch releases the GIL during its kernels.
"""

from __future__ import annotations

import collections
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

_LAZY_MODULES = ("h5py", "dask", "zarr")

#: Bytes of input checked at a time for NaN/inf: what a lazy array's chunk costs in memory
#: (a memmap's chunk is a view; its boolean temporary is a quarter of this for float32).
SCAN_BYTES = 1 << 23


def is_lazy(X) -> bool:
    """True for arrays whose rows are read from disk on demand and must not be loaded whole
    (h5py datasets, dask or zarr arrays)."""
    return (not isinstance(X, np.ndarray) and type(X).__module__.split(".")[0] in _LAZY_MODULES
            and hasattr(X, "shape") and hasattr(X, "dtype"))


def is_disk_backed(X) -> bool:
    """True for a lazy array or a numpy array whose memory is a memory-mapped file."""
    if is_lazy(X):
        return True
    while isinstance(X, np.ndarray):
        if isinstance(X, np.memmap):
            return True
        X = X.base
    return isinstance(X, np.memmap) or type(X).__name__ == "mmap"


def mapped_hdf5(X):
    """A contiguous HDF5 dataset as a read-only ``numpy.memmap`` of the same bytes, else ``X``.

    An unchunked, uncompressed dataset in a plain file opened read-only (h5py's default
    ``sec2`` driver, native byte order; a file open for writing may hold data not yet
    written out) lies in the file as one C-ordered block at ``X.id.get_offset()``:
    mapping it lets a shuffled batch be gathered as from a ``.npy`` memmap, instead of
    through an h5py selection of every row (measured 24 ms per batch of 256 random
    20 kB rows, against 2 ms for a slice). Any other dataset (chunked, compressed,
    virtual, external, another driver) is returned as it is; so is one whose first and
    last rows read through the mapping differ from h5py's.
    """
    if type(X).__module__.split(".")[0] != "h5py" or not hasattr(X, "id") or X.chunks is not None:
        return X
    try:
        import h5py

        if (X.file.mode != "r" or X.is_virtual or X.file.driver != "sec2" or not X.dtype.isnative or X.size == 0
                or X.id.get_create_plist().get_layout() != h5py.h5d.CONTIGUOUS):
            return X
        offset = X.id.get_offset()
        if offset is None:  # not yet written, or stored outside the file
            return X
        mapped = np.memmap(X.file.filename, dtype=X.dtype, mode="r", offset=offset, shape=X.shape)
    except (OSError, ValueError, AttributeError, TypeError):
        return X
    if not (np.array_equal(mapped[:1], X[:1]) and np.array_equal(mapped[-1:], X[-1:])):
        return X
    return mapped


def read_rows(X, index) -> np.ndarray:
    """Rows of ``X`` as a numpy array: a slice, or integer indices in any order (read in
    increasing order, as HDF5 requires, then put back in the order asked for)."""
    if isinstance(index, slice):  # a copy: a memmap's pages are read here, not later by the encoder
        rows = X[index]
        return rows.copy() if isinstance(rows, np.ndarray) and is_disk_backed(rows) else np.asarray(rows)
    index = np.asarray(index)
    order = np.argsort(index, kind="stable")
    rows = np.asarray(X[index[order]])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def check_lazy_images(estimator, X, *, reset: bool, min_samples: int = 1, chunk_bytes: int | None = None):
    """Validate a lazy array without loading it: shape, dtype, sample count, finiteness (in
    chunks of ``chunk_bytes``, default :data:`SCAN_BYTES`, read into memory one at a time).

    The counterpart of ``validate_data`` for inputs that must stay on disk; sets
    ``n_features_in_`` and ``input_shape_`` in fit (``reset=True``) and checks them otherwise.
    """
    shape = tuple(int(s) for s in X.shape)
    if len(shape) not in (2, 4):
        raise ValueError(f"Expected images of shape (n_samples, n_bands, height, width) or vectors of shape "
                         f"(n_samples, n_features); got a {type(X).__name__} of shape {shape}.")
    if np.dtype(X.dtype).kind not in "fiub":
        raise ValueError(f"{type(X).__name__} of dtype {X.dtype} cannot be used as images; store numbers.")
    if shape[0] < min_samples:
        raise ValueError(f"Found array with {shape[0]} sample(s) (shape={shape}) while a minimum of "
                         f"{min_samples} is required by {type(estimator).__name__}.")
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = shape[1]
        estimator.input_shape_ = shape[1:]
    elif shape[1:] != tuple(estimator.input_shape_):
        raise ValueError(
            f"X has samples of shape {shape[1:]}, but {type(estimator).__name__} was fitted on samples of "
            f"shape {tuple(estimator.input_shape_)} (bands, height, width). Use images with the same bands "
            "and size.")
    if np.dtype(X.dtype).kind == "f":
        step = max(1, (chunk_bytes or SCAN_BYTES) // max(1, int(np.prod(shape[1:])) * np.dtype(X.dtype).itemsize))
        n_bad = sum(count_non_finite(np.asarray(X[i:i + step])) for i in range(0, shape[0], step))
        if n_bad:
            raise ValueError(
                f"Input contains NaN or infinity ({n_bad} values). Fill masked or missing pixels first, "
                "e.g. with sklearn_ssl.PixelImputer (on an in-memory array), or when "
                "converting the collection to .npy.")
    return X


def count_non_finite(chunk: np.ndarray) -> int:
    """NaN/inf values in an in-memory chunk (one boolean temporary, not two)."""
    return int(chunk.size - np.count_nonzero(np.isfinite(chunk)))


def float_dtype(X) -> np.dtype:
    """The float dtype embeddings of X come out in: float64 for float64 input, else float32."""
    return np.dtype(np.float64) if np.dtype(X.dtype) == np.float64 else np.dtype(np.float32)


def as_float_tensor(rows: np.ndarray) -> torch.Tensor:
    """float32 tensor sharing memory with ``rows`` where possible; read-only input is never written."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(rows, dtype=torch.float32)


class DiskRows:
    """A disk-backed ``(n, ...)`` collection seen as the host tensor ``DeviceBatches`` streams from.

    Only what the batch iterator uses is provided: ``len``, ``shape``, ``device`` (the
    host), ``X[slice]`` and ``index_select(0, indices)``, each returning a float32 tensor
    of the rows read from disk.
    """

    device = torch.device("cpu")

    def __init__(self, X):
        self.X = X = mapped_hdf5(X)
        self.shape = tuple(int(s) for s in X.shape)
        # a float32 memmap is gathered by torch straight from the mapping (as an in-memory
        # tensor would be); anything else is read with read_rows and converted per batch
        self.mapped = as_float_tensor(X) if isinstance(X, np.ndarray) and X.dtype == np.float32 else None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> torch.Tensor:
        if self.mapped is not None:
            return self.mapped[index].clone()
        return as_float_tensor(read_rows(self.X, index))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("DiskRows selects rows only (dim=0).")
        if self.mapped is not None:
            return self.mapped.index_select(0, index.cpu())
        return as_float_tensor(read_rows(self.X, index.cpu().numpy()))


def read_ahead(load: Callable, items: Iterable, depth: int = 2) -> Iterator:
    """``load(item)`` for each item, computed in a background thread ``depth`` items ahead.

    Results come in the order of ``items``. At most ``depth`` loaded items wait at any
    time, so memory stays bounded by ``depth`` batches; stopping the iteration early
    waits for the loads in flight and ends the thread.
    """
    items = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sklearn-ssl-read-ahead") as pool:
        pending = collections.deque(pool.submit(load, item) for _, item in zip(range(depth), items))
        try:
            while pending:
                result = pending.popleft().result()
                for item in items:
                    pending.append(pool.submit(load, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
