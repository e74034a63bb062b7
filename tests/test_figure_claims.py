"""The report's figures show a legend entry for every plotted line, inside the figure and off the
curves, and their captions say what the data show (claims computed, checked on inputs where they flip)."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from sklearn_ssl.demo._figures import (  # noqa: E402
    _embedding_map_sentence, _photoz_sentence, _plot_label_efficiency, _plot_photoz, embedding_map_claims,
    photoz_caption_claims,
)
from sklearn_ssl.demo._report import _METHOD_STYLE  # noqa: E402
from sklearn_ssl.plotting import plot_cross_survey  # noqa: E402


def plotted_labels(fig):
    """Labels of every labelled line and error-bar line drawn in the figure's axes."""
    labels = set()
    for ax in fig.axes:
        labels |= {label for label in ax.get_legend_handles_labels()[1] if not label.startswith("_")}
    return labels


def legend_labels(fig):
    return {t.get_text() for leg in fig.legends for t in leg.get_texts()} | {
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}


def check_legend(fig, *, off_the_axes=True):
    """Every plotted line has an entry; legends lie inside the figure and (optionally) off every panel."""
    FigureCanvasAgg(fig).draw()
    assert plotted_labels(fig) and legend_labels(fig) == plotted_labels(fig)
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for leg in fig.legends:
        box = leg.get_window_extent(renderer)
        assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1 and box.y1 <= page.y1 + 1, (
            "legend runs past the figure's edge")
        if off_the_axes:
            assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes if ax.get_visible())


def demo_table(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for task, metric in (("morphology", "accuracy"), ("redshift", "sigma_mad"), ("redshift", "outlier_fraction")):
        for method in _METHOD_STYLE:
            if method == "SSL fine-tuned" and task == "morphology":
                continue  # the fine-tuned head is a photo-z head: redshift panels only
            for n in (20, 100, 500):
                for r in range(3):
                    rows.append(dict(task=task, estimator=method, n_labels=n, repeat=r, metric=metric,
                                     score=(0.6 if metric == "accuracy" else 0.03) + 0.01 * rng.normal()))
    return pd.DataFrame(rows)


def test_label_efficiency_legend_lists_every_line_inside_the_figure():
    fig = _plot_label_efficiency(demo_table(), chance_accuracy=0.58)
    labels = plotted_labels(fig)
    assert "SSL fine-tuned" in labels and "majority class (0.58)" in labels
    check_legend(fig)


def test_photoz_panels_in_a_grid_with_a_legend():
    rng = np.random.default_rng(0)
    z = rng.uniform(0.02, 0.3, 200)
    preds = {m: z + 0.02 * rng.normal(size=z.size) for m in list(_METHOD_STYLE)[:8]}
    fig = _plot_photoz(z, preds, 500)
    width, height = fig.get_size_inches()
    assert width / height < 2.5  # 8 panels in one row were 3080x451 px
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 8 and len({round(ax.get_position().y0, 3) for ax in visible}) == 2
    check_legend(fig)


def test_cross_survey_legend_off_the_curves_with_a_chance_line():
    rows = [dict(estimator=m, n_labels=n, repeat=r, test=t, metric="accuracy", score=0.5 + 0.05 * r)
            for m in ("SSL frozen + logistic", "supervised CNN", "raw-pixel PCA + logistic")
            for n in (10, 30) for r in range(3) for t in "AB"]
    fig = plot_cross_survey(pd.DataFrame(rows), chance=1 / 3)
    assert "chance (0.33)" in plotted_labels(fig)
    check_legend(fig)


def clustered(separated: bool, n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.array(["E", "S0", "Sa", "Sc"]), n // 4)
    centres = rng.normal(size=(4, d)) * (8.0 if separated else 0.0)
    Z = centres[np.searchsorted(["E", "S0", "Sa", "Sc"], classes)] + rng.normal(size=(n, d))
    return Z, classes


def test_embedding_map_caption_says_what_the_map_shows():
    Z, classes = clustered(True)
    claims = embedding_map_claims(Z, classes)
    assert claims["word"] == "together" and claims["map"]["purity"] > 0.9
    assert "galaxies of one morphology lie together" in _embedding_map_sentence(Z, classes)
    Z, classes = clustered(False)  # the same classes, no structure: the claim flips
    claims = embedding_map_claims(Z, classes)
    assert claims["word"] == "mixed" and abs(claims["map"]["purity"] - claims["map"]["chance"]) < 0.1
    sentence = _embedding_map_sentence(Z, classes)
    assert "the morphology classes are mixed" in sentence and "lie together" not in sentence
    assert "hardly separates" in sentence


def test_photoz_caption_names_the_methods_that_follow_the_line():
    rng = np.random.default_rng(1)
    z = rng.uniform(0.02, 0.3, 400)
    good, bad = z + 0.005 * rng.normal(size=z.size), np.full_like(z, np.median(z))
    follow, off, numbers = photoz_caption_claims(z, {"SSL fine-tuned": good, "supervised CNN": bad})
    assert follow == ["SSL fine-tuned"] and off == ["supervised CNN"]
    text = _photoz_sentence(z, {"SSL fine-tuned": good, "supervised CNN": bad})
    assert text.index("Following the 1:1 line") < text.index("SSL fine-tuned") < text.index("Further")
    assert text.index("Further") < text.index("supervised CNN")
    text = _photoz_sentence(z, {"SSL fine-tuned": bad, "supervised CNN": good})  # swapped: the claim flips
    assert text.index("Following the 1:1 line") < text.index("supervised CNN") < text.index("Further")
    assert "No method follows" in _photoz_sentence(z, {"constant": bad})
