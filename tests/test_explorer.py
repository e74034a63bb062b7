"""The explorer (``sklearn-ssl explore``, :func:`sklearn_ssl.discovery.explore`): the folder it writes, its
errors, and the page itself in a real headless Chromium (selenium): it loads without console errors, draws
every galaxy, loads a cutout only on hover, shows the look-alikes and rarity rank of a clicked galaxy, and
exports a lasso selection as CSV."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from sklearn_ssl.cli import main
from sklearn_ssl.datasets import make_galaxy_survey

pytest.importorskip("bokeh")

N, K = 48, 5


@pytest.fixture(scope="module")
def survey():
    images, catalogue = make_galaxy_survey(N, image_size=16, rare_fraction=0.1, random_state=0)
    rng = np.random.default_rng(0)
    Z = (np.arcsinh(images / 0.1).reshape(N, -1) @ rng.normal(size=(images[0].size, 12))).astype(np.float32)
    catalogue = catalogue.assign(id=[f"G{1000 + i}" for i in range(N)])  # ids that are not row numbers
    return images, catalogue, Z


def _expected(Z, k=K):
    """Look-alikes (ids positions) and rarity ranks computed here, independently of the package."""
    dist, idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(Z).kneighbors(Z)
    assert (idx[:, 0] == np.arange(len(Z))).all()
    dist, idx = dist[:, 1:], idx[:, 1:]
    rank = np.empty(len(Z), dtype=int)
    rank[np.argsort(-dist.mean(axis=1), kind="stable")] = np.arange(1, len(Z) + 1)
    return idx, rank


@pytest.fixture(scope="module")
def cli_explorer(survey, tmp_path_factory):
    """The explorer written by the command line from the files ``sklearn-ssl embed`` writes."""
    images, catalogue, Z = survey
    folder = tmp_path_factory.mktemp("explore")
    np.save(folder / "images.npy", images)
    pd.concat([pd.DataFrame({"id": catalogue["id"]}), pd.DataFrame(Z, columns=[f"f{j}" for j in range(Z.shape[1])])],
              axis=1).to_csv(folder / "embeddings.csv", index=False)
    catalogue.sample(frac=1, random_state=0).to_csv(folder / "catalogue.csv", index=False)  # rows in another order
    code = main(["explore", "--embeddings", str(folder / "embeddings.csv"), "--images", str(folder / "images.npy"),
                 "--catalogue", str(folder / "catalogue.csv"), "--projection", "pca", "--neighbors", str(K),
                 "--out", str(folder / "explorer")])
    assert code == 0
    Z_read = pd.read_csv(folder / "embeddings.csv").drop(columns="id").to_numpy(np.float32)
    return folder / "explorer", Z_read


def test_folder_holds_page_thumbnails_and_map(cli_explorer, survey):
    out, Z = cli_explorer
    _, catalogue, _ = survey
    html = (out / "index.html").read_text()
    assert not re.search(r"<script[^>]+src=", html), "the page must not load scripts from elsewhere"
    assert "<link" not in html
    assert len(list((out / "thumbs").glob("*.png"))) == N
    info = json.loads((out / "explorer.json").read_text())
    assert info == {"n": N, "n_drawn": N, "density": False, "projection": "pca", "n_neighbors": K,
                    "thumbnails": True}
    table = pd.read_csv(out / "map.csv")
    assert table["id"].tolist() == catalogue["id"].tolist()
    _, rank = _expected(Z)
    np.testing.assert_array_equal(table["rarity_rank"], rank)


def test_thumbnail_is_the_galaxys_lupton_composite(tmp_path, survey):
    from astropy.visualization import make_lupton_rgb
    from PIL import Image

    from sklearn_ssl.discovery import explore
    from sklearn_ssl.discovery._thumbnails import _Composite

    images, catalogue, Z = survey
    order = np.random.default_rng(1).permutation(N)  # images in another order, matched by their ids
    explore(Z, images[order], image_ids=catalogue["id"].to_numpy()[order], ids=catalogue["id"], out=tmp_path / "e",
            projection="pca", n_neighbors=K)
    composite = _Composite(images, None)
    expected = make_lupton_rgb(images[7, 3], images[7, 2], images[7, 1], minimum=composite.minimum,
                               stretch=composite.stretch, Q=composite.Q)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "e" / "thumbs" / "7.png")), expected)
    assert expected.std() > 10, "a thumbnail with no contrast"


def test_density_map_beyond_max_points(tmp_path, survey):
    from sklearn_ssl.discovery import explore

    images, catalogue, Z = survey
    explore(Z, images, out=tmp_path / "e", ids=catalogue["id"], catalogue=catalogue, projection="pca",
            n_neighbors=K, max_points=30, n_sample=12)
    info = json.loads((tmp_path / "e" / "explorer.json").read_text())
    assert info["density"] and info["n_drawn"] == 12
    html = (tmp_path / "e" / "index.html").read_text()
    assert "random subsample" in html and "density of all of them" in html
    # thumbnails only for the galaxies drawn and their look-alikes, which come from the whole survey
    nn, _ = _expected(Z)
    drawn = np.flatnonzero(pd.read_csv(tmp_path / "e" / "map.csv")["drawn"])
    assert len(drawn) == 12
    written = {int(p.stem) for p in (tmp_path / "e" / "thumbs").glob("*.png")}
    assert written == set(drawn) | set(nn[drawn].ravel())
    from sklearn_ssl.discovery._explorer import _neighbours
    from sklearn_ssl.evaluation import SimilaritySearch

    search = SimilaritySearch(n_neighbors=K).fit(Z)
    idx, _ = _neighbours(search, Z, drawn, K, N)
    np.testing.assert_array_equal(idx, nn[drawn])  # each drawn galaxy's look-alikes, never itself


def test_catalogue_rows_follow_the_ids(survey):
    from sklearn_ssl.discovery._explorer import _catalogue

    _, catalogue, _ = survey
    shuffled = catalogue.sample(frac=1, random_state=1).iloc[5:]  # other order, some galaxies missing
    frame = _catalogue(shuffled, catalogue["id"].to_numpy().astype(str), None)
    expected = catalogue.set_index("id")["redshift"].where(catalogue.set_index("id").index.isin(shuffled["id"]))
    np.testing.assert_array_equal(frame["redshift"], expected.to_numpy())
    assert frame["redshift"].isna().sum() == 5 and "id" not in frame.columns


def test_written_atomically(tmp_path, survey):
    from sklearn_ssl.discovery import explore

    images, _, Z = survey
    with pytest.raises(ValueError, match="rgb_bands"):  # fails after the map and look-alikes are computed
        explore(Z, images, out=tmp_path / "e", projection="pca", rgb_bands=(0, 1, 9))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(ValueError, match="is not a sklearn-ssl explorer"):
        explore(Z, images, out=tmp_path / "mine", projection="pca")
    explore(Z, None, out=tmp_path / "e", projection="pca")
    explore(Z, None, out=tmp_path / "e", projection="pca", n_neighbors=3)  # its own folder is replaced
    assert not (tmp_path / "e" / "thumbs").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(projection="tsne"), "projection='tsne'; use one of 'umap', 'pca'"),
    (dict(n_neighbors=N), f"n_neighbors={N} but only {N} embeddings"),
    (dict(images=np.zeros((N - 1, 5, 8, 8))), f"{N - 1} images but {N} embeddings"),
    (dict(catalogue=pd.DataFrame({"id": ["x", "y"]})), "no catalogue 'id' matches an embedding id"),
    (dict(catalogue=pd.DataFrame({"z": [1.0, 2.0]})), f"2 catalogue rows but {N} embeddings"),
    (dict(ids=["a"] * N), "duplicated id"),
])
def test_bad_input_names_the_problem(tmp_path, survey, kwargs, message):
    from sklearn_ssl.discovery import explore

    Z = survey[2]
    with pytest.raises(ValueError, match=re.escape(message)):
        explore(Z, kwargs.pop("images", None), out=tmp_path / "e", **{"projection": "pca", **kwargs})
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("module, projection", [("bokeh", "pca"), ("umap", "umap")])
def test_missing_extra_names_it(tmp_path, survey, monkeypatch, module, projection, capsys):
    from sklearn_ssl.discovery import explore

    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'sklearn-ssl[explore]'")):
        explore(survey[2], out=tmp_path / "e", projection=projection)
    np.save(tmp_path / "z.npy", survey[2])
    assert main(["explore", "--embeddings", str(tmp_path / "z.npy"), "--projection", projection,
                 "--out", str(tmp_path / "e")]) == 1
    assert "pip install 'sklearn-ssl[explore]'" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_umap_projection(tmp_path, survey):
    pytest.importorskip("umap")
    from sklearn_ssl.discovery import explore

    images, catalogue, Z = survey
    explore(Z, images, out=tmp_path / "e", ids=catalogue["id"], catalogue=catalogue, n_neighbors=K)
    xy = pd.read_csv(tmp_path / "e" / "map.csv")[["x", "y"]].to_numpy()
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0


# -- the page in a real browser -------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


_SOURCE = "Bokeh.documents[0].get_model_by_name('galaxies')"


@pytest.fixture(scope="module")
def page(browser, cli_explorer):
    out, _ = cli_explorer
    browser.get((out / "index.html").as_uri())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if browser.execute_script(f"return !!(window.Bokeh && Bokeh.documents.length && {_SOURCE} "
                                  "&& Object.keys(Bokeh.index).length);"):
            break
        time.sleep(0.1)
    time.sleep(0.5)  # the first paint
    return browser


def _thumbs_loaded(driver):
    """Rows of the cutouts the page shows, loaded (every <img>, shadow roots included)."""
    shown = driver.execute_script("""
        const imgs = [];
        const walk = (root) => { for (const el of root.querySelectorAll('*')) {
            if (el.tagName == 'IMG') imgs.push(el);
            if (el.shadowRoot) walk(el.shadowRoot); } };
        walk(document);
        return imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);""")
    assert all(ok for _, ok in shown), f"cutouts that did not load: {shown}"
    return sorted(int(re.search(r"thumbs/(\d+)\.png", src).group(1)) for src, _ in shown)


def _screen_xy(driver, row):
    """Viewport coordinates of galaxy ``row``'s point on the map."""
    return driver.execute_script(f"""
        const pv = Object.values(Bokeh.index)[0].child_views[0];
        const s = {_SOURCE};
        const r = pv.el.getBoundingClientRect();
        return [r.left + pv.frame.x_scale.compute(s.data.x[{row}]), r.top + pv.frame.y_scale.compute(s.data.y[{row}])];
    """)


def _isolated_point(driver):
    """The galaxy farthest on screen from any other (so that a click or hover finds it alone)."""
    xy = np.array([_screen_xy(driver, i) for i in range(N)])
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(N) * 1e9
    row = int(np.argmax(gaps.min(axis=1)))
    assert gaps[row].min() > 12, "no galaxy is alone on the map"
    return row, xy[row]


def _pointer(driver, x, y, click=False):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionChains(driver)
    builder = ActionBuilder(driver)
    builder.pointer_action.move_to_location(int(round(x)), int(round(y)))
    if click:
        builder.pointer_action.click()
    builder.perform()
    del actions


def test_page_loads_without_console_errors_and_draws_every_galaxy(page):
    errors = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert page.execute_script(f"return {_SOURCE}.get_length();") == N
    assert page.execute_script("return Bokeh.documents[0].get_model_by_name('points').data_source.get_length();") == N
    assert _thumbs_loaded(page) == [], "cutouts are loaded only when shown"
    # colouring by another catalogue column
    page.execute_script("Bokeh.documents[0].get_model_by_name('colour').value = 'redshift';")
    assert page.execute_script("""const r = Bokeh.documents[0].get_model_by_name('points');
        return [r.glyph, r.selection_glyph, r.nonselection_glyph].map(g => g.fill_color.field);""") == ["c:redshift"] * 3
    time.sleep(0.3)
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_hover_loads_the_cutout(page):
    row, (x, y) = _isolated_point(page)
    _pointer(page, x, y)
    deadline = time.monotonic() + 10
    while row not in _thumbs_loaded(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _thumbs_loaded(page) == [row]


def test_click_shows_the_lookalikes_and_rarity_rank(page, cli_explorer, survey):
    _, Z = cli_explorer
    ids = survey[1]["id"].to_numpy()
    nn, rank = _expected(Z)
    row, (x, y) = _isolated_point(page)
    _pointer(page, x, y, click=True)
    deadline = time.monotonic() + 10
    text = ""
    while "lookalike-id" not in text and time.monotonic() < deadline:
        time.sleep(0.1)
        text = page.execute_script("return Bokeh.documents[0].get_model_by_name('lookalikes').text;")
    assert page.execute_script(f"return {_SOURCE}.selected.indices;") == [row]
    assert re.findall(r'class="galaxy-id">([^<]*)<', text) == [ids[row]]
    assert re.findall(r'class="lookalike-id">([^<]*)<', text) == list(ids[nn[row]])
    assert re.findall(r'class="rarity-rank">(\d+)<', text) == [str(rank[row])]
    assert f"of {N} (1 = most unusual)" in text
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_lasso_selection_exports_ids_as_csv(page, survey):
    ids = survey[1]["id"].to_numpy()
    chosen = [3, 11, 29, 40]
    page.execute_script(f"{_SOURCE}.selected.indices = {chosen};")  # what a lasso around them does
    button = page.execute_script("""
        const root = Object.values(Bokeh.index)[0];
        const bv = root.child_views[1].child_views.find(v => v.model.name == 'export');
        const r = bv.el.getBoundingClientRect();
        return [r.left + r.width / 2, r.top + r.height / 2, bv.model.label, bv.model.disabled];""")
    assert button[2:] == ["Export 4 selected ids as CSV", False]
    _pointer(page, button[0], button[1], click=True)
    target = page.downloads / "selection.csv"
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pd.read_csv(target, dtype=str)["id"].tolist() == list(ids[chosen])
