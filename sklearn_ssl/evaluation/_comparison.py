"""When may a study say that one method beats another? One rule, used by every findings text.

The rule (issue 27): at least ``min_repeats`` paired repeats (the same label subset and
test split for both methods in repeat ``r``), means quoted with their standard error, and
a two-sided Student t-test on the paired differences (:func:`scipy.stats.ttest_rel`; with
Nadeau and Bengio's corrected variance where the caller says how much the training sets
overlap). A comparison says "better" or "worse" only where its p-value is below ``alpha``
(0.05); the comparisons of one report are a family, corrected together with Holm's method
(:func:`holm_adjust`), and the verdict then follows the adjusted p-value.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MIN_REPEATS", "ALPHA", "paired_comparison", "comparison_sentence", "format_mean_se", "budget_findings",
           "budget_comparisons", "holm", "holm_adjust", "family_findings", "comparison_table"]

#: Repeats a comparison needs before any sentence says "better" or "worse".
MIN_REPEATS = 5

#: Significance level of every verdict (after Holm's correction where a report has a family).
ALPHA = 0.05


def format_mean_se(mean: float, se: float, digits: int = 3) -> str:
    """``"0.912 ± 0.004"`` (no ± part where the standard error is undefined)."""
    if se is None or not np.isfinite(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _verdict(diff: float, p: float, alpha: float, higher_is_better: bool) -> str:
    if not p < alpha:
        return "not distinguishable"
    return "better" if (diff > 0) == higher_is_better else "worse"


def paired_comparison(scores_a, scores_b, *, higher_is_better: bool = True, min_repeats: int = MIN_REPEATS,
                      alpha: float = ALPHA, test_train_ratio: float | None = None) -> dict:
    """Compare two methods scored on the same repeats: a paired, two-sided Student t-test.

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
    alpha : float, default=0.05
        Significance level of the verdict (before any correction for multiple comparisons;
        :func:`holm_adjust` corrects a family of results).
    test_train_ratio : float or None, default=None
        ``n_test / n_train`` of each repeat, given where the repeats' training sets overlap
        (random re-splits of one data set): the variance of the mean difference is then
        Nadeau and Bengio's corrected ``(1 / n + n_test / n_train) * var(d)`` instead of
        ``var(d) / n`` (Nadeau & Bengio 2003, *Machine Learning* 52, 239; the test of
        scikit-learn's example "Statistical comparison of models using grid search").
        None: the plain paired t-test (as :func:`scipy.stats.ttest_rel`; a test checks that
        the two agree).

    Returns
    -------
    result : dict
        ``n``, ``mean_a``, ``se_a``, ``mean_b``, ``se_b`` (standard errors of the means,
        ``std(ddof=1) / sqrt(n)``), ``diff`` (mean of ``a - b``), ``se_diff`` (its
        standard error, corrected where ``test_train_ratio`` is given), ``t``, ``df``
        (``n - 1``), ``p_value`` (two-sided; NaN without a test), ``alpha`` and
        ``verdict``: ``"better"`` or ``"worse"`` (A against B) where ``p_value < alpha``
        with at least ``min_repeats`` distinct repeats, ``"not distinguishable"`` where not,
        ``"too few repeats"`` below ``min_repeats``; ``n_distinct`` counts the distinct
        pairs (1 for a copied measurement).

    Examples
    --------
    >>> res = paired_comparison([0.90, 0.91, 0.92, 0.90, 0.91], [0.85, 0.87, 0.86, 0.86, 0.85])
    >>> res["verdict"], round(res["p_value"], 4)
    ('better', 0.0004)
    >>> paired_comparison([0.90, 0.80, 0.92, 0.85, 0.91], [0.85, 0.87, 0.86, 0.86, 0.85])["verdict"]
    'not distinguishable'
    """
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same number of repeats, got {a.size} and {b.size}.")
    if a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired scores must be non-empty and finite.")
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}.")
    if test_train_ratio is not None and not (isinstance(test_train_ratio, numbers.Real) and test_train_ratio > 0):
        raise ValueError(f"test_train_ratio must be n_test / n_train > 0 or None, got {test_train_ratio!r}.")
    n = a.size

    def se(x):
        return float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    d = a - b
    n_distinct = len(set(zip(a.tolist(), b.tolist())))
    out = dict(n=n, n_distinct=n_distinct, mean_a=float(a.mean()), se_a=se(a), mean_b=float(b.mean()), se_b=se(b),
               diff=float(d.mean()), se_diff=se(d), t=float("nan"), df=n - 1, p_value=float("nan"), alpha=alpha)
    if n < min_repeats or (n > 1 and n_distinct == 1) or n < 2:
        out["verdict"] = "too few repeats"
        return out
    if test_train_ratio is not None:
        out["se_diff"] = float(np.sqrt(np.var(d, ddof=1) * (1 / n + test_train_ratio)))
    if out["se_diff"] == 0:  # every repeat the same difference: significant unless it is zero
        out["t"] = float("inf") * np.sign(out["diff"]) if out["diff"] else 0.0
        out["p_value"] = 0.0 if out["diff"] else 1.0
    else:  # as scipy.stats.ttest_rel, with the corrected standard error where one is given
        out["t"] = out["diff"] / out["se_diff"]
        out["p_value"] = float(2 * stats.t.sf(abs(out["t"]), n - 1))
    out["verdict"] = _verdict(out["diff"], out["p_value"], alpha, higher_is_better)
    out["higher_is_better"] = higher_is_better
    return out


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), NaN entries left out of the family.

    Neither scipy nor scikit-learn has Holm's method (scipy's ``false_discovery_control``
    controls the false discovery rate, not the family-wise error); statsmodels'
    ``multipletests(method="holm")`` computes the same numbers, but would be a dependency
    for these lines. Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j) p_(j))``
    (``j`` from 0).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def holm_adjust(results, alpha: float | None = None) -> list[dict]:
    """Correct a family of :func:`paired_comparison` results together with Holm's method.

    Parameters
    ----------
    results : sequence of dict
        Results of :func:`paired_comparison` (results without a test, "too few repeats",
        are not part of the family).
    alpha : float or None, default=None
        Family-wise significance level; None keeps each result's own ``alpha``.

    Returns
    -------
    adjusted : list of dict
        Copies with ``p_adjusted``, ``m`` (the family size) and the ``verdict`` read from
        ``p_adjusted`` (``verdict_unadjusted`` keeps the single-test verdict).
    """
    results = [dict(r) for r in results]
    adjusted = holm([r["p_value"] for r in results])
    m = int(np.isfinite(adjusted).sum())
    for r, p in zip(results, adjusted):
        r["p_adjusted"], r["m"] = float(p), m
        if np.isfinite(p):
            level = r["alpha"] if alpha is None else alpha
            r["verdict_unadjusted"] = r["verdict"]
            r["verdict"] = _verdict(r["diff"], p, level, r.get("higher_is_better", True))
    return results


def _p_text(result: dict) -> str:
    text = f"p = {result['p_value']:.2g}" if np.isfinite(result.get("p_value", np.nan)) else ""
    if np.isfinite(result.get("p_adjusted", np.nan)):
        text += f", Holm-adjusted p = {result['p_adjusted']:.2g} over {result['m']} comparisons"
    return text


def comparison_sentence(name_a: str, name_b: str, result: dict, digits: int = 3) -> str:
    """One sentence for a :func:`paired_comparison` result, never stronger than its verdict.

    The sentence quotes the paired difference, its standard error, the repeats and the
    p-value (and the Holm-adjusted p-value where :func:`holm_adjust` gave one).
    """
    a = f"{name_a} ({format_mean_se(result['mean_a'], result['se_a'], digits)})"
    b = f"{name_b} ({format_mean_se(result['mean_b'], result['se_b'], digits)})"
    diff = f"paired difference {result['diff']:+.{digits}f} ± {result['se_diff']:.{digits}f}, {result['n']} repeats"
    verdict = result["verdict"]
    if verdict == "too few repeats":
        if result.get("n_distinct", result["n"]) < result["n"]:
            return (f"{a} vs {b}: {result['n']} repeats but only {result['n_distinct']} distinct (e.g. the whole "
                    "training split every time), too few to compare.")
        return f"{a} vs {b}: {result['n']} repeat(s), too few to compare."
    diff += f", {_p_text(result)}"
    if verdict == "not distinguishable":
        return f"{a} and {b} are not distinguishable ({diff})."
    return f"{a} {'beats' if verdict == 'better' else 'is behind'} {b} ({diff})."


def budget_comparisons(results: pd.DataFrame, metric: str, method: str, others, *, higher_is_better: bool = True,
                       min_repeats: int = MIN_REPEATS, alpha: float = ALPHA, test_train_ratio=None) -> list[dict]:
    """Per budget: ``method`` against the best of ``others`` (by mean), by :func:`paired_comparison`.

    Parameters
    ----------
    results : DataFrame
        Tidy results of :func:`sklearn_ssl.evaluation.label_efficiency` (``estimator``,
        ``n_labels``, ``repeat``, ``metric``, ``score``).
    metric : str
        The metric compared.
    method : str
        The method the comparisons are about (e.g. ``"SSL frozen + logistic"``).
    others : sequence of str
        Rival estimators; at each budget the best mean among those present is compared.
    higher_is_better, min_repeats, alpha
        As in :func:`paired_comparison`.
    test_train_ratio : None, float or callable, default=None
        As in :func:`paired_comparison`; a callable is called with the budget (``n_labels``)
        and returns the ratio (or None) for that budget.

    Returns
    -------
    comparisons : list of dict
        One :func:`paired_comparison` result per budget where ``method`` and a rival were both
        scored, with ``a`` (``method``), ``b`` (the rival), ``n_labels``, ``metric`` and
        ``where`` (``"<n> labels"``, the sentence's opening).
    """
    sub = results[results["metric"] == metric]
    wide = sub.pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
    out = []
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
        ratio = test_train_ratio(n) if callable(test_train_ratio) else test_train_ratio
        res = paired_comparison(pair[method], pair[best], higher_is_better=higher_is_better, min_repeats=min_repeats,
                                alpha=alpha, test_train_ratio=ratio)
        out.append(dict(res, a=method, b=best, n_labels=int(n), metric=metric, where=f"{n} labels"))
    return out


def _sentences(comparisons, digits: int) -> list[str]:
    return [f"{c['where']}: " + comparison_sentence(c["a"], c["b"], c, digits) for c in comparisons]


def budget_findings(results: pd.DataFrame, metric: str, method: str, others, *, higher_is_better: bool = True,
                    min_repeats: int = MIN_REPEATS, alpha: float = ALPHA, test_train_ratio=None,
                    digits: int = 3) -> list[str]:
    """Per budget: ``method`` against the best of ``others`` (by mean), one sentence each.

    The comparisons of :func:`budget_comparisons`, each tested on its own (no correction
    for multiple comparisons: a report corrects all of its comparisons together with
    :func:`family_findings`).

    Returns
    -------
    sentences : list of str
        One per budget where ``method`` and a rival were both scored, e.g.
        ``"50 labels: A (0.91 ± 0.01) beats B (0.85 ± 0.01) (paired difference ...)."``
    """
    return _sentences(budget_comparisons(results, metric, method, others, higher_is_better=higher_is_better,
                                         min_repeats=min_repeats, alpha=alpha, test_train_ratio=test_train_ratio),
                      digits)


def family_findings(groups, *, alpha: float | None = None, digits: int = 3) -> tuple[list[str], list[dict]]:
    """The findings of one report: every comparison corrected together with Holm's method.

    Parameters
    ----------
    groups : sequence of (str, list of dict)
        ``(heading, comparisons)`` pairs; ``comparisons`` as returned by
        :func:`budget_comparisons` (dicts with ``a``, ``b``, ``where`` and a
        :func:`paired_comparison` result). A group without comparisons gives no line.
    alpha : float or None, default=None
        Family-wise level; None keeps each comparison's ``alpha`` (0.05 by default).
    digits : int, default=3

    Returns
    -------
    lines : list of str
        One per non-empty group: ``heading + " ".join(sentences)``, each sentence with its
        Holm-adjusted p-value and the verdict that value supports.
    comparisons : list of dict
        Every adjusted comparison, with ``group`` (its heading); :func:`comparison_table`
        makes a table of them.
    """
    groups = [(heading, list(comps)) for heading, comps in groups]
    flat = holm_adjust([c for _, comps in groups for c in comps], alpha)
    lines, done, k = [], [], 0
    for heading, comps in groups:
        mine = flat[k:k + len(comps)]
        k += len(comps)
        if mine:
            lines.append(heading + " ".join(_sentences(mine, digits)))
            done += [dict(c, group=heading.rstrip(": ")) for c in mine]
    return lines, done


#: Columns of :func:`comparison_table`.
TABLE_COLUMNS = ["group", "where", "a", "b", "n", "mean_a", "se_a", "mean_b", "se_b", "diff", "se_diff", "t", "df",
                 "p_value", "p_adjusted", "verdict"]


def comparison_table(comparisons) -> pd.DataFrame:
    """A table of (adjusted) comparisons: one row each, with ``p_value`` and ``p_adjusted`` columns."""
    frame = pd.DataFrame(list(comparisons))
    for column in TABLE_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    return frame[TABLE_COLUMNS]
