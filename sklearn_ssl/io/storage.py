"""Image collections larger than memory: open them lazily, or convert them once to a ``.npy`` memmap.

:class:`~sklearn_ssl.ContrastiveEmbedder` fits and transforms disk-backed collections a
batch at a time, without loading them whole:

- a ``.npy`` file opened as a read-only memory map (:func:`open_images`, or
  ``np.load(path, mmap_mode="r")``): the fastest to sample from at random;
- an HDF5 dataset of shape ``(n, bands, height, width)`` as distributed by survey teams
  (:func:`open_images` on a ``.h5`` file, or ``h5py.File(path)["images"]``).
  Contiguous (unchunked) datasets are read at random nearly as fast as a memmap;
  chunked or compressed ones are slow to shuffle (each batch touches many chunks) and are
  best converted once with :func:`convert_images`;
- a folder of FITS cutouts, which must be converted first (:func:`convert_images`, or
  ``sklearn-ssl convert FOLDER OUT.npy``): opening thousands of small files every epoch
  would dominate training.

Object ids (from FITS headers, or an ``ids`` dataset beside the HDF5 images) are written
next to the converted array as ``<name>.ids.npy`` and read back by :func:`open_images`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..utils import atomic_paths, file_suffix
from .cutouts import load_cutouts

__all__ = ["open_images", "convert_images"]

_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz")
IMAGE_SUFFIXES = (".npy", ".npz", ".fits", ".fit", ".fits.gz", ".h5", ".hdf5")


def ids_path(path) -> Path:
    """Where the ids of the converted collection ``path`` (``x.npy``) are kept: ``x.ids.npy``."""
    path = Path(path)
    return path.with_name(path.name[: -len(".npy")] + ".ids.npy")


def _hdf5_dataset(path: Path, key: str | None):
    try:
        import h5py
    except ImportError:
        raise ImportError("reading HDF5 files needs h5py: pip install 'sklearn-ssl[hdf5]' (or pip install h5py)."
                          ) from None
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read as HDF5 ({' '.join(str(exc).split())}).") from exc
    names = [k for k, v in handle.items() if isinstance(v, h5py.Dataset)]
    if key is None:
        key = next((k for k in ("images", "X") if k in names), None)
        if key is None:
            four_d = [k for k in names if handle[k].ndim == 4]
            key = four_d[0] if len(four_d) == 1 else None
    if key is None or key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise ValueError(f"{path}: no dataset {key or 'images'!r} (datasets: {names}); pass key=NAME (--key).")
    data = handle[key]
    if data.ndim != 4:
        raise ValueError(f"{path}: dataset {key!r} has shape {data.shape}; expected (n, bands, height, width).")
    ids = None
    for name in ("ids", "id", "objid"):
        if name in names and handle[name].shape == (data.shape[0],):
            ids = handle[name][()]
            ids = ids.astype(str) if ids.dtype.kind in "OS" else ids
            break
    return data, ids


def open_images(path, *, key: str | None = None):
    """Open an image collection on disk without reading it.

    Parameters
    ----------
    path : str or path
        ``.npy`` (opened as a read-only memory map; ids from ``<name>.ids.npy`` when it
        exists) or ``.h5``/``.hdf5`` (an h5py dataset, read on demand).
    key : str or None
        HDF5 dataset name; default ``images``, else ``X``, else the only 4-D dataset. Ids
        are read from an ``ids``/``id``/``objid`` dataset of matching length, if any.

    Returns
    -------
    images : numpy.memmap or h5py.Dataset of shape (n, bands, height, width)
        Pass it straight to ``fit`` / ``transform``: batches are read as needed.
    ids : ndarray of shape (n,) or None
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory.")
    name = path.name.lower()
    if name.endswith(_HDF5_SUFFIXES):
        return _hdf5_dataset(path, key)
    if not name.endswith(".npy"):
        raise ValueError(f"{path}: open_images reads .npy or HDF5 ({', '.join(_HDF5_SUFFIXES)}) files; "
                         "convert FITS cutouts first with convert_images (sklearn-ssl convert).")
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot be read as a .npy array ({' '.join(str(exc).split())}).") from exc
    ids = None
    if ids_path(path).exists():
        ids = np.load(ids_path(path), allow_pickle=False)
        if ids.shape != (len(images),):
            raise ValueError(f"{ids_path(path)}: {ids.shape} ids for {len(images)} images; delete or rewrite it.")
    return images, ids


def _fits_items(source) -> list:
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        items = sorted(p for p in folder.iterdir() if p.name.lower().endswith(_FITS_SUFFIXES))
        if not items:
            raise ValueError(f"{folder}: contains no FITS files ({', '.join(_FITS_SUFFIXES)}).")
        return items
    items = list(source)
    if not items:
        raise ValueError("source is empty: give at least one FITS file.")
    return items


def _truncate_npy(path: Path, n_rows: int) -> None:
    """Shrink the first axis of the .npy file ``path`` to ``n_rows`` in place (header rewritten
    at its original length, data cut), so that skipped objects leave no empty rows."""
    with open(path, "r+b") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
        header = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran,
                       "shape": (n_rows,) + tuple(shape[1:])})
        prefix = 6 + 2 + (2 if version == (1, 0) else 4)
        body = header.encode("latin1").ljust(offset - prefix - 1) + b"\n"
        fh.seek(prefix)
        fh.write(body)
        fh.truncate(offset + n_rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


def convert_images(source, out, *, key: str | None = None, bands=None, layout: str = "cube",
                   on_error: str = "raise", chunk_size: int = 1024, progress: bool = True):
    """Convert an image collection once into a ``.npy`` file, a chunk at a time.

    Memory stays bounded by ``chunk_size`` images whatever the collection's size. The
    output (and its ids file) appear under their names only once complete: an error or
    Ctrl-C leaves no partial file.

    Parameters
    ----------
    source : str, path or sequence
        A folder of FITS cutouts (or a list of cutout files), read with
        :func:`sklearn_ssl.io.cutouts.load_cutouts`; or an HDF5 (``.h5``/``.hdf5``),
        ``.npy`` or 4-D FITS file.
    out : str or path
        The ``.npy`` file to write; ids go to ``<name>.ids.npy`` when the source has them.
    key : str or None
        Dataset name in an HDF5 source (see :func:`open_images`).
    bands, layout, on_error
        For FITS cutouts: as in :func:`~sklearn_ssl.io.cutouts.load_cutouts`. With
        ``on_error="skip"`` unreadable objects are left out (and listed in a warning).
    chunk_size : int, default=1024
        Images read and written at a time.
    progress : bool, default=True
        Show a progress bar (tqdm) on stderr.

    Returns
    -------
    images : numpy.memmap of shape (n, bands, height, width), float32
        The written file, opened read-only.
    ids : ndarray of shape (n,) or None
    """
    from tqdm.auto import tqdm

    out = Path(out)
    if not out.name.lower().endswith(".npy"):
        raise ValueError(f"{out}: the output must be a .npy file.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be >= 1.")
    if out.parent and not out.parent.is_dir():
        raise FileNotFoundError(f"{out}: the output folder {out.parent} does not exist.")
    is_file = isinstance(source, (str, os.PathLike)) and Path(source).is_file()
    if isinstance(source, (str, os.PathLike)) and not Path(source).exists():
        raise FileNotFoundError(f"{source}: no such file or directory.")
    if is_file and bands is not None:
        raise ValueError(f"{source}: bands apply to FITS cutouts only; an array file is converted whole.")
    with atomic_paths([out, ids_path(out)], what=out) as (tmp, tmp_ids):
        if is_file:
            n, ids = _convert_array(Path(source), key, tmp, chunk_size, tqdm, progress)
        else:
            n, ids = _convert_fits(_fits_items(source), tmp, bands, layout, on_error, chunk_size, tqdm, progress)
        if ids is not None:
            np.save(tmp_ids, np.asarray(ids), allow_pickle=False)
    if ids is None:
        os.remove(ids_path(out))
    return open_images(out)


def _convert_array(path: Path, key, tmp: Path, chunk_size: int, tqdm, progress: bool):
    name = path.name.lower()
    if name.endswith(_HDF5_SUFFIXES) or name.endswith(".npy"):
        data, ids = open_images(path, key=key)
    else:
        data, ids = load_images(path, key=key)
    if data.ndim != 4:
        raise ValueError(f"{path}: expected images of shape (n, bands, height, width); got {data.shape}.")
    dest = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=tuple(data.shape))
    with tqdm(total=len(data), unit="img", desc=f"convert {path.name}", disable=not progress) as bar:
        for start in range(0, len(data), chunk_size):
            chunk = np.asarray(data[start:start + chunk_size], dtype=np.float32)
            dest[start:start + len(chunk)] = chunk
            bar.update(len(chunk))
    dest.flush()
    del dest
    return len(data), ids


def _convert_fits(items: list, tmp: Path, bands, layout, on_error, chunk_size: int, tqdm, progress: bool):
    dest, ids, n, reference = None, [], 0, None
    with tqdm(total=len(items), unit="file", desc="convert FITS", disable=not progress) as bar:
        for start in range(0, len(items), chunk_size):
            chunk = items[start:start + chunk_size]
            # with no bands given, the collection's first object goes first in every chunk, so that
            # load_cutouts checks every file's band order against the same reference
            extra = [reference] if reference is not None and bands is None else []
            try:
                images, chunk_ids, skipped = load_cutouts(extra + chunk, bands=bands, layout=layout,
                                                          on_error=on_error, return_skipped=True)
            except ValueError as exc:
                if on_error == "skip" and str(exc).startswith("no object could be read"):
                    bar.update(len(chunk))
                    continue
                raise
            images, chunk_ids = images[len(extra):], chunk_ids[len(extra):]
            if dest is None:
                dest = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                 shape=(len(items),) + images.shape[1:])
                reference = next(i for i in chunk if all(str(i) != s for s, _ in skipped))
            elif images.shape[1:] != dest.shape[1:]:
                raise ValueError(f"cutouts of shape {images.shape[1:]} (e.g. {chunk[0]}) differ from "
                                 f"{dest.shape[1:]} of {reference}; crop/resample to one size.")
            dest[n:n + len(images)] = images
            ids.extend(chunk_ids.tolist())
            n += len(images)
            bar.update(len(chunk))
    if dest is None:
        raise ValueError(f"no object could be read; all {len(items)} were skipped.")
    dest.flush()
    del dest
    if n < len(items):
        _truncate_npy(tmp, n)
    return n, np.asarray(ids)


def _require(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory.")
    return path


def load_images(path, *, key=None, bands=None, on_error="raise"):
    """Read images from ``.npy``, ``.npz`` or FITS (one file, or a folder of cutouts).

    Parameters
    ----------
    path : str or path
        ``.npy``: an (n, C, H, W) array, memory-mapped (ids from ``<name>.ids.npy`` if
        present). ``.h5``/``.hdf5``: the HDF5 dataset ``key`` (default ``images``), left on
        disk (see :func:`sklearn_ssl.io.storage.open_images`). ``.npz``: the array ``key`` (default: ``images``,
        else ``X``, else the only array); ids from an ``ids``/``id`` array if present.
        ``.fits``: a 4-D (n, C, H, W) primary array, or one (C, H, W) cutout. A folder:
        every FITS cutout in it, read by :func:`sklearn_ssl.io.cutouts.load_cutouts`.
    key : str or None
        Array name inside a ``.npz`` file.
    bands : str, list of str or None
        Bands to read from FITS cutouts (e.g. ``"gri"`` or ``["HSC-G", "HSC-R"]``), in this order.
    on_error : {"raise", "skip"}, default="raise"
        For FITS cutouts: skip unreadable or mismatched objects with a warning
        (:func:`sklearn_ssl.io.cutouts.load_cutouts`).

    Returns
    -------
    images : ndarray of shape (n, C, H, W)
    ids : ndarray of shape (n,) or None
    """
    path = _require(path)
    if path.is_dir():
        images, ids = load_cutouts(path, bands=bands, on_error=on_error)
        return images, ids
    suffix = file_suffix(path)
    ids = None
    try:
        if suffix in (".npy", ".h5", ".hdf5"):  # opened, not read: batches are read as needed
            images, ids = open_images(path, key=key)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                names = list(data.files)
                if key is None:
                    key = next((k for k in ("images", "X") if k in names), names[0] if len(names) == 1 else None)
                if key is None or key not in names:
                    raise ValueError(f"{path}: no array {key or 'images'!r} (arrays: {names}); pass --key NAME.")
                images = data[key]
                id_key = next((k for k in ("ids", "id") if k in names), None)
                if id_key is not None and data[id_key].shape == (len(images),):
                    ids = data[id_key]
        elif suffix in (".fits", ".fit", ".fits.gz"):
            from astropy.io import fits

            with fits.open(path, memmap=False) as hdul:
                data = next((h.data for h in hdul if getattr(h, "data", None) is not None
                             and h.is_image), None)
            if data is not None and data.ndim == 4:
                images = np.asarray(data, dtype=np.float32)
            else:
                images, ids = load_cutouts([path], bands=bands, on_error=on_error)
        else:
            raise ValueError(f"{path}: unsupported image file extension {suffix or '(none)'!r}; use one of "
                             f"{', '.join(IMAGE_SUFFIXES)} or a folder of FITS cutouts.")
    except (OSError, EOFError, ValueError, TypeError, zipfile.BadZipFile, zlib.error) as exc:  # e.g. truncated
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot be read as images ({' '.join(str(exc).split())})") from exc
    if images.ndim != 4:
        raise ValueError(f"{path}: expected images of shape (n, bands, height, width); got shape {images.shape}.")
    return images, ids
