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

from ._atomic import atomic_path, atomic_paths

__all__ = ["load_cutouts", "read_catalogue", "save_cutouts"]

_LAYOUTS = ("auto", "cube", "hdus", "files")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _image_hdus(hdul):
    return [h for h in hdul if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU))
            and h.header.get("NAXIS", 0) > 0]


def _band_of(header, band_keyword):
    for key in (band_keyword, "EXTNAME"):
        if key and key in header and str(header[key]).strip():
            return str(header[key]).strip()
    return None


def _fits_suffix(name: str) -> str:
    low = name.lower()
    return next((s for s in (".fits.gz", ".fits", ".fit") if low.endswith(s)), "")


def _looks_per_band(paths) -> bool:
    """Do the names look like ``<id>_<band>.fits``, several ids sharing one set of >= 2 suffixes?"""
    groups = {}
    for p in paths:
        stem = Path(p).name[:len(Path(p).name) - len(_fits_suffix(Path(p).name))]
        if "_" not in stem:
            return False
        obj, band = stem.rsplit("_", 1)
        groups.setdefault(obj, set()).add(band)
    sets = list(groups.values())
    return len(sets) >= 2 and 2 <= len(sets[0]) <= 20 and all(s == sets[0] for s in sets)


def _detect_layout(paths, band_keyword):
    """The layout of a list of cutout files, from the headers of the first (and, for 2-D files, all).

    - image data in extensions (several image HDUs, or an empty primary HDU): ``"hdus"``;
    - a 3-D primary image: ``"cube"``;
    - 2-D primary images whose ``band_keyword`` takes two or more values across the files:
      ``"files"`` (one file per band);
    - 2-D primary images of one band: ``"cube"`` (single-band cutouts), unless the names look
      like ``<id>_<band>.fits`` with no band keyword to confirm it: then the folder is
      ambiguous and a ValueError says so (a wrong guess would be a different data set).
    """
    for first in paths:  # the first readable file; unreadable ones are reported (or skipped) by the reader
        try:
            with fits.open(first, memmap=True) as hdul:
                hdus = _image_hdus(hdul)
                if len(hdus) > 1 or (hdus and hdus[0] is not hdul[0]):
                    return "hdus"
                if not hdus or hdus[0].header.get("NAXIS") != 2:
                    return "cube"  # reading reports a missing image or a wrong shape with the file
                break
        except Exception:  # noqa: BLE001
            continue
    else:
        return "cube"
    found = set()
    for path in paths:
        try:
            found.add(_band_of(fits.getheader(path), band_keyword))
        except Exception:  # noqa: BLE001 - reported by the reader
            continue
    if len(found - {None}) >= 2:
        return "files"
    if found == {None} and _looks_per_band(paths):
        raise ValueError(
            f"{Path(first).parent}: the 2-D FITS files look like one file per band (<id>_<band>.fits, e.g. "
            f"{Path(first).name}) but carry no {band_keyword!r} keyword naming their band, so they could be "
            f"single-band images as well; write the band into the {band_keyword!r} header keyword (as "
            "save_cutouts does), or call load_cutouts with layout='files' and one list of per-band files per "
            "object, or layout='cube' to read every file as a single-band image.")
    return "cube"


def _group_band_files(paths, bands, band_keyword, on_error, skipped):
    """Group per-band files ``<id>_<band>.fits`` into objects -> list of per-object file lists.

    The band of a file is its ``band_keyword``; its name must end in ``_<band>`` (the rest is
    the object). Within an object, files follow the stored ``BANDS`` order of its first file;
    without it, ``bands`` must be given (no order is stored anywhere else). With
    ``on_error="skip"``, unreadable or misnamed files are appended to ``skipped`` instead.
    """
    objects, order = {}, None
    for path in paths:
        name = Path(path).name
        stem = name[:len(name) - len(_fits_suffix(name))]
        try:
            try:
                header = fits.getheader(path)
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"{path}: cannot be read as FITS ({type(exc).__name__}: {exc}).") from exc
            band = _band_of(header, band_keyword)
            if band is None or not stem.endswith(f"_{band}"):
                raise ValueError(f"{path}: in a folder of per-band files every name must be <id>_<band>.fits with "
                                 f"the band in the {band_keyword!r} header keyword (found "
                                 f"{band_keyword}={band!r}); keep only such files in the folder.")
        except ValueError as exc:
            if on_error == "raise":
                raise
            skipped.append((str(path), str(exc)))
            continue
        objects.setdefault(stem[:-len(band) - 1], []).append((band, path))
        if order is None and header.get("BANDS"):
            order = [b.strip() for b in str(header["BANDS"]).split(",")]
    if order is None and bands is None and any(len(files) > 1 for files in objects.values()):
        raise ValueError(f"{Path(paths[0]).parent}: the per-band files do not record the band order (no "
                         "BANDS header keyword); pass bands=[...] (command line: --bands u,g,r,i,z).")
    rank = {b: i for i, b in enumerate(order or [])}
    return [[p for _, p in sorted(files, key=lambda bp: (rank.get(bp[0], len(rank)), bp[0]))]
            for _, files in sorted(objects.items())]


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
                if len(hdus) > 1:
                    raise ValueError(f"{path}: holds {len(hdus)} image HDUs (one per band?); read it with "
                                     "layout='hdus' (or layout='auto').")
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
    or half-written file behind (:func:`sklearn_ssl._atomic.atomic_paths`).

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
