"""How one object is read from each FITS cutout layout (``"cube"``, ``"hdus"``, ``"files"``).

The layouts are described in :mod:`sklearn_ssl.io.cutouts`, whose :func:`~sklearn_ssl.io.cutouts.load_cutouts`
runs the loop over objects, the output memory map and the skip policy; here are the pieces it
calls per file: telling the layout apart from the headers, grouping a folder of per-band files
into objects, reading one object's planes, band names and id, and ordering the bands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits


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
