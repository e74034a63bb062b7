"""The label ratio on curves with known answers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import isotonic_regression

from sklearn_ssl.evaluation import label_ratio_findings
from sklearn_ssl.evaluation._label_ratio import _monotone
from sklearn_ssl.evaluation import label_ratio, label_ratio_sentences

BUDGETS = [10, 20, 40, 80, 160]


def _results(curves, noise=0.0, n_repeats=5, seed=0):
    """Tidy results: ``curves`` maps a name to f(n); repeat r adds its own noise (shared by all methods)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, (len(BUDGETS), n_repeats))
    own = {name: rng.normal(0, noise, (len(BUDGETS), n_repeats)) for name in curves}
    return pd.DataFrame([dict(estimator=name, n_labels=n, repeat=r, metric="accuracy",
                              score=f(n) + shared[i, r] + own[name][i, r])
                         for name, f in curves.items() for i, n in enumerate(BUDGETS) for r in range(n_repeats)])


def ssl(n):
    return 0.5 + 0.1 * np.log(n)


def cnn_half(n):  # the SSL curve shifted by log(2): the CNN at 2n scores what SSL scores at n
    return ssl(n / 2)


def test_a_curve_shifted_by_log_two_gives_ratio_two():
    out = label_ratio(_results({"SSL": ssl, "CNN": cnn_half}, noise=0.003), "accuracy", "SSL", "CNN")
    inside = out[out.n_labels < 160]
    assert inside["ratio"].to_numpy() == pytest.approx(2.0, rel=0.1)
    assert (inside["low"] > 1.5).all() and (inside["low"] < inside["high"]).all()
    assert (inside["high"].iloc[:3] < 2.7).all()  # at 80 labels some resamples need more than 160
    assert not inside["includes_one"].any()
    assert not inside["censored"].any()
    last = out[out.n_labels == 160].iloc[0]  # the CNN would need 320 labels: beyond the budgets measured
    assert np.isinf(last["ratio"]) and last["censored"]
    lines = label_ratio_sentences(out)
    assert lines[0].startswith("SSL at 10 labels matches CNN at 2x as many labels (95 % interval ")
    assert "includes 1" not in lines[0] and "beyond the budgets measured" in lines[-1]
    # without noise, exactly two
    exact = label_ratio(_results({"SSL": ssl, "CNN": cnn_half}), "accuracy", "SSL", "CNN")
    assert exact["ratio"].iloc[:4].tolist() == pytest.approx([2.0] * 4)


def test_the_same_curve_gives_one_and_says_the_interval_includes_one():
    out = label_ratio(_results({"SSL": ssl, "CNN": ssl}, noise=0.01), "accuracy", "SSL", "CNN")
    assert out["ratio"].iloc[1:4].to_numpy() == pytest.approx(1.0, rel=0.25)
    assert out["includes_one"].iloc[1:4].all()
    assert "the interval includes 1" in label_ratio_sentences(out)[2]


def test_errors_lower_is_better():
    # sigma_MAD falls with labels; the rival's is the method's at half the labels
    res = _results({"SSL": lambda n: 0.1 - 0.01 * np.log(n), "GB": lambda n: 0.1 - 0.01 * np.log(n / 2)})
    out = label_ratio(res, "accuracy", "SSL", "GB", higher_is_better=False)
    assert out["ratio"].iloc[:4].tolist() == pytest.approx([2.0] * 4)
    assert out["score"].iloc[0] == pytest.approx(0.1 - 0.01 * np.log(10))


def test_a_rival_that_needs_fewer_labels_gives_a_ratio_below_one():
    out = label_ratio(_results({"SSL": cnn_half, "CNN": ssl}), "accuracy", "SSL", "CNN")
    assert out["ratio"].iloc[1:].tolist() == pytest.approx([0.5] * 4)
    assert out["ratio"].iloc[0] == 0 and out["censored"].iloc[0]  # the CNN beats it with fewer than 10
    assert "at <1x as many labels" in label_ratio_sentences(out)[0]


def test_the_vectorised_isotonic_fit_is_sklearns():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(6, 50)).cumsum(axis=0) * 0.3 + rng.normal(size=(6, 50))
    fits = _monotone(y)
    for c in range(y.shape[1]):
        assert fits[:, c] == pytest.approx(isotonic_regression(y[:, c]))


def test_bad_input():
    res = _results({"SSL": ssl, "CNN": ssl})
    with pytest.raises(ValueError, match="no 'accuracy' scores of 'BYOL'"):
        label_ratio(res, "accuracy", "SSL", "BYOL")
    with pytest.raises(ValueError, match="two budgets or more"):
        label_ratio(res[res.n_labels == 10], "accuracy", "SSL", "CNN")
    with pytest.raises(ValueError, match="n_bootstrap"):
        label_ratio(res, "accuracy", "SSL", "CNN", n_bootstrap=0)


def test_findings_skip_pairs_without_a_curve():
    res = _results({"SSL": ssl, "CNN": cnn_half})
    lines = label_ratio_findings(res, "accuracy", ["SSL", "absent"], ["CNN"], heading="morphology: ")
    assert len(lines) == 1 and lines[0].startswith("morphology: label ratio, SSL vs CNN: SSL at 10 labels")


def test_repeats_that_are_one_fit_copied_are_flagged():
    res = _results({"SSL": ssl, "CNN": cnn_half}, noise=0.003)
    top = res.n_labels == 160
    res.loc[top, "score"] = res[top].groupby("estimator")["score"].transform("first")  # the whole split each time
    out = label_ratio(res, "accuracy", "SSL", "CNN")
    assert out["n_distinct"].tolist() == [5, 5, 5, 5, 1]
    assert "one fit copied" in label_ratio_sentences(out)[-1] and "one fit copied" not in label_ratio_sentences(out)[0]
