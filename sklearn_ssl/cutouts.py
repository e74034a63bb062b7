"""Multi-band FITS cutouts and catalogues in and out (astropy.io.fits, pandas).

Three on-disk layouts are understood, for one object each:

``"cube"``
    one file holding a (C, H, W) cube in its first image HDU; band names in the
    ``BANDS`` header keyword (comma separated), else the order given by ``bands``.
``"hdus"``
    one file with one 2-D image HDU per band; the band of an HDU is read from the
    header keyword ``band_keyword`` (default ``FILTER``), else its ``EXTNAME``.
``"files"``
    one 2-D file per band; the band is read from ``band_keyword``, else the order in
    which the files are given.

Files are opened memory-mapped and copied one object at a time into the output
array (optionally itself a ``.npy`` memory map on disk), so a data set larger than
memory never has to be loaded at once.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

__all__ = ["load_cutouts", "read_catalogue", "save_cutouts"]

_LAYOUTS = ("cube", "hdus", "files")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _image_hdus(hdul):
    return [h for h in hdul if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU))
            and h.header.get("NAXIS", 0) > 0]


def _band_of(header, band_keyword):
    for key in (band_keyword, "EXTNAME"):
        if key and key in header and str(header[key]).strip():
            return str(header[key]).strip()
    return None


def _pick(planes, names, bands, path):
    """Order a list of 2-D planes by band name; names may be None (use given order)."""
    if bands is None:
        return planes, names
    if names is None or any(n is None for n in names):
        if len(planes) != len(bands):
            raise ValueError(f"{path}: holds {len(planes)} band(s) without band names in the header, "
                             f"but {len(bands)} bands {list(bands)} were asked for; give bands in "
                             "the stored order or write the band keyword into the headers.")
        return planes, list(bands)
    missing = [b for b in bands if b not in names]
    if missing:
        raise ValueError(f"{path}: missing band(s) {missing} (found {names}); ask only for bands "
                         "present in every file, or pass on_error='skip' to leave such objects out.")
    return [planes[names.index(b)] for b in bands], list(bands)


def _read_object(item, layout, bands, band_keyword, id_keyword):
    """Read one object -> (list of 2-D arrays, band names or None, id)."""
    files = [item] if layout != "files" else list(item)
    planes, names, obj_id = [], [], None
    for path in files:
        try:
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
        except Exception as exc:  # noqa: BLE001 - report any reader failure with its file
            raise ValueError(f"{path}: cannot be read as FITS ({type(exc).__name__}: {exc}); check "
                             "the path and the file, or pass on_error='skip'.") from exc
        with hdul:
            hdus = _image_hdus(hdul)
            if not hdus:
                raise ValueError(f"{path}: contains no image HDU with data.")
            if obj_id is None and id_keyword in hdul[0].header:
                obj_id = hdul[0].header[id_keyword]
            if layout == "cube":
                data = hdus[0].data
                if data.ndim == 2:
                    data = data[None]
                if data.ndim != 3:
                    raise ValueError(f"{path}: cube layout expects a (C, H, W) image, got shape "
                                     f"{data.shape}.")
                planes = [np.array(p, dtype=np.float32) for p in data]
                head = hdus[0].header.get("BANDS")
                names = [s.strip() for s in str(head).split(",")] if head else None
                if names is not None and len(names) != len(planes):
                    raise ValueError(f"{path}: header BANDS lists {len(names)} bands but the cube "
                                     f"has {len(planes)} planes.")
            else:
                for h in (hdus if layout == "hdus" else hdus[:1]):
                    if h.data.ndim != 2:
                        raise ValueError(f"{path}: layout {layout!r} expects 2-D images, got shape "
                                         f"{h.data.shape} in HDU {h.name or 0}.")
                    planes.append(np.array(h.data, dtype=np.float32))
                    names.append(_band_of(h.header, band_keyword))
    if names is not None and layout != "cube" and all(n is None for n in names):
        names = None
    where = files[0] if layout != "files" else ", ".join(map(str, files))
    if names is not None and None not in names and len(set(names)) != len(names):
        raise ValueError(f"{where}: the same band appears twice in {names}.")
    planes, names = _pick(planes, names, bands, where)
    if obj_id is None:
        obj_id = Path(files[0]).name.split(".")[0]
        if layout == "files":
            obj_id = obj_id.rsplit("_", 1)[0]
    return planes, names, obj_id


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
        from ._io import atomic_path

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
def load_cutouts(paths, bands=None, *, layout="cube", band_keyword="FILTER", id_keyword="OBJID",
                 on_error="raise", out=None, return_skipped=False):
    """Read multi-band FITS cutouts into an (n, C, H, W) float32 array.

    Parameters
    ----------
    paths : str, path or sequence
        A directory (its ``*.fits``/``*.fits.gz``/``*.fit`` files, sorted; not for
        ``layout="files"``), or one entry per object: a file path for ``"cube"`` and
        ``"hdus"``, a sequence of per-band file paths for ``"files"``.
    bands : sequence of str or None, default=None
        Bands to return, in this channel order (e.g. ``"gri"`` or ``["g", "r", "i"]``).
        ``None`` keeps the stored order, which must then agree across objects.
    layout : {"cube", "hdus", "files"}, default="cube"
        On-disk layout, see the module docstring.
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
        if layout == "files":
            raise ValueError(f"{folder}: a directory cannot be read with layout='files'; pass one "
                             "sequence of per-band files per object.")
        items = sorted(p for p in folder.iterdir() if p.name.lower().endswith((".fits", ".fit", ".fits.gz")))
        if not items:
            raise ValueError(f"{folder}: contains no .fits files.")
    else:
        items = list(paths)
        if not items:
            raise ValueError("paths is empty: give at least one file.")
        if layout == "files" and any(isinstance(i, (str, os.PathLike)) for i in items):
            raise ValueError("layout='files' needs one sequence of per-band files per object, e.g. "
                             "[['obj1_g.fits', 'obj1_r.fits'], ...].")
    images, ids, skipped = None, [], []
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
        warnings.warn(f"load_cutouts skipped {len(skipped)} of {len(items)} object(s):\n"
                      + "\n".join(f"  {p}: {r}" for p, r in skipped), UserWarning, stacklevel=3)
    if images is None:
        raise ValueError(f"no object could be read; all {len(items)} were skipped (first: "
                         f"{skipped[0][1]}).")
    images = images[:k]
    ids = np.asarray(ids)
    return (images, ids, skipped) if return_skipped else (images, ids)


def save_cutouts(images, directory, bands, ids=None, *, layout="cube", overwrite=False,
                 band_keyword="FILTER", id_keyword="OBJID", header=None):
    """Write (n, C, H, W) cutouts as FITS files that :func:`load_cutouts` reads back.

    All files are first written to temporary files in ``directory`` and only renamed
    into place (``os.replace``) once every one succeeded: a failure leaves no partial
    or half-written file behind.

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
    temps = []
    try:
        for obj, sid, tgt in zip(x, sids, targets):
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
                for p, b in zip(obj, bands):
                    h = prim.copy()
                    h[band_keyword] = b
                    hduls.append(fits.HDUList([fits.PrimaryHDU(p, h)]))
            for hdul, t in zip(hduls, tgt):
                fd, tmp = tempfile.mkstemp(suffix=".fits.tmp", prefix=".", dir=directory)
                os.close(fd)
                temps.append((tmp, t))
                hdul.writeto(tmp, overwrite=True)
        for tmp, t in temps:
            os.replace(tmp, t)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.remove(tmp)
        raise
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
