"""The label ratio: how many labels a rival needs to match a method (the "2-4x fewer labels" claim).

Re-exported by :mod:`sklearn_ssl.evaluation`.

Each method's learning curve is the mean score over repeats at each budget, made monotone in
the budget by isotonic regression and joined
linearly in ``log(n_labels)``. "Method at ``n`` labels matches the rival at ``r x n``" reads
``r`` off the rival's curve at the method's score. The confidence interval resamples the
repeats (the same repeat indices for both methods: repeat ``r`` shares its label subset).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["label_ratio", "label_ratio_sentences", "label_ratio_findings", "best_rival"]


def _monotone(means):
    """Isotonic (non-decreasing) fits of the columns of ``means`` (budgets x curves), equal weights.

    The max-min formula ``fit_i = max_{j <= i} min_{k >= i} mean(y_j..y_k)``, for all bootstrap
    curves at once: the same fits as :func:`sklearn.isotonic.isotonic_regression` (a test
    checks it), which called once per resample took 7 s for 2,000 resamples on the shared CPU.
    """
    m = means.shape[0]
    csum = np.concatenate([np.zeros((1, *means.shape[1:])), np.cumsum(means, axis=0)])
    j, k = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    block = (csum[k + 1] - csum[j]) / np.maximum(k - j + 1, 1)[..., None]  # mean of y_j..y_k, shape (m, m, n_curves)
    fit = np.empty_like(means)
    for i in range(m):
        fit[i] = block[: i + 1, i:].min(axis=1).max(axis=0)
    return fit


def _labels_to_reach(log_n, curves, scores):
    """``log`` of the budget at which each non-decreasing curve first reaches each score.

    ``curves``: (budgets, n_curves); ``scores``: (n_scores, n_curves). ``-inf`` below the
    smallest budget's value, ``+inf`` above the largest's (censored).
    """
    reach = curves[None, :, :] >= scores[:, None, :]  # (n_scores, budgets, n_curves)
    k = np.argmax(reach, axis=1)
    prev = np.maximum(k - 1, 0)
    c_k, c_prev = np.take_along_axis(curves, k, 0), np.take_along_axis(curves, prev, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(k > 0, (scores - c_prev) / (c_k - c_prev), 0.0)
    out = log_n[prev] + frac * (log_n[k] - log_n[prev])
    out = np.where(scores < curves[:1], -np.inf, out)
    return np.where(scores > curves[-1:], np.inf, out)


def _ratios(log_n, mean_a, mean_b):
    """Curve of A and the ratio per budget of A, for each column (bootstrap resample) of the means."""
    curve_a, curve_b = _monotone(mean_a), _monotone(mean_b)
    return curve_a, np.exp(_labels_to_reach(log_n, curve_b, curve_a) - log_n[:, None])


def label_ratio(results: pd.DataFrame, metric: str, method: str, rival: str, *, higher_is_better: bool = True,
                n_bootstrap: int = 2000, confidence: float = 0.95, random_state=0) -> pd.DataFrame:
    """How many more labels ``rival`` needs to match ``method``, per budget, with a bootstrap interval.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results of :func:`~sklearn_ssl.evaluation.label_efficiency` (``estimator``,
        ``n_labels``, ``repeat``, ``metric``, ``score``) with both methods at the same
        budgets (at least two) and repeats.
    metric : str
        The metric compared.
    method, rival : str
        Estimator names: the ratio says how many labels ``rival`` needs, relative to
        ``method``, for the same score.
    higher_is_better : bool, default=True
        False for errors (sigma_MAD, outlier fraction).
    n_bootstrap : int, default=2000
        Resamples of the repeats (with replacement, the same repeats for both methods).
    confidence : float, default=0.95
        Level of the percentile interval.
    random_state : int, RandomState instance or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    ratios : pandas.DataFrame
        One row per budget ``n_labels``: ``score`` (``method``'s monotone curve there),
        ``ratio`` (the rival needs ``ratio * n_labels`` labels for that score; ``inf`` where
        the rival never reaches it within the budgets measured, ``0`` where it does with
        fewer labels than the smallest budget), ``low`` and ``high`` (the interval),
        ``includes_one`` (the interval contains 1: no evidence that either needs fewer
        labels), ``censored`` (the point estimate lies outside the budgets measured) and
        ``n_distinct`` (distinct repeat pairs at that budget: 1 where the repeats are one fit
        copied, e.g. the whole training split every time, whose interval says nothing).
        ``attrs`` holds ``method``, ``rival``, ``metric``, ``confidence`` and ``n_repeats``.

    Notes
    -----
    Each curve is the mean over repeats per budget, made monotone by isotonic regression
    and joined linearly in ``log(n_labels)``; where the rival's curve is flat at the score
    sought, the smallest budget that reaches it is used. The bootstrap resamples repeats,
    so the interval reflects label-subset (and, where repeats vary them, initialisation)
    variation, not the test set's own sampling error.

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> n = np.array([10, 20, 40, 80])
    >>> rows = [dict(estimator=name, n_labels=k, repeat=r, metric="acc", score=np.log(k / shift) + 0.01 * r)
    ...         for name, shift in (("ssl", 1), ("cnn", 2)) for k in n for r in range(5)]
    >>> label_ratio(pd.DataFrame(rows), "acc", "ssl", "cnn")["ratio"].round(2).tolist()
    [2.0, 2.0, 2.0, inf]
    """
    if not (isinstance(n_bootstrap, numbers.Integral) and n_bootstrap >= 1):
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}.")
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    sub = results[(results["metric"] == metric) & results["estimator"].isin([method, rival])]
    wide = sub.pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
    for name in (method, rival):
        if name not in wide.columns:
            raise ValueError(f"no {metric!r} scores of {name!r} in results; estimators there: "
                             f"{sorted(set(results['estimator']))}.")
    wide = wide.dropna().unstack("repeat")
    wide = wide[wide.notna().all(axis=1)]  # budgets where every repeat scored both methods
    budgets = wide.index.to_numpy(dtype=float)
    if budgets.size < 2:
        raise ValueError(f"a learning curve needs both {method!r} and {rival!r} scored in the same repeats at two "
                         f"budgets or more, got {budgets.astype(int).tolist()}.")
    a, b = wide[method].to_numpy(), wide[rival].to_numpy()
    repeats = list(wide[method].columns)
    log_n, sign = np.log(budgets), 1.0 if higher_is_better else -1.0
    curve, ratio = (v[:, 0] for v in _ratios(log_n, sign * a.mean(1)[:, None], sign * b.mean(1)[:, None]))
    rng = check_random_state(random_state)
    # resample counts of each repeat (the same resample for both methods), as weights of the means
    weights = np.stack([np.bincount(rng.randint(len(repeats), size=len(repeats)), minlength=len(repeats))
                        for _ in range(n_bootstrap)], axis=1) / len(repeats)
    boot = _ratios(log_n, sign * a @ weights, sign * b @ weights)[1].T
    tail = 100 * (1 - confidence) / 2
    # order statistics (no interpolation between an infinite and a finite resample)
    low = np.percentile(boot, tail, axis=0, method="lower")
    high = np.percentile(boot, 100 - tail, axis=0, method="higher")
    out = pd.DataFrame({"n_labels": budgets.astype(int), "score": sign * curve, "ratio": ratio, "low": low,
                        "high": high})
    out["includes_one"] = (out["low"] <= 1) & (out["high"] >= 1)
    out["censored"] = (ratio == 0) | ~np.isfinite(ratio)
    out["n_distinct"] = [len(set(zip(a[i].tolist(), b[i].tolist()))) for i in range(len(budgets))]
    out.attrs.update(method=method, rival=rival, metric=metric, confidence=confidence, n_repeats=len(repeats))
    return out


def _fmt_ratio(r: float, n: int, budgets) -> str:
    if np.isinf(r):
        return f">{max(budgets) / n:.2g}x"
    if r == 0:
        return f"<{min(budgets) / n:.2g}x"
    return f"{r:.2g}x"


def label_ratio_sentences(ratios: pd.DataFrame) -> list[str]:
    """One sentence per budget of a :func:`label_ratio` table, never stronger than its interval.

    For example ``"SSL at 50 labels matches CNN at 2.1x as many labels (95 % interval 1.4x to
    3x, 5 repeats)."``; where the interval includes 1 the sentence says so: the data do not
    tell which of the two needs fewer labels.
    """
    method, rival = ratios.attrs["method"], ratios.attrs["rival"]
    level, reps = round(100 * ratios.attrs["confidence"]), ratios.attrs["n_repeats"]
    budgets = ratios["n_labels"].tolist()
    lines = []
    for row in ratios.itertuples():
        n = int(row.n_labels)
        low, high = _fmt_ratio(row.low, n, budgets), _fmt_ratio(row.high, n, budgets)
        text = (f"{method} at {n} labels matches {rival} at {_fmt_ratio(row.ratio, n, budgets)} as many labels "
                f"({level} % interval {low} to {high}, {reps} repeats")
        if row.censored:
            text += "; beyond the budgets measured"
        if row.n_distinct == 1 and reps > 1:
            text += "; its repeats are one fit copied (the same training set each time), so the interval says nothing"
        elif row.includes_one:
            text += "; the interval includes 1: no evidence that either needs fewer labels"
        lines.append(text + ").")
    return lines


def label_ratio_findings(results: pd.DataFrame, metric: str, methods, rivals, *, higher_is_better: bool = True,
                         heading: str = "", n_bootstrap: int = 1000, random_state=0) -> list[str]:
    """Label-ratio sentences of each of ``methods`` against each of ``rivals`` (pairs both scored).

    Parameters
    ----------
    results : pandas.DataFrame
        As in :func:`label_ratio`.
    metric : str
    methods, rivals : sequence of str
        Estimator names; pairs with fewer than two common budgets are skipped.
    higher_is_better, n_bootstrap, random_state
        As in :func:`label_ratio`.
    heading : str, default=""
        Put before each line (e.g. ``"morphology (accuracy), "``).

    Returns
    -------
    lines : list of str
        One per pair: ``"<heading>label ratio, <method> vs <rival>: "`` and its sentences.
    """
    present = set(results.loc[results["metric"] == metric, "estimator"])
    lines = []
    for method in methods:
        for rival in rivals:
            if method not in present or rival not in present:
                continue
            try:
                ratios = label_ratio(results, metric, method, rival, higher_is_better=higher_is_better,
                                     n_bootstrap=n_bootstrap, random_state=random_state)
            except ValueError:  # fewer than two common budgets
                continue
            lines.append(f"{heading}label ratio, {method} vs {rival}: " + " ".join(label_ratio_sentences(ratios)))
    return lines


def best_rival(results: pd.DataFrame, metric: str, rivals, *, higher_is_better: bool = True) -> str | None:
    """The one of ``rivals`` with the best mean ``metric`` over all budgets and repeats (None if none scored)."""
    sub = results[(results["metric"] == metric) & results["estimator"].isin(list(rivals))]
    if sub.empty:
        return None
    means = sub.groupby("estimator")["score"].mean()
    return means.idxmax() if higher_is_better else means.idxmin()
