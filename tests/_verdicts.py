"""Read the facts out of a findings sentence, so that tests check them and not the wording."""

import re

_COMPARISON = re.compile(r"(\d+) labels: (.+?) \((-?\d+\.\d+) ± \d+\.\d+\) (beats|is behind|and) (.+?) "
                         r"\((-?\d+\.\d+) ± \d+\.\d+\)")
_VERDICT = {"beats": ">", "is behind": "<", "and": "~"}  # "~": not distinguishable
_P = re.compile(r"repeats, p = ([0-9.e+-]+)(?:, Holm-adjusted p = ([0-9.e+-]+) over \d+ comparisons)?\)")


def verdicts(text: str) -> dict:
    """``{(n_labels, a, b): (score_a, verdict, score_b)}`` for every "N labels: A (s ± e) beats /
    is behind / and B (s ± e)" in ``text``; verdict is ``>``, ``<`` or ``~`` (not distinguishable)."""
    return {(int(n), a, b): (float(sa), _VERDICT[v], float(sb))
            for n, a, sa, v, b, sb in _COMPARISON.findall(text)}


def p_values(text: str) -> list:
    """``[(p, p_adjusted), ...]`` of every comparison sentence in ``text`` (``p_adjusted`` None where the
    sentence has no Holm correction)."""
    return [(float(p), float(q) if q else None) for p, q in _P.findall(text)]
