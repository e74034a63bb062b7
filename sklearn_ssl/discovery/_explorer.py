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

__all__ = ["explore"]

_EXTRA = "pip install 'sklearn-ssl[explore]'"
_PROJECTIONS = ("umap", "pca")
#: Most distinct values a text column may have to colour the map (one colour each).
_MAX_CATEGORIES = 20
_NAN_COLOR = "#bbbbbb"


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
        from .._io import load_embeddings

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


def align_images(images, image_ids, ids) -> np.ndarray:
    """``images`` in the order of ``ids`` (matched by id when both have ids, else in order).

    Parameters
    ----------
    images : array-like of shape (n, C, H, W) or (n, H, W)
    image_ids : array-like of shape (n,) or None
    ids : ndarray of shape (n_embeddings,)
        The embeddings' ids (as strings).
    """
    images = np.asarray(images) if not hasattr(images, "shape") else images
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"images must be (n, bands, height, width) or (n, height, width); got shape "
                         f"{tuple(images.shape)}.")
    if image_ids is not None:
        position = {str(k): i for i, k in enumerate(np.asarray(image_ids))}
        rows = [position.get(k) for k in ids]
        missing = [k for k, r in zip(ids, rows) if r is None]
        if missing:
            raise ValueError(f"{len(missing)} of {len(ids)} embedding ids have no image (e.g. {missing[0]!r}); "
                             "give the images the embeddings were computed from.")
        return images[np.asarray(rows)] if rows != list(range(len(images))) else images
    if len(images) != len(ids):
        raise ValueError(f"{len(images)} images but {len(ids)} embeddings, and no image ids to match them; give "
                         "the images the embeddings were computed from, in the same order.")
    return images


def _catalogue(catalogue, ids, id_column) -> pd.DataFrame:
    """The catalogue's rows in the order of ``ids`` (by ``id_column``, or ``"id"``, else in order)."""
    if catalogue is None:
        return pd.DataFrame(index=range(len(ids)))
    if isinstance(catalogue, (str, Path)):
        from ..cutouts import read_catalogue

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


def default_rgb_bands(n_bands: int) -> tuple:
    """Bands shown as red, green, blue, for bands ordered blue to red (as ugriz or grz).

    5 bands (ugriz): i, r, g, as in SDSS's colour images; 3 bands (grz): z, r, g; 4 bands: the
    last, the third and the first; 1 or 2 bands: the first band as grey.
    """
    if n_bands == 5:
        return (3, 2, 1)
    if n_bands >= 3:
        return (n_bands - 1, n_bands // 2, 0) if n_bands > 3 else (2, 1, 0)
    return (0, 0, 0)


class _Composite:
    """Lupton et al. (2004) colour composites with one stretch for the whole survey.

    The sky level of each band is its median pixel, the stretch the 99.5th percentile of the
    summed, sky-subtracted intensity over (a sample of) the images, so that faint and bright
    galaxies keep their contrast across thumbnails.
    """

    def __init__(self, images, rgb_bands, Q=8.0, random_state=0):
        n_bands = images.shape[1]
        self.bands = default_rgb_bands(n_bands) if rgb_bands is None else tuple(int(b) for b in rgb_bands)
        if len(self.bands) != 3 or not all(0 <= b < n_bands for b in self.bands):
            raise ValueError(f"rgb_bands must be three band indices in [0, {n_bands}); got {rgb_bands!r}.")
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(len(images), size=min(len(images), 500), replace=False))
        sample = np.nan_to_num(np.asarray(images[rows], dtype=np.float32)[:, list(self.bands)])
        self.minimum = np.median(sample, axis=(0, 2, 3))
        intensity = (sample - self.minimum[None, :, None, None]).sum(axis=1)
        self.stretch = max(float(np.percentile(intensity, 99.5)), 1e-12) / 3.0
        self.Q = Q

    def __call__(self, image) -> np.ndarray:
        from astropy.visualization import make_lupton_rgb

        image = np.nan_to_num(np.asarray(image, dtype=np.float32))
        r, g, b = (image[band] for band in self.bands)
        return make_lupton_rgb(r, g, b, minimum=self.minimum, stretch=self.stretch, Q=self.Q)


def _write_thumbnails(folder: Path, images, rows, rgb_bands, random_state) -> None:
    from PIL import Image

    folder.mkdir()
    composite = _Composite(images, rgb_bands, random_state=random_state)
    for i in rows:
        Image.fromarray(composite(images[i])).save(folder / f"{i}.png", optimize=False)


def _colour_columns(frame: pd.DataFrame):
    """Columns that can colour the map: numbers (a linear scale) and few-valued text or booleans."""
    numeric, categorical = {}, {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            text = values.astype("string").fillna("")
            factors = sorted(v for v in text.unique() if v != "")
            if 0 < len(factors) <= _MAX_CATEGORIES:
                categorical[str(col)] = (text.to_numpy(dtype=object), factors)
        else:
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            if np.isfinite(x).any():
                numeric[str(col)] = x
    return numeric, categorical


def _data_source(ids, xy, score, rank, drawn, nn_idx, nn_dist, thumbs, frame):
    data = {"x": xy[drawn, 0], "y": xy[drawn, 1], "id": list(ids[drawn]), "rarity_rank": rank[drawn],
            "rarity_score": score[drawn],
            "thumb": [f"thumbs/{i}.png" if thumbs else "" for i in drawn],
            "nn_id": [list(ids[row]) for row in nn_idx],
            "nn_thumb": [[f"thumbs/{j}.png" if thumbs else "" for j in row] for row in nn_idx],
            "nn_dist": [[round(float(d), 4) for d in row] for row in nn_dist]}
    numeric, categorical = _colour_columns(frame)
    for col, x in numeric.items():
        data[f"c:{col}"] = x[drawn]
    for col, (text, _) in categorical.items():
        data[f"c:{col}"] = list(text[drawn])
    return data, numeric, categorical


_SELECTION_JS = """
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
const sel = source.selected.indices;
const d = source.data;
if (sel.length == 0) {
  info.text = intro;
  button.disabled = true;
  button.label = 'Export the lasso selection as CSV';
  return;
}
button.disabled = false;
button.label = 'Export ' + sel.length + ' selected id' + (sel.length > 1 ? 's' : '') + ' as CSV';
if (sel.length > 1) {
  info.text = '<p><b>' + sel.length + '</b> galaxies selected. Export their ids with the button; click one galaxy to see its look-alikes.</p>';
  return;
}
const i = sel[0];
const img = (src, size) => src ? '<img loading="lazy" src="' + esc(src) + '" width="' + size + '" height="' + size + '" style="image-rendering:pixelated;vertical-align:middle">' : '';
let html = '<div class="galaxy"><p>' + img(d.thumb[i], 96) + ' <b>id <span class="galaxy-id">' + esc(d.id[i]) + '</span></b><br>rarity rank <span class="rarity-rank">' + d.rarity_rank[i] + '</span> of ' + n_total + ' (1 = most unusual)</p>';
html += '<p>' + d.nn_id[i].length + ' look-alikes (cosine distance):</p><ol class="lookalikes">';
for (let j = 0; j < d.nn_id[i].length; j++) {
  html += '<li>' + img(d.nn_thumb[i][j], 48) + ' <span class="lookalike-id">' + esc(d.nn_id[i][j]) + '</span> (' + Number(d.nn_dist[i][j]).toFixed(3) + ')</li>';
}
info.text = html + '</ol></div>';
"""

_EXPORT_JS = """
const sel = source.selected.indices;
if (sel.length == 0) { return; }
const quote = (s) => /[",\\n\\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
const lines = [quote(id_name)];
for (const i of sel) { lines.push(quote(String(source.data.id[i]))); }
const blob = new Blob([lines.join('\\n') + '\\n'], {type: 'text/csv'});
const a = document.createElement('a');
a.href = URL.createObjectURL(blob);
a.download = 'selection.csv';
document.body.appendChild(a);
a.click();
a.remove();
"""

_COLOUR_JS = """
const col = 'c:' + cb_obj.value;
const m = mappers[cb_obj.value];
for (const g of glyphs) {
  g.fill_color = {field: col, transform: m};
  g.line_color = {field: col, transform: m};
}
bar.color_mapper = m;
bar.title = cb_obj.value;
"""


def _page(ids, xy, score, rank, drawn, nn_idx, nn_dist, thumbs, frame, *, n_total, density, title, id_name,
          projection, n_features):
    """The bokeh layout of the explorer."""
    from bokeh.layouts import column, row
    from bokeh.models import (Button, CategoricalColorMapper, ColorBar, ColumnDataSource, CustomJS, Div,
                              HoverTool, LassoSelectTool, LinearColorMapper, Select, TapTool)
    from bokeh.palettes import Category10, Category20, Viridis256
    from bokeh.plotting import figure

    data, numeric, categorical = _data_source(ids, xy, score, rank, drawn, nn_idx, nn_dist, thumbs, frame)
    data["c:rarity rank"] = rank[drawn].astype(np.float64)
    mappers = {}
    for col, (_, factors) in categorical.items():
        palette = Category10[10] if len(factors) <= 10 else Category20[20]
        mappers[col] = CategoricalColorMapper(factors=factors, palette=list(palette[:max(len(factors), 3)]),
                                              nan_color=_NAN_COLOR)
    for col, x in numeric.items():
        lo, hi = np.nanpercentile(x, [1, 99])
        mappers[col] = LinearColorMapper(palette=Viridis256, low=float(lo), high=float(hi if hi > lo else lo + 1),
                                         nan_color=_NAN_COLOR)
    mappers["rarity rank"] = LinearColorMapper(palette=Viridis256[::-1], low=1, high=n_total)
    options = list(mappers)
    first = options[0]
    source = ColumnDataSource(data, name="galaxies")

    p = figure(title=title, width=760, height=640, tools="pan,wheel_zoom,box_zoom,reset,save",
               x_axis_label=f"{projection} 1", y_axis_label=f"{projection} 2",
               output_backend="webgl" if len(drawn) > 20_000 else "canvas")
    if density:
        p.hexbin(xy[:, 0], xy[:, 1], size=float(np.ptp(xy[:, 0]) or 1.0) / 80, palette="Greys256",
                 fill_alpha=0.6, line_color=None)
    size = 7 if len(drawn) <= 2_000 else 4 if len(drawn) <= 20_000 else 2
    renderer = p.scatter("x", "y", source=source, size=size, alpha=0.85,
                         fill_color={"field": f"c:{first}", "transform": mappers[first]},
                         line_color={"field": f"c:{first}", "transform": mappers[first]},
                         selection_line_color="black", nonselection_alpha=0.25, name="points")
    tooltip = ('<div style="width:110px">'
               + ('<img src="@thumb" width="96" height="96" style="image-rendering:pixelated"><br>' if thumbs else "")
               + "<b>@id</b><br>rarity rank @rarity_rank</div>")
    p.add_tools(HoverTool(renderers=[renderer], tooltips=tooltip), TapTool(renderers=[renderer]),
                LassoSelectTool(renderers=[renderer]))
    bar = ColorBar(color_mapper=mappers[first], title=first, width=12)
    p.add_layout(bar, "right")
    if density:
        how = (f"<p><b>{n_total:,} galaxies</b>, more than can be drawn one by one: the grey hexagons show the "
               f"density of all of them; the {len(drawn):,} coloured points drawn on top are a random subsample, "
               "and hover, click and lasso act on those.</p>")
    else:
        how = f"<p><b>{n_total:,} galaxies</b>.</p>"
    intro = (how + f"<p>Map: {projection.upper()} of the {n_features}-dimensional embeddings. Hover a point for "
             "its cutout; click one for its look-alikes (nearest neighbours in the embedding, cosine distance) "
             "and its rarity rank; draw a lasso (toolbar) around several and export their ids as CSV.</p>")
    info = Div(text=intro, width=360, name="lookalikes", styles={"overflow-y": "auto", "max-height": "560px"})
    button = Button(label="Export the lasso selection as CSV", disabled=True, name="export", width=360)
    button.js_on_event("button_click", CustomJS(args=dict(source=source, id_name=id_name), code=_EXPORT_JS))
    source.selected.js_on_change("indices", CustomJS(
        args=dict(source=source, info=info, button=button, intro=intro, n_total=n_total), code=_SELECTION_JS))
    select = Select(title="Colour by", value=first, options=options, name="colour", width=360)
    select.js_on_change("value", CustomJS(args=dict(mappers=mappers, glyphs=[renderer.glyph], bar=bar),
                                          code=_COLOUR_JS))
    return row(p, column(select, button, info))


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


def write_explorer(folder, embeddings, images=None, *, ids=None, catalogue=None, id_column=None, projection="umap",
                   n_neighbors=8, max_points=100_000, n_sample=10_000, rgb_bands=None, search=None,
                   title="sklearn-ssl explorer", random_state=0) -> dict:
    """Write the explorer into ``folder`` (an empty, existing folder); :func:`explore` does it atomically.

    Returns a dict of what was written (``n``, ``n_drawn``, ``density``, ``projection``).
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    _check(projection, n_neighbors, max_points, n_sample)
    folder = Path(folder)
    Z, ids = _embeddings(embeddings, ids)
    image_ids = None
    if isinstance(images, (str, Path)):
        from .._io import load_images

        images, image_ids = load_images(images)
        ids = image_ids if ids is None else ids
    n = len(Z)
    ids = _as_ids(np.arange(n) if ids is None else ids, n, "ids")
    if n_neighbors >= n:
        raise ValueError(f"n_neighbors={n_neighbors} but only {n} embeddings (each is not its own look-alike); "
                         f"ask for at most {n - 1}.")
    frame = _catalogue(catalogue, ids, id_column)
    if images is not None:
        images = align_images(images, image_ids, ids)
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
        _write_thumbnails(folder / "thumbs", images, np.union1d(drawn, nn_idx.ravel()), rgb_bands, random_state)
    id_name = str(id_column or "id")
    layout = _page(ids, xy, score, rank, drawn, nn_idx, nn_dist, images is not None, frame, n_total=n,
                   density=density, title=title, id_name=id_name, projection=projection, n_features=Z.shape[1])
    (folder / "index.html").write_text(file_html(layout, INLINE, title=title), encoding="utf-8")
    pd.DataFrame({id_name: ids, "x": xy[:, 0], "y": xy[:, 1], "rarity_score": score, "rarity_rank": rank,
                  "drawn": np.isin(np.arange(n), drawn)}).to_csv(folder / "map.csv", index=False, float_format="%.6g")
    info = {"n": n, "n_drawn": int(len(drawn)), "density": bool(density), "projection": projection,
            "n_neighbors": int(n_neighbors), "thumbnails": images is not None}
    (folder / "explorer.json").write_text(json.dumps(info, indent=1))
    return info


def explore(embeddings, images=None, *, out, ids=None, catalogue=None, id_column=None, projection="umap",
            n_neighbors=8, max_points=100_000, n_sample=10_000, rgb_bands=None, search=None,
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
    from .._atomic import atomic_dir

    _check(projection, n_neighbors, max_points, n_sample)
    _optional("bokeh", "The explorer")
    if projection == "umap":
        _optional("umap", "projection='umap' (--projection umap)")
    with atomic_dir(out, what="explorer") as tmp:
        write_explorer(tmp, embeddings, images, ids=ids, catalogue=catalogue, id_column=id_column,
                       projection=projection, n_neighbors=n_neighbors, max_points=max_points, n_sample=n_sample,
                       rgb_bands=rgb_bands, search=search, title=title, random_state=random_state)
    return Path(out)
