"""benchmarks/real_label_efficiency.py --catalogue-only: its options, its pairing check with a stored run and the
table of old against new catalogue rows."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
SDSS = ROOT.parent / "shared" / "data" / "gz_kaggle_spiral_64.npz"


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("real_label_efficiency", ROOT / "benchmarks" / "real_label_efficiency.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def _rows(estimators, scores, budgets=(50, 4507), repeats=5):
    """Tidy rows: ``scores[est](n, r)`` for each estimator, budget, repeat and both metrics."""
    rows = [{"estimator": e, "n_labels": n, "repeat": r, "metric": m, "score": scores[e](n, r) + (m == "roc_auc"),
             "fit_time": 0.1} for e in estimators for n in budgets for r in range(repeats)
            for m in ("roc_auc", "balanced_accuracy")]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("argv, message", [
    (["--catalogue-only", "--no-catalogue"], "exclude each other"),
    (["--paired-with", "x"], "needs --catalogue-only"),
    (["--catalogue-only", "--selection", "coreset"], "--selection random"),
    (["--catalogue-only", "--paired-with", "/nonexistent"], "no real_label_efficiency.csv"),
])
def test_catalogue_only_refuses_options_it_cannot_honour(script, argv, message, capsys):
    with pytest.raises(SystemExit):
        script.parse_args(["--data", "x.npz", *argv])
    assert message in capsys.readouterr().err


def test_pairing_check_is_zero_for_the_same_rows_and_refuses_other_budgets(script):
    pca = script.PAIRING_CHECK
    stored = _rows([pca], {pca: lambda n, r: 0.1 * r})
    new = stored.copy()
    new.loc[(new["n_labels"] == 50) & (new["repeat"] == 3) & (new["metric"] == "roc_auc"), "score"] += 0.25
    assert script.pairing_check(stored, stored) == {"balanced_accuracy": 0.0, "roc_auc": 0.0}
    assert script.pairing_check(stored, new) == pytest.approx({"balanced_accuracy": 0.0, "roc_auc": 0.25})
    with pytest.raises(ValueError, match="not the same protocol"):
        script.pairing_check(stored, new[new["n_labels"] == 50])


def test_old_vs_new_pairs_repeats_and_reports_a_copied_fit_without_a_test(script):
    """new - old is paired by repeat: a constant shift has no spread (p = 0); at the whole training split every
    repeat is one fit, so there is a difference but no test."""
    old = _rows(["photometry + GB"], {"photometry + GB": lambda n, r: 0.5 + 0.01 * r * (n < 4507)})
    new = _rows(["photometry + GB"], {"photometry + GB": lambda n, r: 0.53 + 0.01 * r * (n < 4507)})
    table = script.catalogue_old_vs_new(old, new).set_index(["metric", "n_labels"])
    row = table.loc[("roc_auc", 50)]
    assert row["old_mean"] == pytest.approx(1.52) and row["new_mean"] == pytest.approx(1.55)
    assert row["diff"] == pytest.approx(0.03) and row["se_diff"] == pytest.approx(0, abs=1e-12)
    assert row["p_value"] == 0.0 and row["n_repeats"] == 5
    whole = table.loc[("balanced_accuracy", 4507)]
    assert whole["diff"] == pytest.approx(0.03) and np.isnan(whole["p_value"])


@pytest.mark.slow
@pytest.mark.skipif(not SDSS.is_file(), reason="real SDSS data (../shared/data) not available")
def test_catalogue_only_run_is_paired_with_a_stored_run(script, tmp_path):
    """Two --catalogue-only runs of the same protocol: the second, paired with the first (its photometry row
    shifted by 0.01), finds the PCA row identical and the photometry row 0.01 lower than "stored"."""
    common = ["--data", str(SDSS), "--limit", "120", "--test-size", "40", "--budgets", "20,50", "--n-repeats", "2",
              "--catalogue-only", "--n-jobs", "1", "--features-memory", str(tmp_path / "cache")]
    script.main([*common, "--out", str(tmp_path / "first")])
    stored = pd.read_csv(tmp_path / "first" / "real_label_efficiency.csv")
    stored.loc[stored["estimator"] == "photometry + GB", "score"] += 0.01
    (tmp_path / "stored").mkdir()
    stored.to_csv(tmp_path / "stored" / "real_label_efficiency.csv", index=False)
    script.main([*common, "--paired-with", str(tmp_path / "stored"), "--out", str(tmp_path / "second")])
    out = tmp_path / "second"
    old_new = pd.read_csv(out / "catalogue_old_vs_new.csv")
    assert np.allclose(old_new.loc[old_new["estimator"] == "photometry + GB", "diff"], -0.01)
    assert np.allclose(old_new.loc[old_new["estimator"] != "photometry + GB", "diff"], 0)
    assert (out / "stored" / "real_label_efficiency_comparisons.csv").is_file()
    assert set(pd.read_json(out / "pairing_check.json").loc[:, "stored"]) == {0.0}


def test_several_methods_share_the_rows_that_do_not_depend_on_the_method(script, tmp_path):
    """``--method moco simclr``: one folder per method, each with every row; the rows that do not depend on the
    method fitted once (the same in both folders) and the MoCo folder's scores those of a MoCo-only run."""
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 40)
    images = rng.randint(0, 60, size=(80, 3, 64, 64)).astype(np.uint8)
    images[y == 1, :, 24:40, 24:40] += 5  # a faint centre: something to learn, not at once
    np.savez(tmp_path / "tiny.npz", images=images, morph_class=y)
    common = ["--data", str(tmp_path / "tiny.npz"), "--image-size", "16", "--epochs", "1", "--width", "4",
              "--n-repeats", "2", "--test-size", "30", "--budgets", "20,40", "--sup-steps", "2", "--ft-steps", "2",
              "--ssl-batch-size", "32", "--pretrainings", "2", "--test-bootstrap", "0", "--inner-cv", "2",
              "--no-catalogue", "--threads", "1"]
    with pytest.raises(SystemExit):
        script.parse_args([*common, "--method", "moco", "moco"])
    script.main([*common, "--method", "moco", "simclr", "--out", str(tmp_path / "both")])
    script.main([*common, "--method", "moco", "--out", str(tmp_path / "moco")])
    read = lambda p: pd.read_csv(p / "real_label_efficiency.csv").set_index(  # noqa: E731
        ["estimator", "n_labels", "repeat", "metric"])["score"].sort_index()
    moco, simclr = read(tmp_path / "both" / "moco"), read(tmp_path / "both" / "simclr")
    rows = {"SSL frozen + logistic", "SSL fine-tuned", "supervised CNN", "raw-pixel PCA + logistic"}
    assert set(moco.index.get_level_values(0)) == set(simclr.index.get_level_values(0)) == rows
    shared = ["supervised CNN", "raw-pixel PCA + logistic"]
    pd.testing.assert_series_equal(moco.loc[shared], simclr.loc[shared])
    assert not np.allclose(moco.loc["SSL frozen + logistic"], simclr.loc["SSL frozen + logistic"])
    pd.testing.assert_series_equal(moco, read(tmp_path / "moco"))
    assert (tmp_path / "both" / "meta.json").is_file() and (tmp_path / "both" / "simclr" / "meta.json").is_file()
