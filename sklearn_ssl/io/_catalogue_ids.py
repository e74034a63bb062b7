"""Pair embeddings with catalogue rows by object id, or refuse.

Matching rows by their order is how wrong labels creep in silently: ``sklearn-ssl embed`` writes
the objects in the order of the sorted file names, a catalogue comes in its own order, and a
classifier trained on shuffled labels still runs (and scores at chance). So rows are paired by an
id column (one of :data:`ID_COLUMNS`, case-insensitive, or the one named), and by order only
when asked for (``match_by_order=True``, command line ``--match-by-order``).

"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ID_COLUMNS", "find_id_columns", "match_catalogue"]

#: Catalogue columns recognised as object ids, compared case-insensitively (``OBJID``, ``ObjID``
#: and ``objid`` are one name), in order of preference when a catalogue has several.
ID_COLUMNS = ("id", "objid", "obj_id", "object_id", "objectid", "source_id", "sourceid", "galaxyid",
              "galaxy_id", "targetid", "target_id", "dr8objid", "specobjid", "name")


def find_id_columns(catalogue: pd.DataFrame) -> list[str]:
    """The catalogue's columns whose names are recognised ids (:data:`ID_COLUMNS`), in that order."""
    by_lower = {}
    for column in catalogue.columns:
        by_lower.setdefault(str(column).lower(), column)
    return [by_lower[name] for name in ID_COLUMNS if name in by_lower]


def _as_keys(values) -> pd.Series:
    """Ids as comparable strings: ``12`` and ``12.0`` (an integer column with a gap, read as float)
    and ``"12"`` are the same id; surrounding blanks are dropped; a missing id stays missing."""
    values = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
    out = []
    for v in values.array:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append(None)
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))
        elif isinstance(v, bytes):
            out.append(v.decode().strip())
        else:
            out.append(str(v).strip())
    return pd.Series(out, index=values.index, dtype=object)


def _examples(keys, n=3) -> str:
    return ", ".join(repr(k) for k in list(keys)[:n])


def _refuse_blank(keys: pd.Series, what: str) -> None:
    """A missing or blank id matches nothing: say so (not "duplicated"), naming the data rows."""
    blank = (keys.isna() | keys.isin(["", "nan", "None", "<NA>"])).to_numpy()
    if blank.any():
        rows = ", ".join(str(i + 1) for i in blank.nonzero()[0][:5]) + (", ..." if blank.sum() > 5 else "")
        raise ValueError(f"{what} has {int(blank.sum())} missing (blank) id(s), in data row(s) {rows}; every object "
                         "needs an id. Fill them in or drop those rows.")


def _refuse_duplicates(keys: pd.Series, what: str) -> None:
    """Ids match one object each: a repeated id would pair one embedding with several rows (and
    could put one object in a training and a test fold)."""
    repeated = keys[keys.duplicated()].unique()
    if len(repeated):
        shown = _examples(repeated, 5) + (", ..." if len(repeated) > 5 else "")
        raise ValueError(f"{what} has {len(repeated)} duplicated id(s) ({shown}); each object must appear "
                         "once. Remove or merge the duplicates.")


def match_catalogue(Z, ids, catalogue: pd.DataFrame, *, id_column=None, match_by_order=False,
                    embeddings_name="the embeddings", catalogue_name="the catalogue"):
    """Pair each embedding with its catalogue row by object id.

    Parameters
    ----------
    Z : array-like of shape (n, d)
        Embeddings.
    ids : array-like of shape (n,) or None
        Their object ids (``None``: the embeddings carry none, e.g. a ``.npy`` file).
    catalogue : pandas.DataFrame
        The catalogue.
    id_column : str or None, default=None
        Catalogue column holding the ids. ``None``: the recognised id column
        (:data:`ID_COLUMNS`, case-insensitive); where the catalogue has several, the one that
        matches the most embeddings.
    match_by_order : bool, default=False
        Pair the i-th embedding with the i-th row, ignoring ids. Only right when both were
        written in the same order; never assumed.
    embeddings_name, catalogue_name : str
        How the two are named in messages (e.g. their file names).

    Returns
    -------
    Z : ndarray of shape (m, d)
        The embeddings that have a catalogue row, in the catalogue's order.
    catalogue : pandas.DataFrame
        Their rows (index reset).
    report : str
        One line saying how rows were matched (``""`` when every embedding matched).

    Raises
    ------
    ValueError
        No ids to match by (and ``match_by_order`` is False); no recognised or named id column;
        duplicated ids; no embedding id found in the catalogue; lengths that differ under
        ``match_by_order``.
    """
    Z = np.asarray(Z)
    if match_by_order:
        if len(catalogue) != len(Z):
            raise ValueError(f"--match-by-order: {len(Z)} embeddings but {len(catalogue)} catalogue rows in "
                             f"{catalogue_name}; order matching needs one row per embedding.")
        return Z, catalogue.reset_index(drop=True), f"matched {len(Z)} rows by order (--match-by-order)"
    if ids is None:
        raise ValueError(f"{embeddings_name} carries no object ids (e.g. a .npy file), so its rows cannot be "
                         "matched to catalogue rows; write the embeddings as .csv or .parquet with 'sklearn-ssl "
                         "embed' (they keep the ids), or pass --match-by-order if both are in the same order.")
    keys = _as_keys(ids)
    _refuse_blank(keys, f"{embeddings_name}: the embedding ids")
    _refuse_duplicates(keys, f"{embeddings_name}: the embedding ids")
    if id_column is not None:
        if id_column not in catalogue.columns:
            raise ValueError(f"{catalogue_name}: no id column {id_column!r} (columns: "
                             f"{', '.join(map(str, catalogue.columns[:25]))}).")
        candidates = [id_column]
    else:
        candidates = find_id_columns(catalogue)
        if not candidates:
            raise ValueError(f"{catalogue_name}: no id column to match the embeddings by (recognised, any case: "
                             f"{', '.join(ID_COLUMNS)}; columns: {', '.join(map(str, catalogue.columns[:15]))}); "
                             "pass --id-column NAME, or --match-by-order if both are in the same order.")
    position = pd.Series(np.arange(len(keys)), index=pd.Index(keys))
    best = None
    for column in candidates:
        cat_keys = _as_keys(catalogue[column])
        n_hits = int(cat_keys.isin(position.index).sum())
        if best is None or n_hits > best[2]:
            best = (column, cat_keys, n_hits)
    column, cat_keys, n_hits = best
    if n_hits < len(keys):  # embeddings left without a row: rows with a blank id may be theirs
        _refuse_blank(cat_keys.reset_index(drop=True), f"{catalogue_name}: column {column!r}")
    if n_hits == 0:
        raise ValueError(f"no embedding id of {embeddings_name} is in column {column!r} of {catalogue_name} (e.g. "
                         f"embedding ids {_examples(keys)}; catalogue {_examples(cat_keys.dropna())}); pass "
                         "--id-column for another column.")
    matched = cat_keys.isin(position.index).to_numpy()
    _refuse_duplicates(cat_keys[matched], f"{catalogue_name}: column {column!r}")
    rows = catalogue.loc[matched].reset_index(drop=True)
    order = position.loc[cat_keys[matched].to_numpy()].to_numpy()
    report = ""
    if n_hits < len(keys):
        unmatched = keys[~keys.isin(cat_keys[matched])]
        report = (f"matched {n_hits} of {len(keys)} embeddings to catalogue rows by {column!r}; "
                  f"{len(unmatched)} have no row (e.g. {_examples(unmatched)}) and are left out")
    elif len(candidates) > 1:
        report = f"matched all {n_hits} embeddings by catalogue column {column!r}"
    return Z[order], rows, report
