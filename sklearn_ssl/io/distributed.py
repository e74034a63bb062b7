"""Embed image catalogues on a Dask cluster: ``transform`` mapped over the blocks of a Dask array.

:func:`embed` cuts a collection into blocks of images, sends the fitted model to every
worker once (``Client.scatter(..., broadcast=True)``), runs
:meth:`ContrastiveEmbedder.transform <sklearn_ssl.ContrastiveEmbedder.transform>` on each
block where the block is, and writes the embeddings on the client, block by block, into
a ``.npy`` file or a Parquet table (atomically: the file appears complete or not at all).
Images are read by the workers themselves from a path (``.npy`` memmap or HDF5), so a
collection never passes through the client; the path must be readable on every worker
(a shared file system on a cluster). Only the embeddings, 40-160 times smaller than the
images, travel back.

The same code runs on a laptop (``LocalCluster``) or on a batch system: see the
"Embedding a catalogue on a Dask cluster" section of the performance docs for
dask-jobqueue on SLURM.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["embed"]

_OUT_SUFFIXES = (".npy", ".parquet")


def _open_block(path: str, key, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the collection at ``path``, read on the worker."""
    from .storage import open_images

    images, _ = open_images(path, key=key)
    return np.asarray(images[start:stop])


def _transform_block(block: np.ndarray, model, device) -> np.ndarray:
    """The model's embeddings of one block, on the worker (moved to ``device`` once)."""
    if device is not None and str(model.device_) != str(device):
        model.to(device)
    return model.transform(block)


def _source(images, key):
    """(path, key) of a collection the workers can open themselves, or None for in-memory data."""
    if isinstance(images, (str, os.PathLike)):
        return os.fspath(images), key
    if type(images).__module__.startswith("h5py"):
        return images.file.filename, images.name
    if isinstance(images, np.memmap) and getattr(images, "filename", None):
        path = str(images.filename)
        if path.lower().endswith(".npy") and np.load(path, mmap_mode="r").shape == images.shape:
            return path, None
        raise ValueError(f"{path}: pass the .npy file's path (a memmap of part of a file cannot be reopened "
                         "by the workers).")
    return None


def _as_dask_array(images, key, chunk_size: int):
    """A Dask array of the images, chunked along the samples only, plus ids found beside them."""
    import dask
    import dask.array as da

    from .storage import open_images

    if isinstance(images, da.Array):
        return images.rechunk((chunk_size,) + tuple(-1 for _ in images.shape[1:])), None
    source = _source(images, key)
    if source is None:
        X = np.asarray(images)
        return da.from_array(X, chunks=(chunk_size,) + X.shape[1:]), None
    path, key = source
    data, ids = open_images(path, key=key)
    shape, n = tuple(data.shape), len(data)
    dtype = np.float64 if data.dtype == np.float64 else data.dtype
    read = dask.delayed(_open_block, pure=True)
    blocks = [da.from_delayed(read(path, key, a, min(n, a + chunk_size)), shape=(min(n, a + chunk_size) - a,)
                              + shape[1:], dtype=dtype) for a in range(0, n, chunk_size)]
    return da.concatenate(blocks, axis=0), ids


def _default_client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


class _Writer:
    """Embeddings written a block at a time to ``.npy`` (a memmap) or Parquet (row groups)."""

    def __init__(self, tmp: Path, n: int, dim: int, dtype, ids):
        self.tmp, self.ids, self.start = tmp, ids, 0
        if tmp.name.lower().endswith(".npy"):
            self.array, self.parquet = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n, dim)), None
        else:
            self.array, self.parquet = None, None

    def write(self, Z: np.ndarray) -> None:
        stop = self.start + len(Z)
        if self.array is not None:
            self.array[self.start:stop] = Z
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            from ._files import embedding_frame

            table = pa.Table.from_pandas(
                embedding_frame(Z, None if self.ids is None else self.ids[self.start:stop]), preserve_index=False)
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.tmp, table.schema)
            self.parquet.write_table(table)
        self.start = stop

    def close(self) -> None:
        if self.array is not None:
            self.array.flush()
            del self.array
        elif self.parquet is not None:
            self.parquet.close()


def embed(model, images, *, key: str | None = None, client=None, chunk_size: int | None = None,
          out=None, ids=None, device: str | None = None, progress: bool = False):
    """Embed a collection with ``model.transform`` mapped over the blocks of a Dask array.

    The fitted model is shipped once per worker; each block of ``chunk_size`` images is
    read and embedded on a worker; the embeddings are gathered on the client in order.
    The result equals ``model.transform(images)`` exactly: blocks are whole multiples of
    the model's batch size, so every image is embedded in the same batch as by
    ``transform``.

    Parameters
    ----------
    model : ContrastiveEmbedder
        A fitted embedder (or any fitted transformer with ``transform``; then set
        ``chunk_size`` yourself).
    images : str, path, h5py.Dataset, numpy.memmap, dask.array.Array or ndarray
        A ``.npy`` or HDF5 path (or an open memmap / h5py dataset of a whole file): each
        worker opens the file and reads only its blocks, so the path must be readable on
        every worker. A Dask array is used as it is (rechunked along the samples only).
        An in-memory array is sent to the workers block by block.
    key : str or None
        HDF5 dataset name (see :func:`sklearn_ssl.io.storage.open_images`).
    client : dask.distributed.Client or None
        The cluster to run on; None uses the current client if one exists (e.g. after
        ``Client("tcp://scheduler:8786")``), else Dask's local threaded scheduler.
    chunk_size : int or None
        Images per block; rounded up to a multiple of the model's batch size. Default:
        16 batches.
    out : str, path or None
        None returns the embeddings as an array. A ``.npy`` or ``.parquet`` path is
        written atomically, one block at a time (Parquet: an ``id`` column when ids are
        known, then ``emb0, emb1, ...``); the path is returned.
    ids : array-like of shape (n,) or None
        Object ids for the Parquet ``id`` column; default: the ids stored beside the
        images (``<name>.ids.npy``, or an ``ids`` HDF5 dataset), if any.
    device : str or None
        Device for ``transform`` on the workers (e.g. ``"cuda"`` on GPU workers); None
        keeps the model's own device.
    progress : bool, default=False
        Show a progress bar over blocks (tqdm) on stderr.

    Returns
    -------
    Z : ndarray of shape (n_samples, embedding_dim), or the output path when ``out`` is given.
    """
    from tqdm.auto import tqdm

    from ..utils import atomic_path
    from ._files import parquet_engine, check_output_path

    batch = int(getattr(getattr(model, "net_", None), "batch_size", 0) or 0)
    if chunk_size is None:
        chunk_size = 16 * batch if batch else 4096
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be >= 1.")
    if batch:
        chunk_size = -(-chunk_size // batch) * batch
    if out is not None:
        out = check_output_path(out, _OUT_SUFFIXES, "embeddings")
        if out.name.lower().endswith(".parquet"):
            parquet_engine()
    X, stored_ids = _as_dask_array(images, key, chunk_size)
    ids = stored_ids if ids is None else np.asarray(ids)
    if ids is not None and len(ids) != X.shape[0]:
        raise ValueError(f"{len(ids)} ids for {X.shape[0]} images.")
    expected = getattr(model, "input_shape_", None)
    if expected is not None and tuple(X.shape[1:]) != tuple(expected):
        raise ValueError(f"the images have samples of shape {tuple(X.shape[1:])}, but the model was fitted on "
                         f"samples of shape {tuple(expected)} (bands, height, width).")
    dim = int(model.embedding_dim_) if hasattr(model, "embedding_dim_") else int(
        model.transform(np.asarray(X[:2])).shape[1])
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    client = client if client is not None else _default_client()
    shipped = client.scatter(model, broadcast=True, hash=False) if client is not None else model
    Z = X.map_blocks(_transform_block, shipped, device, dtype=dtype, drop_axis=list(range(2, X.ndim)),
                     chunks=(X.chunks[0], (dim,)))
    blocks = Z.to_delayed().ravel()
    if client is not None:
        results = iter(client.compute(list(blocks)))
    else:
        results = (b.compute(scheduler="threads") for b in blocks)
    with tqdm(total=X.shape[0], unit="img", desc="embed", disable=not progress) as bar:
        if out is None:
            parts = []
            for block in results:
                parts.append(block.result() if hasattr(block, "result") else block)
                bar.update(len(parts[-1]))
            return np.concatenate(parts) if parts else np.empty((0, dim), dtype)
        with atomic_path(out) as tmp:
            writer = _Writer(tmp, X.shape[0], dim, dtype, ids)
            try:
                for block in results:
                    Zb = block.result() if hasattr(block, "result") else block
                    writer.write(Zb)
                    bar.update(len(Zb))
            finally:
                writer.close()
    return out
