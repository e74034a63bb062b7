"""The demo's label-selection rows: the SimCLR embeddings probed on labels chosen by
scikit-activeml's strategies against random labels (``docs/discovery.rst``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Strategies the demo compares with random labels; uncertainty sampling (one refit per label) is left to
#: ``benchmarks/label_selection.py`` to keep the demo short.
DEMO_SELECTIONS = ("random", "typiclust", "probcover", "coreset")


def selection_rows(Z, y, budgets, *, test_fraction: float, n_repeats: int, random_state: int,
                   selections=DEMO_SELECTIONS) -> pd.DataFrame | None:
    """Accuracy of a frozen probe (standardise + logistic regression) on ``Z`` for each selection.

    Every selection shares :func:`~sklearn_ssl.evaluation.label_efficiency`'s held-out split and,
    in repeat ``r``, its seed of one galaxy per class, so the rows pair. Returns a tidy table
    (``selection``, ``n_labels``, ``repeat``, ``score``), or None without scikit-activeml.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..evaluation import label_efficiency

    try:
        import skactiveml  # noqa: F401
    except ImportError:
        return None
    probe = {"frozen + logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))}
    parts = []
    for sel in selections:
        res = label_efficiency(probe, Z, y, list(budgets), test_size=test_fraction, n_repeats=n_repeats,
                               scoring="accuracy", task="classification", selection=sel, random_state=random_state)
        res.attrs = {}
        parts.append(res.assign(selection=sel)[["selection", "n_labels", "repeat", "score"]])
    return pd.concat(parts, ignore_index=True)


def selection_section(rows: pd.DataFrame | None) -> list:
    """Report lines: mean ± standard error per selection and budget, each strategy against random."""
    from ..evaluation import format_mean_se, paired_comparison

    md = ["## Choosing which galaxies to label", ""]
    if rows is None:
        return md + ["Skipped: the label-selection strategies need scikit-activeml "
                     "(`pip install 'sklearn-ssl[select]'`).", ""]
    cells = {}
    for (sel, n), grp in rows.groupby(["selection", "n_labels"], sort=False):
        s = grp.sort_values("repeat")["score"].to_numpy()
        cell = format_mean_se(s.mean(), s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else float("nan"), 3)
        if sel != "random":
            ref = rows[(rows.selection == "random") & (rows.n_labels == n)].sort_values("repeat")["score"]
            verdict = paired_comparison(s, ref.to_numpy())["verdict"]
            cell += {"better": " (better)", "worse": " (worse)"}.get(verdict, "")
        cells.setdefault(sel, {})[f"n={n}"] = cell
    table = pd.DataFrame.from_dict(cells, orient="index").rename_axis("selection").reset_index()
    return md + ["Morphology accuracy of the frozen SimCLR embeddings + logistic regression when the labels are "
                 "chosen by a query strategy of scikit-activeml from the embeddings of the training galaxies "
                 "(after one random galaxy per class) instead of drawn at random; same held-out galaxies and, in "
                 "each repeat, the same seed galaxies for every row. \"(better)\"/\"(worse)\": the paired "
                 "difference with random exceeds two standard errors over at least 5 repeats. See "
                 "docs/discovery.rst for the measured study.", "", table, ""]
