"""The demo report's verdict: where SSL wins, ties and loses, in two lines, from the comparison records.

Each record is one paired comparison of an SSL method with a rival at one label budget, with the
``verdict`` field of :func:`sklearn_ssl.evaluation.paired_comparison` (``"better"``, ``"worse"``,
``"not distinguishable"`` or ``"too few repeats"``), whatever rule decided it (two standard
errors, or a t-test with Holm's correction): the verdict only counts and groups them, so it never
says more than the findings below it.

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["comparison_records", "verdict_lines"]

#: The SSL rows compared and their rivals, as in the report's findings.
_TASKS = (("morphology", "accuracy", True, "morphology accuracy"), ("redshift", "sigma_mad", False, "photo-z sigma_MAD"))


def comparison_records(table, ssl_methods, rivals_of) -> list[dict]:
    """Every comparison of the report as a record, by the package's comparison rule.

    Parameters
    ----------
    table : pandas.DataFrame
        The demo's label-efficiency table (``task``, ``estimator``, ``n_labels``, ``repeat``,
        ``metric``, ``score``).
    ssl_methods : sequence of str
        The SSL rows (``"SSL frozen"``, ...).
    rivals_of : callable
        ``rivals_of(method)`` -> list of ``(rival estimators, rival name)``.

    Returns
    -------
    records : list of dict
        :func:`~sklearn_ssl.evaluation.paired_comparison` results with ``a`` (the SSL method),
        ``b`` (the rival row compared), ``rival`` (its name), ``what`` (task and metric) and
        ``n_labels``; corrected together with Holm's method where the package has it.
    """
    from .. import evaluation as _comparison

    records = []
    for task, metric, up, what in _TASKS:
        sub = table[(table.task == task) & (table.metric == metric)]
        if sub.empty:
            continue
        wide = sub.pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
        for method in ssl_methods:
            for rivals, rival in rivals_of(method):
                for n in sorted(sub["n_labels"].unique()):
                    at = wide.loc[n]
                    present = [o for o in rivals if o in at.columns and at[o].notna().any()]
                    if method not in at.columns or not present:
                        continue
                    means = at[present].mean()
                    best = means.idxmax() if up else means.idxmin()
                    pair = at[[method, best]].dropna()
                    if pair.empty:
                        continue
                    res = _comparison.paired_comparison(pair[method], pair[best], higher_is_better=up)
                    records.append(dict(res, a=method, b=best, rival=rival, what=what, n_labels=int(n),
                                        higher_is_better=up))
    holm_adjust = getattr(_comparison, "holm_adjust", None)  # the t-test + Holm rule, where present
    return holm_adjust(records) if holm_adjust is not None else records


def _where(records) -> str:
    """``"morphology accuracy vs the supervised CNN: SSL frozen at 100, 500 labels; ..."``."""
    groups: dict = {}
    for r in records:
        groups.setdefault((r["what"], r["rival"]), {}).setdefault(r["a"], []).append(r["n_labels"])
    parts = []
    for (what, rival), methods in groups.items():
        said = ", ".join(f"{m} at {', '.join(map(str, sorted(set(ns))))} labels" for m, ns in methods.items())
        parts.append(f"{what} vs {rival} ({said})")
    return "; ".join(parts)


def verdict_lines(records: Iterable[Mapping]) -> list[str]:
    """Two lines for the top of the report: where SSL wins, and where it ties and loses.

    Built from the records' ``verdict`` field only; ``"too few repeats"`` is counted apart, as
    no verdict. Returns two Markdown lines (a verdict of none when nothing could be compared).
    """
    records = list(records)
    wins = [r for r in records if r["verdict"] == "better"]
    ties = [r for r in records if r["verdict"] == "not distinguishable"]
    losses = [r for r in records if r["verdict"] == "worse"]
    judged = len(wins) + len(ties) + len(losses)
    too_few = len(records) - judged
    if not judged:
        return [f"**Verdict: none.** All {len(records)} comparisons of SSL with its rivals have too few label "
                "subsets per budget to be judged (at least 5 paired repeats are needed).",
                "Run the default demo (5 repeats) for a verdict; the numbers below are single draws."]
    rest = f" ({too_few} more had too few repeats to judge)" if too_few else ""
    first = (f"**Verdict. SSL wins** {len(wins)} of {judged} paired comparisons{rest}"
             + (f": {_where(wins)}." if wins else "."))
    second = (f"**Ties** {len(ties)}" + (f" ({_where(ties)})" if ties and len(ties) <= 6 else "")
              + f"; **loses** {len(losses)}" + (f": {_where(losses)}." if losses else "."))
    return [first, second]
