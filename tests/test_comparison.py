"""The comparison rule of the findings texts, on hand-made numbers."""

import numpy as np
import pandas as pd
import pytest

from sklearn_ssl.evaluation import budget_findings, comparison_sentence, paired_comparison

from _verdicts import verdicts

B = np.array([0.80, 0.86, 0.83, 0.89, 0.84])


def test_clear_paired_difference_is_a_win_even_when_the_spreads_overlap():
    a = B + np.array([0.011, 0.009, 0.010, 0.012, 0.008])  # +0.010 in every repeat
    res = paired_comparison(a, B)
    assert res["n"] == 5 and res["diff"] == pytest.approx(0.010)
    assert res["se_diff"] == pytest.approx(np.std(a - B, ddof=1) / np.sqrt(5))
    assert res["se_a"] == pytest.approx(np.std(a, ddof=1) / np.sqrt(5))
    assert res["mean_a"] - 2 * res["se_a"] < res["mean_b"] + 2 * res["se_b"]  # unpaired intervals overlap
    assert res["verdict"] == "better"
    assert paired_comparison(B, a)["verdict"] == "worse"


def test_lower_is_better_for_errors():
    sigma_a, sigma_b = np.array([0.020, 0.021, 0.019, 0.020, 0.022]), np.array([0.030, 0.029, 0.031, 0.030, 0.032])
    assert paired_comparison(sigma_a, sigma_b, higher_is_better=False)["verdict"] == "better"
    assert paired_comparison(sigma_a, sigma_b, higher_is_better=True)["verdict"] == "worse"


def test_one_standard_error_is_not_distinguishable():
    d = np.array([0.0, 0.0, 0.0, 0.0, 0.05])  # mean 0.01, standard error 0.01: one SE
    res = paired_comparison(B + d, B)
    assert res["diff"] == pytest.approx(0.01) and res["se_diff"] == pytest.approx(0.01)
    assert res["verdict"] == "not distinguishable"
    text = comparison_sentence("SSL", "CNN", res)
    assert "are not distinguishable" in text and "5 repeats" in text and "beats" not in text


def test_too_few_repeats_never_gives_a_verdict():
    res = paired_comparison([0.9, 0.9, 0.9, 0.9], [0.5, 0.5, 0.5, 0.5])
    assert res["verdict"] == "too few repeats"
    assert "too few to compare" in comparison_sentence("A", "B", res)
    assert paired_comparison([0.9, 0.91, 0.9], [0.5, 0.5, 0.52], min_repeats=3)["verdict"] == "better"


def test_identical_repeats_count_once():
    # five repeats on the whole training split with the same seeds: one measurement copied
    res = paired_comparison([0.865] * 5, [0.841] * 5)
    assert res["n"] == 5 and res["n_distinct"] == 1 and res["verdict"] == "too few repeats"
    assert "only 1 distinct" in comparison_sentence("SSL", "CNN", res)
    # a constant rival is fine when the method itself varies, even with a repeated value
    # (accuracies on a finite test set are discrete)
    assert paired_comparison([0.70, 0.72, 0.71, 0.73, 0.72], [0.5] * 5)["verdict"] == "better"


def test_bad_input():
    with pytest.raises(ValueError, match="same number of repeats"):
        paired_comparison([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        paired_comparison([1, np.nan], [1, 2])


def test_budget_findings_compares_with_the_best_rival_per_budget():
    rows = []
    scores = {("SSL", 20): B + 0.05, ("photometry + GB", 20): B, ("constant", 20): B - 0.3,
              ("SSL", 100): B + 0.001 * np.array([1, -1, 2, -2, 0]), ("photometry + GB", 100): B - 0.2,
              ("constant", 100): B}
    for (name, n), vals in scores.items():
        rows += [dict(estimator=name, n_labels=n, repeat=r, metric="accuracy", score=v) for r, v in enumerate(vals)]
    lines = budget_findings(pd.DataFrame(rows), "accuracy", "SSL", ["photometry + GB", "constant"])
    assert [verdicts(line) for line in lines] == [{(20, "SSL", "photometry + GB"): (0.894, ">", 0.844)},
                                                  {(100, "SSL", "constant"): (0.844, "~", 0.844)}]
