"""The demo report opens with a two-line verdict built from the comparison records' verdict field."""

import numpy as np
import pandas as pd

from sklearn_ssl.demo._report import _verdict
from sklearn_ssl.demo._verdict import verdict_lines


def record(a, verdict, n=100, what="morphology accuracy", rival="the supervised CNN"):
    return dict(a=a, b="supervised CNN", rival=rival, what=what, n_labels=n, verdict=verdict)


def test_lines_count_and_place_wins_ties_losses():
    records = [record("SSL frozen", "better", 20), record("SSL frozen", "better", 100),
               record("SSL fine-tuned", "not distinguishable"),
               record("SSL frozen", "worse", 500, "photo-z sigma_MAD", "the best catalogue baseline"),
               record("BYOL frozen", "too few repeats")]
    first, second = verdict_lines(records)
    assert first == ("**Verdict. SSL wins** 2 of 4 paired comparisons (1 more had too few repeats to judge): "
                     "morphology accuracy vs the supervised CNN (SSL frozen at 20, 100 labels).")
    assert second == ("**Ties** 1 (morphology accuracy vs the supervised CNN (SSL fine-tuned at 100 labels)); "
                      "**loses** 1: photo-z sigma_MAD vs the best catalogue baseline (SSL frozen at 500 labels).")
    flipped = [dict(r, verdict={"better": "worse", "worse": "better"}.get(r["verdict"], r["verdict"])) for r in records]
    first, second = verdict_lines(flipped)
    assert "SSL wins** 1 of 4" in first and "**loses** 2" in second


def test_no_verdict_without_enough_repeats():
    first, second = verdict_lines([record("SSL frozen", "too few repeats")] * 3)
    assert first.startswith("**Verdict: none.** All 3 comparisons") and "5 repeats" in second


def test_report_verdict_follows_the_table():
    rng = np.random.default_rng(0)
    rows = []
    for method, acc in (("SSL frozen", 0.85), ("supervised CNN", 0.70), ("photometry + GB", 0.85)):
        for r in range(5):
            rows.append(dict(task="morphology", estimator=method, n_labels=100, repeat=r, metric="accuracy",
                             score=acc + 0.005 * rng.normal()))
    table = pd.DataFrame(rows)
    first, second = _verdict(table)
    assert "SSL wins** 1 of 2" in first and "vs the supervised CNN (SSL frozen at 100 labels)" in first
    assert "**Ties** 1 (morphology accuracy vs the best catalogue baseline" in second and "**loses** 0" in second
    table.loc[table.estimator == "SSL frozen", "score"] -= 0.3  # SSL now the worst: the verdict flips
    first, second = _verdict(table)
    assert "SSL wins** 0 of 2" in first and "**loses** 2" in second
