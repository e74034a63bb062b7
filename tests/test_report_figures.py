"""The demo report's figures, read through matplotlib's artist API: labels present and inside the
figure, legends clear of the curves, axis limits that show every point, no error bars without repeats."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer

from sklearn_ssl.plotting import plot_label_efficiency
from sklearn_ssl.demo._figures import _plot_label_efficiency, _plot_photoz


def drawn(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def inside(inner, outer, tol=1.0):
    return (inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol and inner.x1 <= outer.x1 + tol
            and inner.y1 <= outer.y1 + tol)


def study_table(n_repeats=1):
    rng = np.random.default_rng(0)
    rows = []
    for method, acc, sig in (("SSL frozen", 0.9, 0.03), ("supervised CNN", 0.85, 0.025),
                             ("raw-pixel PCA", 0.8, 0.05), ("SSL fine-tuned", None, 0.02)):
        for n in (40, 120, 350):
            for r in range(n_repeats):
                if acc is not None:
                    rows.append(dict(task="morphology", estimator=method, n_labels=n, repeat=r, metric="accuracy",
                                     score=acc + 0.01 * rng.normal()))
                rows += [dict(task="redshift", estimator=method, n_labels=n, repeat=r, metric=m,
                              score=v * (1 + 0.1 * rng.normal())) for m, v in (("sigma_mad", sig),
                                                                               ("outlier_fraction", 3 * sig))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("methods", [3, 4])  # 3 in the quick run, 4+ in the default one
def test_photoz_figure_labels_inside_and_negative_predictions_shown(methods):
    rng = np.random.default_rng(0)
    z = rng.uniform(0.01, 0.3, 200)
    names = ["SSL frozen", "SSL fine-tuned", "supervised CNN", "raw-pixel PCA"][:methods]
    preds = {m: z + 0.02 * rng.normal(size=z.size) for m in names}
    preds["SSL frozen"][0] = -0.04  # a prediction below zero must stay in view
    fig = _plot_photoz(z, preds, 350)
    renderer = drawn(fig)
    axes = fig.axes
    assert len(axes) == methods
    for ax in axes:
        assert ax.get_xlabel() == "spectroscopic redshift z_spec"
        assert inside(ax.xaxis.label.get_window_extent(renderer), fig.bbox), "x label cut off"
    assert axes[0].get_ylabel() == "photometric redshift z_phot"
    assert inside(axes[0].yaxis.label.get_window_extent(renderer), fig.bbox)
    assert axes[0].get_ylim()[0] < -0.04 and axes[0].get_xlim()[0] < 0


@pytest.mark.parametrize("chance", [0.3, 0.82])
def test_label_efficiency_figure_legend_clear_and_panel_not_squashed(chance):
    fig = _plot_label_efficiency(study_table(), chance)
    renderer = drawn(fig)
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_legend() is None for ax in axes)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"SSL frozen", "supervised CNN", "raw-pixel PCA", "SSL fine-tuned"} <= set(labels)
    box = legend.get_window_extent(renderer)
    assert inside(box, fig.bbox) and not any(box.overlaps(ax.get_window_extent(renderer)) for ax in axes)
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert inside(ax.xaxis.label.get_window_extent(renderer), fig.bbox)
    acc = axes[0]
    lo, hi = acc.get_ylim()
    if chance < 0.5:  # far below the curves: noted in words, the axis keeps the curves' range
        assert lo > chance and hi - lo < 0.3
        assert any("majority class: 0.30" in t.get_text() for t in acc.texts)
        assert "majority class" not in labels
    else:  # near them: drawn as a line
        assert "majority class" in labels and lo <= chance
    # one draw per budget: plain lines, no error bars
    assert not any(isinstance(c, ErrorbarContainer) for ax in axes for c in ax.containers)


def test_error_bars_only_with_repeats():
    table = study_table(n_repeats=3).query("task == 'redshift'")
    ax = plot_label_efficiency(table, "sigma_mad").axes[0]
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 4
    ax = plot_label_efficiency(table.query("repeat == 0"), "sigma_mad").axes[0]
    assert not ax.containers and len(ax.lines) == 4


def test_photoz_caption_names_methods_that_level_off():
    from sklearn_ssl.demo._figures import _levelling_off_note

    rng = np.random.default_rng(0)
    z = rng.uniform(0.01, 0.3, 500)
    good = z + 0.01 * rng.normal(size=z.size)
    assert _levelling_off_note(z, {"SSL frozen": good}, {"finetune_steps": 300}) == ""
    flat = np.minimum(good, 0.135)  # the default demo's supervised CNN before the investigation
    note = _levelling_off_note(z, {"SSL frozen": good, "supervised CNN": flat}, {"finetune_steps": 300})
    assert "supervised CNN (0.135)" in note and "SSL frozen" not in note
    assert "300 optimiser steps" in note and "under-training" in note
