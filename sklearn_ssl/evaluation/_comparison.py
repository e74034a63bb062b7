"""When may a study say that one method beats another? One rule, used by every findings text.

The rule (issue 15): at least ``min_repeats`` paired repeats (the same label subset and
test split for both methods in repeat ``r``), means quoted with their standard error, and
a comparison sentence only where the mean of the paired differences exceeds two standard
errors of that mean; otherwise the methods are "not distinguishable".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MIN_REPEATS", "paired_comparison", "comparison_sentence", "format_mean_se", "budget_findings"]

#: Repeats a comparison needs before any sentence says "better" or "worse".
MIN_REPEATS = 5


def format_mean_se(mean: float, se: float, digits: int = 3) -> str:
    """``"0.912 ± 0.004"`` (no ± part where the standard error is undefined)."""
    if se is None or not np.isfinite(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def paired_comparison(scores_a, scores_b, *, higher_is_better: bool = True, min_repeats: int = MIN_REPEATS) -> dict:
    """Compare two methods scored on the same repeats.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_repeats,)
        Scores of methods A and B; position ``r`` of both comes from repeat ``r`` (same
        training subset and test split).
    higher_is_better : bool, default=True
        False for errors (sigma_MAD, outlier fraction).
    min_repeats : int, default=5
        Fewer paired repeats than this give the verdict ``"too few repeats"``; so do
        repeats that are all the same pair ``(a_r, b_r)``: repeats that all use the whole
        training split with the same seeds are one measurement copied, whose zero spread
        would make any difference "significant".

    Returns
    -------
    result : dict
        ``n``, ``mean_a``, ``se_a``, ``mean_b``, ``se_b`` (standard errors of the means,
        ``std(ddof=1) / sqrt(n)``), ``diff`` (mean of ``a - b``), ``se_diff`` (its
        standard error) and ``verdict``: ``"better"`` or ``"worse"`` (A against B) where
        ``|diff| > 2 * se_diff`` with at least ``min_repeats`` distinct repeats,
        ``"not distinguishable"`` where not, ``"too few repeats"`` below ``min_repeats``;
        ``n_distinct`` counts the distinct pairs (1 for a copied measurement).

    Examples
    --------
    >>> paired_comparison([0.90, 0.91, 0.92, 0.90, 0.91], [0.85, 0.87, 0.86, 0.86, 0.85])["verdict"]
    'better'
    >>> paired_comparison([0.90, 0.80, 0.92, 0.85, 0.91], [0.85, 0.87, 0.86, 0.86, 0.85])["verdict"]
    'not distinguishable'
    """
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same number of repeats, got {a.size} and {b.size}.")
    if a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired scores must be non-empty and finite.")
    n = a.size

    def se(x):
        return float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    d = a - b
    n_distinct = len(set(zip(a.tolist(), b.tolist())))
    out = dict(n=n, n_distinct=n_distinct, mean_a=float(a.mean()), se_a=se(a), mean_b=float(b.mean()), se_b=se(b),
               diff=float(d.mean()), se_diff=se(d))
    if n < min_repeats or (n > 1 and n_distinct == 1):
        out["verdict"] = "too few repeats"
    elif abs(out["diff"]) > 2 * out["se_diff"]:
        out["verdict"] = "better" if (out["diff"] > 0) == higher_is_better else "worse"
    else:
        out["verdict"] = "not distinguishable"
    return out


def comparison_sentence(name_a: str, name_b: str, result: dict, digits: int = 3) -> str:
    """One sentence for a :func:`paired_comparison` result, never stronger than its verdict."""
    a = f"{name_a} ({format_mean_se(result['mean_a'], result['se_a'], digits)})"
    b = f"{name_b} ({format_mean_se(result['mean_b'], result['se_b'], digits)})"
    diff = f"paired difference {result['diff']:+.{digits}f} ± {result['se_diff']:.{digits}f}, {result['n']} repeats"
    verdict = result["verdict"]
    if verdict == "too few repeats":
        if result.get("n_distinct", result["n"]) < result["n"]:
            return (f"{a} vs {b}: {result['n']} repeats but only {result['n_distinct']} distinct (e.g. the whole "
                    "training split every time), too few to compare.")
        return f"{a} vs {b}: {result['n']} repeat(s), too few to compare."
    if verdict == "not distinguishable":
        return f"{a} and {b} are not distinguishable ({diff})."
    return f"{a} {'beats' if verdict == 'better' else 'is behind'} {b} ({diff})."


def budget_findings(results: pd.DataFrame, metric: str, method: str, others, *, higher_is_better: bool = True,
                    min_repeats: int = MIN_REPEATS, digits: int = 3) -> list[str]:
    """Per budget: ``method`` against the best of ``others`` (by mean), with the paired rule.

    Parameters
    ----------
    results : DataFrame
        Tidy results of :func:`sklearn_ssl.evaluation.label_efficiency` (``estimator``,
        ``n_labels``, ``repeat``, ``metric``, ``score``).
    metric : str
        The metric compared.
    method : str
        The method the sentences are about (e.g. ``"SSL frozen + logistic"``).
    others : sequence of str
        Rival estimators; at each budget the best mean among those present is compared.
    higher_is_better, min_repeats, digits
        As in :func:`paired_comparison`.

    Returns
    -------
    sentences : list of str
        One per budget where ``method`` and a rival were both scored, e.g.
        ``"50 labels: A (0.91 ± 0.01) beats B (0.85 ± 0.01) (paired difference ...)."``
    """
    sub = results[results["metric"] == metric]
    wide = sub.pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
    lines = []
    for n in sorted(sub["n_labels"].unique()):
        at = wide.loc[n]
        if method not in at.columns:
            continue
        rivals = [o for o in others if o in at.columns and at[o].notna().any()]
        if not rivals:
            continue
        means = at[rivals].mean()
        best = means.idxmax() if higher_is_better else means.idxmin()
        pair = at[[method, best]].dropna()
        if pair.empty:
            continue
        res = paired_comparison(pair[method], pair[best], higher_is_better=higher_is_better, min_repeats=min_repeats)
        lines.append(f"{n} labels: " + comparison_sentence(method, best, res, digits))
    return lines
