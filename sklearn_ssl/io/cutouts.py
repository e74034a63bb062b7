"""Multi-band FITS cutouts and catalogues in and out (astropy.io.fits, pandas).

Three on-disk layouts are understood, for one object each (``layout="auto"``, the
default, tells them apart from the headers, see :func:`load_cutouts`):

``"cube"``
    one file holding a (C, H, W) cube in its first image HDU; band names in the
    ``BANDS`` header keyword (comma separated), else the order given by ``bands``.
``"hdus"``
    one file with one 2-D image HDU per band; the band of an HDU is read from the
    header keyword ``band_keyword`` (default ``FILTER``), else its ``EXTNAME``.
``"files"``
    one 2-D file per band; the band is read from ``band_keyword``, else the order in
    which the files are given. A folder of such files is grouped into objects by name,
    ``<id>_<band>.fits`` (as :func:`save_cutouts` writes them), where ``<band>`` must be
    the file's ``band_keyword``; the channel order is the ``BANDS`` header keyword
    (written by :func:`save_cutouts`) or ``bands``.

Files are opened memory-mapped and copied one object at a time into the output
array (optionally itself a ``.npy`` memory map on disk), so a data set larger than
memory never has to be loaded at once.

This module is the public face (reading, writing, catalogues); how one object is read in
each layout is in ``_fits_layouts.py``, and every file is written through ``_atomic.py``.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from ..utils import atomic_path, atomic_paths
from ._fits_layouts import _detect_layout, _group_band_files, _read_object

__all__ = ["load_cutouts", "read_catalogue", "save_cutouts"]

_LAYOUTS = ("auto", "cube", "hdus", "files")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _naming_file(exc: Exception, where: str) -> ValueError:
    """A reader failure as a ValueError naming the file (unchanged if it names it already)."""
    if isinstance(exc, ValueError) and where.split(", ")[0] in str(exc):
        return exc
    return ValueError(f"{where}: cannot be read as FITS ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                      "the file may be truncated or damaged. Replace it, or pass on_error='skip'.")


def _complete_output(load):
    """Decorator for :func:`load_cutouts`: with ``out=``, the memory map is filled under a hidden
    temporary name and renamed to ``out`` only once complete (holding exactly the objects read);
    on any failure, Ctrl-C included, it is removed and nothing partial is left."""

    @functools.wraps(load)
    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return load(*args, **kwargs)
        with atomic_path(out) as tmp:
            images, *rest = load(*args, out=tmp, **kwargs)
            if len(images) < np.load(tmp, mmap_mode="r").shape[0]:  # objects were skipped: keep only those read
                with atomic_path(tmp) as kept_path:
                    kept = np.lib.format.open_memmap(kept_path, mode="w+", dtype=np.float32, shape=images.shape)
                    for start in range(0, len(images), 256):
                        kept[start:start + 256] = images[start:start + 256]
                    kept.flush()
                images = kept
            images.flush()
        return (images, *rest)
    return wrapper


@_complete_output
def load_cutouts(paths, bands=None, *, layout="auto", band_keyword="FILTER", id_keyword="OBJID",
                 on_error="raise", out=None, return_skipped=False):
    """Read multi-band FITS cutouts into an (n, C, H, W) float32 array.

    Parameters
    ----------
    paths : str, path or sequence
        A directory (its ``*.fits``/``*.fits.gz``/``*.fit`` files, sorted; per-band files
        ``<id>_<band>.fits`` are grouped into objects), or one entry per object: a file path
        for ``"cube"`` and ``"hdus"``, a sequence of per-band file paths for ``"files"``.
    bands : sequence of str or None, default=None
        Bands to return, in this channel order (e.g. ``"gri"`` or ``["g", "r", "i"]``).
        ``None`` keeps the stored order, which must then agree across objects.
    layout : {"auto", "cube", "hdus", "files"}, default="auto"
        On-disk layout, see the module docstring. ``"auto"`` reads it from the headers:
        image data in extensions is ``"hdus"``; a 3-D image ``"cube"``; 2-D images whose
        ``band_keyword`` takes several values across the files ``"files"``; other 2-D images
        single-band ``"cube"``, unless their names look like ``<id>_<band>.fits`` with no band
        keyword, which is ambiguous and raises a ValueError. Whatever :func:`save_cutouts`
        writes is read back as written.
    band_keyword : str, default="FILTER"
        Header keyword naming the band of a 2-D image (``EXTNAME`` is the fallback).
    id_keyword : str, default="OBJID"
        Primary-header keyword holding the object id; the file name stem is the fallback
        (for ``"files"``, the stem before the last ``_``).
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"``: the first unreadable file, missing band or size mismatch raises a
        ``ValueError`` naming the file. ``"skip"``: such objects are left out and a
        ``UserWarning`` lists every skipped file with its reason.
    out : str, path or None, default=None
        If given, a ``.npy`` file to create as a memory map for the output, for data sets
        larger than memory (the returned array is then backed by it).
    return_skipped : bool, default=False
        Also return the list of ``(file, reason)`` pairs that were skipped.

    Returns
    -------
    images : ndarray of shape (n, C, H, W), float32
    ids : ndarray of shape (n,)
    skipped : list of (str, str)
        Only if ``return_skipped=True``.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {_LAYOUTS}.")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r} must be 'raise' or 'skip'.")
    if bands is not None:
        bands = list(bands)
        if not bands or len(set(bands)) != len(bands):
            raise ValueError(f"bands={bands!r} must be non-empty with no repeated band.")
    if isinstance(paths, (str, os.PathLike)):
        folder = Path(paths)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a directory; pass a directory or a list of files.")
        items = sorted(p for p in folder.iterdir() if p.name.lower().endswith((".fits", ".fit", ".fits.gz")))
        if not items:
            raise ValueError(f"{folder}: contains no .fits files.")
    else:
        items = list(paths)
        if not items:
            raise ValueError("paths is empty: give at least one file.")
    flat = all(isinstance(i, (str, os.PathLike)) for i in items)
    if layout == "auto":
        layout = _detect_layout(items, band_keyword) if flat else "files"
    skipped = []
    if layout == "files" and flat:
        items = _group_band_files(items, bands, band_keyword, on_error, skipped)
    elif layout == "files" and any(isinstance(i, (str, os.PathLike)) for i in items):
        raise ValueError("layout='files' needs one sequence of per-band files per object, e.g. "
                         "[['obj1_g.fits', 'obj1_r.fits'], ...].")
    n_grouping = len(skipped)  # files left out while grouping per-band files
    images, ids = None, []
    first = ref_names = None
    k = 0
    for item in items:
        where = str(item) if layout != "files" else ", ".join(map(str, item))
        try:
            planes, names, obj_id = _read_object(item, layout, bands, band_keyword, id_keyword)
            shape = (len(planes),) + planes[0].shape
            if any(p.shape != planes[0].shape for p in planes):
                raise ValueError(f"{where}: bands have different sizes "
                                 f"{[p.shape for p in planes]}; resample them to one grid.")
            if first is None:
                first, ref_names = (where, shape), names
                full = (len(items),) + shape
                images = (np.empty(full, np.float32) if out is None else
                          np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=full))
            elif shape != first[1]:
                raise ValueError(f"{where}: cutout shape {shape} (bands, H, W) differs from {first[1]} "
                                 f"of {first[0]}; crop/resample to one size, or pass on_error='skip'.")
            elif bands is None and names != ref_names:
                raise ValueError(f"{where}: band order {names} differs from {ref_names} of "
                                 f"{first[0]}; pass bands=[...] to fix one order.")
        except (ValueError, OSError, TypeError, EOFError) as exc:  # e.g. truncated data: "buffer is too small"
            error = _naming_file(exc, where)
            if on_error == "raise":
                raise error from (None if error is exc else exc)
            skipped.append((where, str(error)))
            continue
        images[k] = np.stack(planes)
        ids.append(obj_id)
        k += 1
    if skipped:
        warnings.warn(f"load_cutouts skipped {len(skipped)} of {len(items) + n_grouping} object(s):\n"
                      + "\n".join(f"  {p}: {r}" for p, r in skipped), UserWarning, stacklevel=3)
    if images is None:
        raise ValueError(f"no object could be read; all {len(items) + n_grouping} were skipped (first: "
                         f"{skipped[0][1]}).")
    images = images[:k]
    ids = np.asarray(ids)
    return (images, ids, skipped) if return_skipped else (images, ids)


def save_cutouts(images, directory, bands, ids=None, *, layout="cube", overwrite=False,
                 band_keyword="FILTER", id_keyword="OBJID", header=None):
    """Write (n, C, H, W) cutouts as FITS files that :func:`load_cutouts` reads back.

    All files are first written to temporary files in ``directory`` and only renamed
    into place (``os.replace``) once every one succeeded: a failure leaves no partial
    or half-written file behind (:func:`sklearn_ssl.utils.atomic_paths`).

    Parameters
    ----------
    images : array-like of shape (n, C, H, W)
        Cutouts (stored as float32).
    directory : str or path
        Output folder (created if needed).
    bands : str or sequence of str
        Band name of each channel.
    ids : array-like of shape (n,) or None, default=None
        Object ids (letters, digits, ``_.+-``); default ``0..n-1``.
    layout : {"cube", "hdus", "files"}, default="cube"
        ``"cube"``: ``<id>.fits`` with a (C, H, W) cube; ``"hdus"``: ``<id>.fits`` with one
        image extension per band; ``"files"``: ``<id>_<band>.fits`` per band.
    overwrite : bool, default=False
        Replace existing files; otherwise an existing target raises before anything is written.
    band_keyword, id_keyword : str
        Header keywords for band and id.
    header : dict or None, default=None
        Extra primary-header cards (e.g. ``{"PIXSCALE": 0.396, "BUNIT": "nanomaggy"}``).

    Returns
    -------
    paths : list
        Per object, the written path (``"cube"``, ``"hdus"``) or the list of per-band paths
        (``"files"``), in the form :func:`load_cutouts` accepts.
    """
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W), got {x.shape}.")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {_LAYOUTS}.")
    bands = list(bands)
    if len(bands) != x.shape[1] or len(set(bands)) != len(bands):
        raise ValueError(f"bands {bands} must name each of the {x.shape[1]} channels once.")
    ids = np.arange(len(x)) if ids is None else np.asarray(ids)
    if ids.shape != (len(x),):
        raise ValueError(f"ids has shape {ids.shape}; need one id per image ({len(x)}).")
    sids = [str(i) for i in ids]
    bad = [s for s in sids if not _SAFE_ID.match(s)]
    if bad or len(set(sids)) != len(sids):
        raise ValueError(f"ids must be unique and use only letters, digits and _.+- (they become "
                         f"file names); offending: {bad[:5] or 'duplicates'}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    targets = [[directory / f"{s}_{b}.fits" for b in bands] if layout == "files"
               else [directory / f"{s}.fits"] for s in sids]
    existing = [str(t) for ts in targets for t in ts if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]}: already exists ({len(existing)} target file(s) do); pass "
                         "overwrite=True or choose another directory.")
    x = x.astype(np.float32, copy=False)
    with atomic_paths([t for ts in targets for t in ts], what=f"cutouts to {directory}") as temps:
        temps = iter(temps)
        for obj, sid in zip(x, sids):
            prim = fits.Header(header or {})
            prim[id_keyword] = sid
            if layout == "cube":
                prim["BANDS"] = ",".join(bands)
                hduls = [fits.HDUList([fits.PrimaryHDU(obj, prim)])]
            elif layout == "hdus":
                hduls = [fits.HDUList([fits.PrimaryHDU(header=prim)] + [
                    fits.ImageHDU(p, fits.Header({band_keyword: b}), name=b) for p, b in zip(obj, bands)])]
            else:
                hduls = []
                prim["BANDS"] = ",".join(bands)  # the channel order, for reading a folder back
                for p, b in zip(obj, bands):
                    h = prim.copy()
                    h[band_keyword] = b
                    hduls.append(fits.HDUList([fits.PrimaryHDU(p, h)]))
            for hdul in hduls:
                hdul.writeto(next(temps), overwrite=True)
    return [[str(t) for t in ts] if layout == "files" else str(ts[0]) for ts in targets]


def read_catalogue(path, *, id_column=None, **kwargs):
    """Read a catalogue (CSV, FITS table, ECSV, VOTable, ...) into a pandas DataFrame.

    Parameters
    ----------
    path : str or path
        ``.csv``/``.tsv`` are read by :func:`pandas.read_csv`; anything else by
        :meth:`astropy.table.Table.read` (FITS binary tables, ECSV, VOTable, HDF5).
    id_column : str or None, default=None
        Column to check for presence and uniqueness (e.g. the id matching the cutouts).
    **kwargs
        Passed to the reader.

    Returns
    -------
    catalogue : pandas.DataFrame
    """
    from astropy.io.registry import IORegistryError
    from astropy.table import Table

    path = Path(path)
    try:
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            sep = kwargs.pop("sep", "\t" if path.suffix.lower() == ".tsv" else ",")
            df = pd.read_csv(path, sep=sep, **kwargs)
        else:
            table = Table.read(path, **kwargs)
            multi = [c for c in table.colnames if table[c].ndim > 1]
            if multi:
                warnings.warn(f"{path}: multidimensional columns {multi} dropped (pandas holds "
                              "scalars only).", UserWarning, stacklevel=2)
                table.remove_columns(multi)
            df = table.to_pandas()
    except (OSError, ValueError, TypeError, IORegistryError) as exc:
        raise ValueError(f"{path}: cannot be read as a catalogue ({type(exc).__name__}: {exc}).") from exc
    if id_column is not None:
        if id_column not in df.columns:
            raise ValueError(f"{path}: no column {id_column!r} (columns: {list(df.columns)[:20]}).")
        if df[id_column].duplicated().any():
            raise ValueError(f"{path}: column {id_column!r} has duplicated ids.")
    return df
