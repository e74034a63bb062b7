"""The explorer's page: a bokeh layout (map, colour box, export button, look-alike panel) and its JavaScript.

The callbacks run in the browser (bokeh ``CustomJS``): the page needs no server. The data
source named ``galaxies`` holds one row per galaxy drawn (map coordinates, id, cutout file,
rarity rank, look-alikes, and the colour columns ``c:<name>``); the models named ``points``,
``colour``, ``export`` and ``lookalikes`` are what the browser test reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Most distinct values a text column may have to colour the map (one colour each).
_MAX_CATEGORIES = 20
_NAN_COLOR = "#bbbbbb"


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
for (const g of fills) { g.fill_color = {field: col, transform: m}; }
for (const g of lines) { g.line_color = {field: col, transform: m}; }
bar.color_mapper = m;
bar.title = cb_obj.value;
"""


def page_layout(ids, xy, score, rank, drawn, nn_idx, nn_dist, thumbs, frame, *, n_total, density, title,
                id_name, projection, n_features):
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
        mappers[col] = CategoricalColorMapper(factors=factors, palette=list(palette[:len(factors)]),
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
    # every glyph that draws the points: the plain one, and those of selected and unselected points
    fills = [g for g in (renderer.glyph, renderer.selection_glyph, renderer.nonselection_glyph, renderer.muted_glyph)
             if g is not None and g != "auto"]
    lines = [g for g in fills if g is not renderer.selection_glyph]  # selected points keep their black outline
    select.js_on_change("value", CustomJS(args=dict(mappers=mappers, fills=fills, lines=lines, bar=bar),
                                          code=_COLOUR_JS))
    return row(p, column(select, button, info))
