"""The explorer: a survey's embedding as a web page that opens from disk, with no server and no internet.

:func:`explore` projects the embeddings to 2-D (UMAP, or PCA), draws them with bokeh (its
JavaScript inlined, no CDN) and writes a folder: ``index.html``, the cutouts as small PNG
colour composites in ``thumbs/`` (astropy's :func:`~astropy.visualization.make_lupton_rgb`),
loaded by the browser only when a tooltip or a look-alike list shows them, and ``map.csv``
(id, map coordinates, rarity score and rank). The page colours the map by any catalogue
column, shows a galaxy's cutout on hover, its k look-alikes (nearest neighbours in the
embedding by :class:`~sklearn_ssl.SimilaritySearch`, computed here) and its rarity rank
(:meth:`~sklearn_ssl.SimilaritySearch.score_samples`, 1 = the most unusual) on a click, and
exports a lasso selection's ids as CSV. Beyond ``max_points`` galaxies the map is the density
of all of them (hexagonal bins) with a random subsample drawn on top, and the page says so.

bokeh and umap-learn are optional: ``pip install 'sklearn-ssl[explore]'``.
"""

from __future__ import annotations

import importlib
import json
import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from ._page import page_layout
from ._thumbnails import write_thumbnails

__all__ = ["explore"]

_EXTRA = "pip install 'sklearn-ssl[explore]'"
_PROJECTIONS = ("umap", "pca")


def _optional(module: str, what: str):
    """Import an optional dependency, or raise an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {module.split('.')[0]}, which is not installed: {_EXTRA}.") from None


# -- inputs -----------------------------------------------------------------------------------------
def _as_ids(ids, n: int, what: str) -> np.ndarray:
    ids = np.asarray(ids).astype(str)
    if ids.shape != (n,):
        raise ValueError(f"{what}: {ids.size} ids for {n} embeddings; give one id per embedding.")
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        shown = ", ".join(repr(v) for v in values[counts > 1][:5])
        raise ValueError(f"{what}: {int((counts > 1).sum())} duplicated id(s) ({shown}); each object must appear "
                         "once. Remove or merge the duplicates.")
    return ids


def _embeddings(embeddings, ids):
    if isinstance(embeddings, (str, Path)):
        from ..io import load_embeddings

        Z, file_ids = load_embeddings(embeddings)
        ids = file_ids if ids is None else ids
    else:
        Z = embeddings
    try:
        Z = np.asarray(Z, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"embeddings must be numbers ({exc}).") from None
    if Z.ndim != 2 or Z.shape[1] == 0:
        raise ValueError(f"embeddings must be a 2-D (n_samples, n_features) array; got shape {Z.shape}.")
    if len(Z) < 3:
        raise ValueError(f"{len(Z)} embeddings: the explorer needs at least 3 (a map and look-alikes).")
    if not np.isfinite(Z).all():
        raise ValueError(f"embeddings: {int((~np.isfinite(Z)).any(axis=1).sum())} rows hold NaN or infinite "
                         "values; drop or recompute them.")
    return Z, ids


def align_images(images, image_ids, ids):
    """Check ``images`` against the embeddings' ``ids``; return them and the image row of each embedding.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W) or (n, H, W)
        Left as they are (a memory map or HDF5 dataset stays on disk).
    image_ids : array-like of shape (n,) or None
        Matched to ``ids`` when given; else the images must be in the embeddings' order.
    ids : sequence of str
        The embeddings' ids.

    Returns
    -------
    images : array-like of shape (n, C, H, W) or (n, H, W)
    rows : ndarray of shape (len(ids),)
        ``images[rows[i]]`` is the image of embedding ``i``.
    """
    images = images if hasattr(images, "shape") and hasattr(images, "__getitem__") else np.asarray(images)
    if len(images.shape) not in (3, 4):
        raise ValueError(f"images must be (n, bands, height, width) or (n, height, width); got shape "
                         f"{tuple(images.shape)}.")
    if image_ids is None:
        if len(images) != len(ids):
            raise ValueError(f"{len(images)} images but {len(ids)} embeddings, and no image ids to match them; "
                             "give the images the embeddings were computed from, in the same order.")
        return images, np.arange(len(ids))
    position = {str(k): i for i, k in enumerate(np.asarray(image_ids))}
    rows = [position.get(str(k)) for k in ids]
    missing = [k for k, r in zip(ids, rows) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} of {len(ids)} embedding ids have no image (e.g. {missing[0]!r}); "
                         "give the images the embeddings were computed from.")
    return images, np.asarray(rows, dtype=np.int64)


def _catalogue(catalogue, ids, id_column) -> pd.DataFrame:
    """The catalogue's rows in the order of ``ids`` (by ``id_column``, or ``"id"``, else in order)."""
    if catalogue is None:
        return pd.DataFrame(index=range(len(ids)))
    if isinstance(catalogue, (str, Path)):
        from ..io import read_catalogue

        if not Path(catalogue).exists():
            raise FileNotFoundError(f"{catalogue}: no such file or directory.")
        catalogue = read_catalogue(catalogue)
    frame = pd.DataFrame(catalogue)
    if id_column is not None and id_column not in frame.columns:
        raise ValueError(f"catalogue: no id column {id_column!r} (columns: {', '.join(map(str, frame.columns[:25]))}).")
    id_column = id_column if id_column is not None else ("id" if "id" in frame.columns else None)
    if id_column is None:
        if len(frame) != len(ids):
            raise ValueError(f"{len(frame)} catalogue rows but {len(ids)} embeddings, and no 'id' column to match "
                             "them; pass id_column (--id-column).")
        return frame.reset_index(drop=True)
    keys = frame[id_column].astype(str)
    _as_ids(keys.to_numpy(), len(keys), f"catalogue column {id_column!r}")
    frame = frame.drop(columns=[id_column]).set_axis(keys.to_numpy(), axis=0)
    matched = np.isin(ids, keys.to_numpy())
    if not matched.any():
        raise ValueError(f"no catalogue {id_column!r} matches an embedding id (e.g. catalogue {keys.iloc[0]!r}, "
                         f"embeddings {ids[0]!r}).")
    return frame.reindex(ids).reset_index(drop=True)


# -- what the page shows ----------------------------------------------------------------------------
def _project(Z, projection, random_state) -> np.ndarray:
    if projection == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=random_state).fit_transform(Z)
    umap = _optional("umap", "projection='umap' (--projection umap)")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(Z) - 1), metric="cosine",
                        random_state=random_state)
    return reducer.fit_transform(Z)


# -- the public function ----------------------------------------------------------------------------
def _check(projection, n_neighbors, max_points, n_sample):
    if projection not in _PROJECTIONS:
        raise ValueError(f"projection={projection!r}; use one of {', '.join(map(repr, _PROJECTIONS))}.")
    for name, value in (("n_neighbors", n_neighbors), ("max_points", max_points), ("n_sample", n_sample)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def _neighbours(search, Z, drawn, k, n):
    """Look-alikes (indices, distances) of the drawn rows, none its own."""
    if len(drawn) == n:
        dist, idx = search.kneighbors(n_neighbors=k)
        return idx, dist
    dist, idx = search.kneighbors(Z[drawn], n_neighbors=k + 1)
    own = idx == drawn[:, None]
    keep = ~own
    keep[~own.any(axis=1), -1] = False  # a row whose own index is not among its k + 1: drop the farthest
    return idx[keep].reshape(len(drawn), k), dist[keep].reshape(len(drawn), k)


def _write_explorer(folder, embeddings, images=None, *, image_ids=None, ids=None, catalogue=None, id_column=None,
                   projection="umap", n_neighbors=8, max_points=100_000, n_sample=10_000, rgb_bands=None, search=None,
                   title="sklearn-ssl explorer", random_state=0) -> dict:
    """Write the explorer into ``folder`` (an empty, existing folder); :func:`explore` does it atomically.

    Returns a dict of what was written (``n``, ``n_drawn``, ``density``, ``projection``, ...), also
    written to ``explorer.json``.
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    _check(projection, n_neighbors, max_points, n_sample)
    folder = Path(folder)
    Z, ids = _embeddings(embeddings, ids)
    if isinstance(images, (str, Path)):
        from ..io import load_images

        images, file_ids = load_images(images)
        image_ids = file_ids if image_ids is None else image_ids
    if ids is None and image_ids is not None:
        ids = image_ids
    n = len(Z)
    ids = _as_ids(np.arange(n) if ids is None else ids, n, "ids")
    if n_neighbors >= n:
        raise ValueError(f"n_neighbors={n_neighbors} but only {n} embeddings (each is not its own look-alike); "
                         f"ask for at most {n - 1}.")
    frame = _catalogue(catalogue, ids, id_column)
    if images is not None:
        images, image_rows = align_images(images, image_ids, ids)
    if search is None:
        from ..evaluation import SimilaritySearch

        search = SimilaritySearch(n_neighbors=n_neighbors).fit(Z)
    elif getattr(search, "nn_", None) is None or search.nn_.n_samples_fit_ != n:
        raise ValueError("search must be a SimilaritySearch fitted on these embeddings (the same rows, in order).")
    score = search.score_samples()
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(score, kind="stable")] = np.arange(1, n + 1)  # 1 = the lowest score, the most unusual
    density = n > max_points
    drawn = (np.sort(np.random.default_rng(random_state).choice(n, size=min(n_sample, n), replace=False))
             if density else np.arange(n))
    nn_idx, nn_dist = _neighbours(search, Z, drawn, n_neighbors, n)
    xy = _project(Z, projection, random_state)
    if images is not None:
        write_thumbnails(folder / "thumbs", images, image_rows, np.union1d(drawn, nn_idx.ravel()), rgb_bands,
                          random_state)
    id_name = str(id_column or "id")
    layout = page_layout(ids, xy, score, rank, drawn, nn_idx, nn_dist, images is not None, frame, n_total=n,
                   density=density, title=title, id_name=id_name, projection=projection, n_features=Z.shape[1])
    (folder / "index.html").write_text(file_html(layout, INLINE, title=title), encoding="utf-8")
    pd.DataFrame({id_name: ids, "x": xy[:, 0], "y": xy[:, 1], "rarity_score": score, "rarity_rank": rank,
                  "drawn": np.isin(np.arange(n), drawn)}).to_csv(folder / "map.csv", index=False, float_format="%.6g")
    info = {"n": n, "n_drawn": int(len(drawn)), "density": bool(density), "projection": projection,
            "n_neighbors": int(n_neighbors), "thumbnails": images is not None}
    (folder / "explorer.json").write_text(json.dumps(info, indent=1))
    return info


def explore(embeddings, images=None, *, out, image_ids=None, ids=None, catalogue=None, id_column=None,
            projection="umap", n_neighbors=8, max_points=100_000, n_sample=10_000, rgb_bands=None, search=None,
            title="sklearn-ssl explorer", random_state=0) -> Path:
    """Write an explorer of a survey's embeddings: a folder whose ``index.html`` opens from disk.

    The page (bokeh, its JavaScript inlined: no server, no internet) draws a 2-D map of the
    embeddings coloured by any catalogue column (a select box), shows a galaxy's cutout when
    the pointer is over it, its look-alikes and rarity rank when it is clicked, and exports the
    ids of a lasso selection as ``selection.csv``. Beyond ``max_points`` galaxies the map is the
    density of all of them with ``n_sample`` drawn at random on top (the page says so).

    Parameters
    ----------
    embeddings : array-like of shape (n, d), or str or path
        Embeddings, or a file written by ``sklearn-ssl embed`` (``.npy``, or ``.csv``/``.parquet``
        with an ``id`` column).
    images : array-like of shape (n, C, H, W), str, path or None
        The cutouts, in the embeddings' order, or a file or folder of them as the
        command line reads (``.npy``/``.npz``, FITS; matched to the embeddings by id when both
        have ids). Thumbnails are Lupton et al. (2004) colour
        composites (:func:`astropy.visualization.make_lupton_rgb`) written as PNG files beside the
        page. None: no thumbnails.
    image_ids : array-like of shape (n_images,) or None
        Ids of the images (default: those of an images file, if any): the images are then
        matched to the embeddings by id, and may be more, or in another order.
    out : str or path
        Folder to write. Written atomically: nothing appears under this name on error. An
        existing folder is replaced only if sklearn-ssl wrote it.
    ids : array-like of shape (n,) or None
        Object ids (default: the embeddings file's ``id`` column, else 0 .. n-1).
    catalogue : DataFrame, str, path or None
        A table (or a file :func:`sklearn_ssl.cutouts.read_catalogue` reads) whose columns can
        colour the map: numbers on a linear scale, text or booleans with at most 20 values as
        classes. Matched to the ids by ``id_column`` (default: its ``id`` column if any; else
        row by row).
    id_column : str or None
        Catalogue column holding the ids.
    projection : {"umap", "pca"}, default="umap"
        UMAP (umap-learn, cosine metric) or PCA to two dimensions.
    n_neighbors : int, default=8
        Look-alikes per galaxy, and neighbours averaged by the rarity score.
    max_points : int, default=100_000
        Most galaxies drawn one by one; beyond, the density map with a subsample.
    n_sample : int, default=10_000
        Galaxies drawn on top of the density map (when there are more than ``max_points``).
    rgb_bands : tuple of 3 int or None
        Bands shown as red, green, blue (default: i, r, g for 5 bands, the last, middle and first
        band for 3 or 4, grey for 1 or 2).
    search : SimilaritySearch or None
        A :class:`~sklearn_ssl.SimilaritySearch` already fitted on ``embeddings`` (e.g. with a
        faster index); default: one fitted here with ``n_neighbors``.
    title : str, default="sklearn-ssl explorer"
    random_state : int, default=0
        Seed of the projection and the subsample.

    Returns
    -------
    out : Path
        The folder written (``index.html``, ``thumbs/``, ``map.csv``: id, map coordinates,
        rarity score and rank, and whether the page draws it; ``explorer.json``).

    Examples
    --------
    >>> from sklearn_ssl.datasets import make_galaxy_survey
    >>> from sklearn_ssl.discovery import explore
    >>> images, catalogue = make_galaxy_survey(200, image_size=24, random_state=0)
    >>> Z = images.reshape(200, -1)[:, ::40]                     # any embedding of the images
    >>> explore(Z, images, ids=catalogue["id"], catalogue=catalogue, projection="pca",
    ...         out="explorer")                                  # doctest: +SKIP
    """
    from ..utils import atomic_dir

    _check(projection, n_neighbors, max_points, n_sample)
    _optional("bokeh", "The explorer")
    if projection == "umap":
        _optional("umap", "projection='umap' (--projection umap)")
    with atomic_dir(out, what="explorer") as tmp:
        _write_explorer(tmp, embeddings, images, image_ids=image_ids, ids=ids, catalogue=catalogue, id_column=id_column,
                       projection=projection, n_neighbors=n_neighbors, max_points=max_points, n_sample=n_sample,
                       rgb_bands=rgb_bands, search=search, title=title, random_state=random_state)
    return Path(out)
