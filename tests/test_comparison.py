"""The comparison rule of the findings texts, on hand-made numbers."""

import numpy as np
import pandas as pd
import pytest

from scipy import stats

from sklearn_ssl.evaluation import budget_comparisons, comparison_table, family_findings, holm, holm_adjust
from sklearn_ssl.evaluation import budget_findings, comparison_sentence, paired_comparison

from _verdicts import p_values, verdicts

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


def _repeats_at(t_ratio, n=5):
    """Paired differences whose mean is ``t_ratio`` standard errors of that mean."""
    d = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])[:n]
    d = d / (np.std(d, ddof=1) / np.sqrt(n))  # standard error 1
    return B[:n] + 0.001 * (d + t_ratio), B[:n]


@pytest.mark.parametrize("t_ratio, verdict", [(2.3, "not distinguishable"), (3.5, "better"), (-3.5, "worse")])
def test_student_t_with_four_degrees_of_freedom(t_ratio, verdict):
    # 2.3 standard errors beat the old "> 2 standard errors" rule, but Student's t with 4 degrees of
    # freedom needs 2.78 for a two-sided 5 % test
    a, b = _repeats_at(t_ratio)
    res = paired_comparison(a, b)
    assert res["diff"] / res["se_diff"] == pytest.approx(t_ratio)
    assert res["df"] == 4 and res["t"] == pytest.approx(t_ratio)
    assert res["p_value"] == pytest.approx(2 * stats.t.sf(abs(t_ratio), 4))
    assert res["verdict"] == verdict
    assert f"p = {res['p_value']:.2g}" in comparison_sentence("A", "B", res)


def test_alpha_sets_the_level():
    a, b = _repeats_at(2.3)  # p = 0.083
    assert paired_comparison(a, b, alpha=0.1)["verdict"] == "better"
    with pytest.raises(ValueError, match="alpha"):
        paired_comparison(a, b, alpha=5)


def test_nadeau_bengio_correction_widens_the_standard_error():
    a, b = _repeats_at(3.5)
    plain = paired_comparison(a, b)
    nb = paired_comparison(a, b, test_train_ratio=0.25)
    assert nb["se_diff"] == pytest.approx(plain["se_diff"] * np.sqrt((1 / 5 + 0.25) * 5))
    assert nb["p_value"] == pytest.approx(2 * stats.t.sf(abs(nb["diff"] / nb["se_diff"]), 4))
    assert plain["verdict"] == "better" and nb["verdict"] == "not distinguishable"
    with pytest.raises(ValueError, match="test_train_ratio"):
        paired_comparison(a, b, test_train_ratio=-1)


def test_holm_matches_the_textbook_procedure():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(p)[:4].tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm(p)[4])


def test_forty_comparisons_with_one_small_p_value_find_nothing():
    comps = [dict(p_value=0.01 if i == 0 else 0.5, diff=0.02, alpha=0.05, verdict="better" if i == 0 else
                  "not distinguishable") for i in range(40)]
    adjusted = holm_adjust(comps)
    assert adjusted[0]["p_adjusted"] == pytest.approx(0.4) and adjusted[0]["m"] == 40
    assert adjusted[0]["verdict_unadjusted"] == "better"
    assert all(c["verdict"] == "not distinguishable" for c in adjusted)


def test_family_findings_correct_the_whole_report():
    a, b = _repeats_at(3.0)  # p = 0.040: "better" alone, not after Holm over two comparisons (0.080)
    frame = pd.DataFrame([dict(estimator=name, n_labels=n, repeat=r, metric="accuracy", score=v)
                          for n in (10, 20) for name, vals in (("SSL", a), ("CNN", b)) for r, v in enumerate(vals)])
    alone = budget_comparisons(frame, "accuracy", "SSL", ["CNN"])
    assert [c["verdict"] for c in alone] == ["better", "better"]
    lines, comps = family_findings([("morphology, SSL vs CNN: ", alone)])
    assert len(lines) == 1 and lines[0].startswith("morphology, SSL vs CNN: 10 labels: ")
    assert {k: v for k, (_, v, _) in verdicts(lines[0]).items()} == {(10, "SSL", "CNN"): "~", (20, "SSL", "CNN"): "~"}
    assert "Holm-adjusted p = 0.08 over 2 comparisons" in lines[0]
    table = comparison_table(comps)
    assert list(table["p_adjusted"]) == pytest.approx([2 * alone[0]["p_value"]] * 2)
    assert set(table["verdict"]) == {"not distinguishable"} and set(table["group"]) == {"morphology, SSL vs CNN"}
    assert p_values(lines[0]) == [(pytest.approx(0.040, abs=5e-4), pytest.approx(0.080, abs=5e-4))] * 2


def test_plain_test_is_scipys_paired_t_test():
    rng = np.random.default_rng(1)
    a, b = B + rng.normal(0.01, 0.01, 5), B
    res = paired_comparison(a, b)
    ref = stats.ttest_rel(a, b)
    assert res["t"] == pytest.approx(ref.statistic) and res["p_value"] == pytest.approx(ref.pvalue)
