"""Read the facts out of a findings sentence, so that tests check them and not the wording."""

import re

_COMPARISON = re.compile(r"(\d+) labels: (.+?) \((-?\d+\.\d+) ± \d+\.\d+\) (beats|is behind|and) (.+?) "
                         r"\((-?\d+\.\d+) ± \d+\.\d+\)")
_VERDICT = {"beats": ">", "is behind": "<", "and": "~"}  # "~": not distinguishable


def verdicts(text: str) -> dict:
    """``{(n_labels, a, b): (score_a, verdict, score_b)}`` for every "N labels: A (s ± e) beats /
    is behind / and B (s ± e)" in ``text``; verdict is ``>``, ``<`` or ``~`` (not distinguishable)."""
    return {(int(n), a, b): (float(sa), _VERDICT[v], float(sb))
            for n, a, sa, v, b, sb in _COMPARISON.findall(text)}
